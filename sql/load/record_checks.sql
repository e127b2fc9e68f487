-- grain: one row per record of one batch of an export: why the record breaks the contract
-- (`reject_reason`, null when it does not), its time and size as loaded, and a hash of its fields to
-- find exact duplicates cheaply; in the order of the batch (DuckDB keeps insertion order), so that it
-- lines up with it.
-- reads: table `batch`, every field as text as written, and what etl/load/checks.py read in it
-- once per distinct value or with one scan of a column's bytes: `direction_normalized` (the
-- Direction, by sql/load/spellings.sql), `received_trimmed`, `recipient_trimmed` and `size_stored`
-- (trimmed of spaces, the size's empty text as null) and `has_control_character` (in an address or
-- the connector's name).
-- parameters: $day_start, $day_end (the UTC day being loaded, end exclusive)
with cleaned as (
    select
        source_line,
        direction_normalized,
        has_control_character,
        received_trimmed as received,
        recipient_trimmed = '' as missing_recipient,
        size_stored as size,
        -- of the fields that tell one message to one recipient from another: two records that share it
        -- are only suspects, every field of them is compared (sql/load/duplicate_rows.sql); hashing
        -- the rest too would cost more than the few suspects it would spare
        hash(received, sender_address, recipient_address, status, size, message_id, message_trace_id) as row_hash
    from batch
),

typed as (
    select
        *,
        -- a full date and time is required: ISO 8601 with an optional offset or Z (none means UTC;
        -- an offset is -23:59 to +23:59, so +25:00 or +05:99 is no time at all),
        -- or en-US as PowerShell writes it (11/21/2026 8:15:02 AM, always UTC in trace exports)
        case
            when regexp_full_match(
                received, '\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})? ?([Zz]|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?'
            ) then try_cast(received as timestamptz)
            when regexp_full_match(received, '\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} [AaPp][Mm]')
                then try_strptime(received, '%m/%d/%Y %I:%M:%S %p')::timestamptz
        end as received_at,
        try_cast(size as bigint) as size_bytes
    from cleaned
)

select
    source_line,
    case
        when received_at is null then 'bad_timestamp'
        when received_at < $day_start or received_at >= $day_end then 'outside_day'
        when direction_normalized is null then 'unknown_direction'
        when missing_recipient then 'missing_recipient'
        when has_control_character then 'control_character'
        when size is not null and (size_bytes is null or size_bytes < 0) then 'bad_size'
    end as reject_reason,
    received_at,
    size_bytes,
    row_hash
from typed

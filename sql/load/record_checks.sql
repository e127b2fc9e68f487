-- grain: one row per record of one batch of an export (table `batch`, every field as text):
-- why the record breaks the contract (`reject_reason`, null when it does not), its time,
-- direction and TLS bucket as loaded, a hash of its fields to find exact duplicates cheaply, and the values
-- that load with a warning; in the order of the batch (DuckDB keeps insertion order), so that
-- it lines up with it.
-- parameters: $day_start, $day_end (the UTC day being loaded, end exclusive),
--             $tls_spellings, $tls_buckets (folded TlsVersion spelling -> bucket), $statuses,
--             $direction_spellings, $directions (folded Direction spelling -> direction),
--             all from etl/contract.py
with cleaned as (
    select
        source_line,
        trim(received) as received,
        -- fold spellings the way etl.contract.spelling_key does: lowercase, no space . - _
        $directions[list_position(
            $direction_spellings,
            lower(replace(replace(replace(replace(direction, ' ', ''), '.', ''), '-', ''), '_', ''))
        )] as direction_normalized,
        $tls_buckets[list_position(
            $tls_spellings,
            lower(replace(replace(replace(replace(tls_version, ' ', ''), '.', ''), '-', ''), '_', ''))
        )] as tls_bucket,
        trim(recipient_address) as recipient_address,
        -- control characters (C0 but tab, and DEL) have no place in an address or a connector's name:
        -- loaded, they would end up in reports and logs as they are
        regexp_matches(
            concat_ws(' ', sender_address, recipient_address, connector_name), '[\x00-\x08\x0a-\x1f\x7f]'
        ) as has_control_character,
        nullif(trim(size), '') as size,
        nullif(trim(tls_version), '') as tls_version,
        nullif(trim(status), '') as status,
        hash(
            received, sender_address, recipient_address, direction, connector_name, tls_version, tls_cipher,
            status, from_ip, to_ip, size, message_id, message_trace_id, subject
        ) as row_hash
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
),

checked as (
    select
        *,
        case
            when received_at is null then 'bad_timestamp'
            when received_at < $day_start or received_at >= $day_end then 'outside_day'
            when direction_normalized is null then 'unknown_direction'
            when recipient_address = '' then 'missing_recipient'
            when has_control_character then 'control_character'
            when size is not null and (size_bytes is null or size_bytes < 0) then 'bad_size'
        end as reject_reason
    from typed
)

select
    source_line,
    reject_reason,
    received_at,
    direction_normalized,
    -- empty or unrecognised: unknown (the latter with a warning)
    coalesce(tls_bucket, 'unknown') as tls_bucket,
    row_hash,
    tls_version is not null and tls_bucket is null as tls_unrecognised,
    status is not null and not list_contains($statuses, status) as status_unrecognised
from checked

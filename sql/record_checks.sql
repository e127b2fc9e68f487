-- grain: one row per CSV record of one batch of an export (table `batch`, every field as text):
-- why the record breaks the contract (`reject_reason`, null when it does not), a hash of its
-- fields to find exact duplicates cheaply, and the values that load with a warning;
-- in the order of the batch (DuckDB keeps insertion order), so that it lines up with it.
-- parameters: $day_start, $day_end (the UTC day being loaded, end exclusive),
--             $tls_spellings (folded TlsVersion spellings), $statuses (both from etl/contract.py)
with cleaned as (
    select
        source_line,
        trim(received) as received,
        lower(trim(direction)) as direction,
        trim(recipient_address) as recipient_address,
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
        -- a full date and time is required; an offset or Z is optional (none means UTC)
        case
            when regexp_full_match(
                received, '\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})? ?([Zz]|[+-]\d{2}(:?\d{2})?)?'
            ) then try_cast(received as timestamptz)
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
            when direction not in ('inbound', 'outbound', 'internal') then 'unknown_direction'
            when recipient_address = '' then 'missing_recipient'
            when size is not null and (size_bytes is null or size_bytes < 0) then 'bad_size'
        end as reject_reason
    from typed
)

select
    source_line,
    reject_reason,
    row_hash,
    -- fold spellings the way etl.contract.tls_spelling_key does: lowercase, no space . - _
    tls_version is not null and not list_contains(
        $tls_spellings,
        lower(replace(replace(replace(replace(tls_version, ' ', ''), '.', ''), '-', ''), '_', ''))
    ) as tls_unrecognised,
    status is not null and not list_contains($statuses, status) as status_unrecognised
from checked

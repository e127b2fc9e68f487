-- grain: one row per CSV record of one batch of an export (table `batch`, all text), typed and
-- normalised, with `reject_reason` set when the record breaks the contract; a rejected record
-- keeps its input fields in `raw_fields` (contract order, null = column absent) for the quarantine.
-- parameters: $day_start, $day_end (the UTC day being loaded, end exclusive),
--             $tls_spellings, $tls_buckets (folded TlsVersion spelling -> bucket), $statuses
--             (all from etl/contract.py)
with cleaned as (
    select
        *,
        trim(received) as received_text,
        trim(sender_address) as sender_text,
        trim(recipient_address) as recipient_text,
        lower(trim(direction)) as direction_text,
        nullif(trim(tls_version), '') as tls_text,
        nullif(trim(status), '') as status_text,
        nullif(trim(size), '') as size_text
    from batch
),

typed as (
    select
        *,
        -- a full date and time is required; an offset or Z is optional (none means UTC)
        case
            when regexp_full_match(
                received_text, '\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})? ?([Zz]|[+-]\d{2}(:?\d{2})?)?'
            ) then try_cast(received_text as timestamptz)
        end as received_at,
        try_cast(size_text as bigint) as size_bytes,
        -- fold spellings the way etl.contract.tls_spelling_key does: lowercase, no space . - _
        list_position(
            $tls_spellings,
            lower(replace(replace(replace(replace(coalesce(tls_text, ''), ' ', ''), '.', ''), '-', ''), '_', ''))
        ) as tls_index
    from cleaned
),

checked as (
    select
        *,
        case
            when received_at is null then 'bad_timestamp'
            when received_at < $day_start or received_at >= $day_end then 'outside_day'
            when direction_text not in ('inbound', 'outbound', 'internal') then 'unknown_direction'
            when recipient_text = '' then 'missing_recipient'
            when size_text is not null and (size_bytes is null or size_bytes < 0) then 'bad_size'
        end as reject_reason
    from typed
)

select
    source_file,
    source_line,
    reject_reason,
    received_at,
    nullif(sender_text, '') as sender_address,
    recipient_text as recipient_address,
    direction_text as direction,
    nullif(trim(connector_name), '') as connector_name,
    coalesce($tls_buckets[tls_index], 'unknown') as tls_version,
    tls_text as tls_version_raw,
    nullif(trim(tls_cipher), '') as tls_cipher,
    status_text as status,
    nullif(trim(from_ip), '') as from_ip,
    nullif(trim(to_ip), '') as to_ip,
    size_bytes,
    nullif(trim(message_id), '') as message_id,
    nullif(trim(message_trace_id), '') as message_trace_id,
    subject,
    tls_text is not null and tls_index is null as tls_unrecognised,
    status_text is not null and not list_contains($statuses, status_text) as status_unrecognised,
    case
        when reject_reason is not null then [
            received, sender_address, recipient_address, direction, connector_name, tls_version, tls_cipher,
            status, from_ip, to_ip, size, message_id, message_trace_id, subject
        ]
    end as raw_fields
from checked

-- grain: one row per distinct trace record of the day: one message per recipient.
-- Exact duplicates (every field equal after normalisation, Subject included) collapse into
-- one row that keeps the source file and line of the first occurrence, for provenance.
-- Subject is read only to tell records apart and is never stored.
with accepted as (
    select *
    from normalised
    where reject_reason is null
),

distinct_records as (
    select
        received_at,
        sender_address,
        recipient_address,
        direction,
        connector_name,
        tls_version,
        tls_version_raw,
        tls_cipher,
        status,
        from_ip,
        to_ip,
        size_bytes,
        message_id,
        message_trace_id,
        subject,
        min(struct_pack(source_file, source_line)) as first_seen
    from accepted
    group by all
)

select
    received_at,
    sender_address,
    recipient_address,
    direction,
    connector_name,
    tls_version,
    tls_version_raw,
    tls_cipher,
    status,
    from_ip,
    to_ip,
    size_bytes,
    message_id,
    message_trace_id,
    first_seen.source_file as source_file,
    first_seen.source_line as source_line
from distinct_records

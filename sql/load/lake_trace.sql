-- grain: one row per distinct trace record of the day: one message per recipient, as stored
-- in the lake's trace table (sql/load/schema/trace.sql). Typed and normalised; exact duplicates
-- (table `duplicate_rows`) left out, the first occurrence keeping its source file and line.
-- Subject is never stored.
-- parameters: $staged_files (the day's accepted records as text, with the time, direction and
--               TLS bucket sql/load/record_checks.sql read in them), $day, $load_id
with staged as (
    select *
    from read_parquet($staged_files)
),

accepted as (
    select staged.*
    from staged
    anti join duplicate_rows using (source_file, source_line)
),

typed as (
    select
        received_at,
        nullif(trim(sender_address), '') as sender_address,
        trim(recipient_address) as recipient_address,
        direction_normalized as direction,
        tls_bucket as tls_version,  -- the folded bucket; the text as written stays as tls_version_raw
        nullif(trim(connector_name), '') as connector_name,
        nullif(trim(tls_version), '') as tls_version_raw,
        nullif(trim(tls_cipher), '') as tls_cipher,
        nullif(trim(status), '') as status,
        nullif(trim(from_ip), '') as from_ip,
        nullif(trim(to_ip), '') as to_ip,
        try_cast(nullif(trim(size), '') as bigint) as size_bytes,
        nullif(trim(message_id), '') as message_id,
        nullif(trim(message_trace_id), '') as message_trace_id,
        source_file,
        source_line
    from accepted
)

select
    cast($day as date) as date,
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
    source_file,
    source_line,
    cast($load_id as varchar) as load_id
from typed

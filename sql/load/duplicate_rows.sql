-- grain: one row per accepted record of the day that exactly repeats an earlier one (every field
-- equal, Subject included); the earliest occurrence, the first read, is the one kept.
-- The records read are the suspects: those whose hash of every field is shared with another record
-- (etl/load/duplicates.py). A shared hash only nominates: the comparison of every field decides,
-- so a hash collision never removes a record.
-- parameters: $suspects (a Parquet file of the suspects as written, with row_hash, in the order read)
with ranked as (
    select
        source_file,
        source_line,
        row_number() over (
            partition by
                row_hash, received, sender_address, recipient_address, direction, connector_name, tls_version,
                tls_cipher, status, from_ip, to_ip, size, message_id, message_trace_id, subject
            order by file_row_number
        ) as occurrence
    from read_parquet($suspects, file_row_number = true)
)

select
    source_file,
    source_line
from ranked
where occurrence > 1

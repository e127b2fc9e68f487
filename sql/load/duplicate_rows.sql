-- grain: one row per accepted record that exactly repeats an earlier record of the same day
-- (every field equal, Subject included); the earliest occurrence, by source file and line,
-- is the one kept. Rows sharing a row_hash are only suspects: the comparison of every field
-- decides, so a hash collision never removes a record. `staged` is read twice, and cheaply
-- (one column the first time): it must not be materialised.
-- parameters: $staged_files (the day's accepted records as text, with row_hash)
with staged as not materialized (
    select *
    from read_parquet($staged_files)
),

repeated_hashes as (
    select row_hash
    from staged
    group by row_hash
    having count(*) > 1
),

suspects as (
    select *
    from staged
    where row_hash in (select row_hash from repeated_hashes)
),

ranked as (
    select
        source_file,
        source_line,
        row_number() over (
            partition by
                received, sender_address, recipient_address, direction, connector_name, tls_version, tls_cipher,
                status, from_ip, to_ip, size, message_id, message_trace_id, subject
            order by source_file, source_line
        ) as occurrence
    from suspects
)

select
    source_file,
    source_line
from ranked
where occurrence > 1

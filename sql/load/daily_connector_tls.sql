-- grain: one row per UTC date x direction x connector x TLS bucket (connector null = no connector)
-- counting unit: one message per recipient (a trace row); rows whose status is in
-- $not_counted_statuses (distribution-list expansion placeholders) are not messages.
-- parameters: $trace_files (the day's lake partition), $day, $not_counted_statuses
with messages as (
    select
        direction,
        connector_name as connector,
        tls_version,
        coalesce(size_bytes, 0) as size_bytes
    from read_parquet($trace_files, hive_partitioning = false)
    where status is null or not list_contains($not_counted_statuses, status)
)

select
    cast($day as date) as date,
    direction,
    connector,
    tls_version,
    count(*) as messages,
    sum(size_bytes) as bytes
from messages
group by all
order by direction, connector nulls first, tls_version

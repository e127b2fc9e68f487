-- grain: one row per UTC date x direction x connector x TLS bucket (connector null = no connector)
-- counting unit: one message per recipient (a trace row); rows whose status is in
-- $not_counted_statuses (distribution-list expansion placeholders) are not messages.
-- parameters: $day, $load_id, $not_counted_statuses; relation `trace_rows`: the day's rows of the trace table
with messages as (
    select
        direction,
        connector_name as connector,
        tls_version,
        coalesce(size_bytes, 0) as size_bytes
    from trace_rows
    where status is null or not list_contains($not_counted_statuses, status)
)

select
    cast($day as date) as date,
    direction,
    connector,
    tls_version,
    count(*) as messages,
    cast(sum(size_bytes) as bigint) as bytes,
    cast($load_id as varchar) as load_id
from messages
group by all
order by direction, connector nulls first, tls_version

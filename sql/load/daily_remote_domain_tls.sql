-- grain: one row per UTC date x direction x connector x TLS bucket x remote domain
-- remote domain: the sender's domain for inbound mail, the recipient's for outbound, none for internal.
-- counting unit: one message per recipient (a trace row); rows whose status is in
-- $not_counted_statuses (distribution-list expansion placeholders) are not messages.
-- parameters: $trace_files (the day's lake partition), $day, $not_counted_statuses
with messages as (
    select
        direction,
        connector_name as connector,
        tls_version,
        case direction
            when 'inbound' then sender_address
            when 'outbound' then recipient_address
        end as remote_address,
        coalesce(size_bytes, 0) as size_bytes
    from read_parquet($trace_files, hive_partitioning = false)
    where status is null or not list_contains($not_counted_statuses, status)
),

with_domain as (
    select
        *,
        nullif(lower(rtrim(string_split(remote_address, '@')[-1], '>')), '') as remote_domain
    from messages
)

select
    cast($day as date) as date,
    direction,
    connector,
    tls_version,
    case when contains(remote_address, '@') then remote_domain end as remote_domain,
    count(*) as messages,
    sum(size_bytes) as bytes
from with_domain
group by all
order by direction, connector nulls first, tls_version, remote_domain nulls first

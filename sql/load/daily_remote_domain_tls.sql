-- grain: one row per UTC date x direction x connector x TLS bucket x remote domain
-- remote domain: the sender's domain for inbound mail, the recipient's for outbound, none for internal.
-- counting unit: one message per recipient (a trace row); rows whose status is in
-- $not_counted_statuses (distribution-list expansion placeholders) are not messages.
-- parameters: $day, $load_id, $not_counted_statuses; relation `trace_rows`: the day's rows of the trace table
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
    from trace_rows
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
    cast(sum(size_bytes) as bigint) as bytes,
    cast($load_id as varchar) as load_id
from with_domain
group by all
order by direction, connector nulls first, tls_version, remote_domain nulls first

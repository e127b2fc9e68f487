-- grain: one row per connector x direction x TLS bucket over the window: messages (TLS usage
-- view). connector null = mail that used no connector; internal mail is not part of the report.
-- parameters: $start, $end (dates, inclusive), $connector, $direction (null = all)
with filtered as (
    select *
    from daily_connector_tls
    where date between $start and $end
        and direction in ('inbound', 'outbound')
        and ($direction is null or direction = $direction)
        and ($connector is null or connector = $connector)
)

select
    connector,
    direction,
    tls_version,
    sum(messages) as messages
from filtered
group by all
order by connector nulls last, direction, tls_version

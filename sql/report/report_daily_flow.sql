-- grain: one row per UTC day x connector x direction in the window: messages (mail flow view).
-- connector null = mail that used no connector. Internal mail does not enter or leave the
-- organisation and is not part of the report.
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
    date,
    connector,
    direction,
    sum(messages) as messages
from filtered
group by all
order by date, connector nulls last, direction

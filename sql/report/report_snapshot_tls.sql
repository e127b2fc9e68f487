-- grain: one row per direction x TLS bucket over the window, for the whole organisation
-- ("message protected in transit"): every connector and no connector alike.
-- parameters: $start, $end (dates, inclusive), $direction (null = both)
with filtered as (
    select *
    from daily_connector_tls
    where date between $start and $end
        and direction in ('inbound', 'outbound')
        and ($direction is null or direction = $direction)
)

select
    direction,
    tls_version,
    sum(messages) as messages
from filtered
group by all
order by direction, tls_version

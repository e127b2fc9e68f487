-- grain: one row per day of the report's tables whose aggregates are not all from the load its
-- daily_load row records (a day being re-aggregated while the report read it, or a rebuild cut
-- short between its commits): such a day is never reported as if whole.
-- parameters: none; relations daily_connector_tls, daily_remote_domain_tls, daily_load (the window's rows)
with aggregated as (
    select date, load_id from daily_connector_tls
    union
    select date, load_id from daily_remote_domain_tls
)

select distinct aggregated.date
from aggregated
left join daily_load on daily_load.date = aggregated.date
where daily_load.load_id is distinct from aggregated.load_id
order by aggregated.date

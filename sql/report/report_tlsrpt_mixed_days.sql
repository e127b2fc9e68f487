-- grain: one row per day of the SMTP TLS report aggregates whose rows are not all from the load its
-- tlsrpt_loads row records (a day being reloaded while the report read it): never reported as whole.
-- parameters: none; relations daily_tlsrpt_policy, daily_tlsrpt_failure, tlsrpt_loads (the rows read)
with aggregated as (
    select date, load_id from daily_tlsrpt_policy
    union
    select date, load_id from daily_tlsrpt_failure
)

select distinct aggregated.date
from aggregated
left join tlsrpt_loads on tlsrpt_loads.date = aggregated.date
where tlsrpt_loads.load_id is distinct from aggregated.load_id
order by aggregated.date

-- grain: one row per UTC date x reporting organisation x policy domain x policy type: the sessions
-- reported, successful and failed, and how many reports said so.
-- parameters: $load_id; relation `tlsrpt_policy_rows`: the day's rows of the tlsrpt_policy table
select
    date,
    organization,
    policy_domain,
    policy_type,
    cast(sum(successful_sessions) as bigint) as successful_sessions,
    cast(sum(failed_sessions) as bigint) as failed_sessions,
    count(distinct report_id) as reports,
    cast($load_id as varchar) as load_id
from tlsrpt_policy_rows
group by all
order by date, organization, policy_domain, policy_type

-- grain: one row per UTC date x policy domain x result type: the failed sessions reported in the
-- failure details (which may list fewer than a policy's failure total: reporters may truncate them).
-- parameters: $load_id; relation `tlsrpt_failure_rows`: the day's rows of the tlsrpt_failure table
select
    date,
    policy_domain,
    result_type,
    cast(sum(failed_sessions) as bigint) as failed_sessions,
    cast($load_id as varchar) as load_id
from tlsrpt_failure_rows
group by all
order by date, policy_domain, result_type

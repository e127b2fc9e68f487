-- grain: one row per policy domain x policy type reported on in SMTP TLS reports (RFC 8460) over
-- the window: the sessions the receiving side saw succeed and fail, and who reported them.
-- parameters: $start, $end (dates, inclusive); relation daily_tlsrpt_policy (the window's rows)
select
    policy_domain,
    policy_type,
    sum(successful_sessions) as successful_sessions,
    sum(failed_sessions) as failed_sessions,
    list(distinct organization order by organization) as reporters
from daily_tlsrpt_policy
where date between $start and $end
group by all
order by policy_domain, policy_type

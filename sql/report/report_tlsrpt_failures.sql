-- grain: one row per policy domain x result type of the failure details of SMTP TLS reports over
-- the window: failed sessions (certificate-expired, starttls-not-supported, ...).
-- parameters: $start, $end (dates, inclusive); relation daily_tlsrpt_failure (the window's rows)
select
    policy_domain,
    result_type,
    sum(failed_sessions) as failed_sessions
from daily_tlsrpt_failure
where date between $start and $end
group by all
order by policy_domain, failed_sessions desc, result_type

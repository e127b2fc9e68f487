-- grain: one row per window of the report's series x policy domain: the sessions SMTP TLS reports
-- say succeeded and failed. What each tlsrpt_failures insight's history (since when) is computed from.
-- uses: the table macro report_series (sql/report/report_series.sql)
-- parameters: $starts, $ends (the series' windows, newest first); relation daily_tlsrpt_policy
with series as (
    select * from report_series($starts, $ends)
)

select
    series.window_index,
    daily_tlsrpt_policy.policy_domain,
    sum(daily_tlsrpt_policy.successful_sessions) as successful_sessions,
    sum(daily_tlsrpt_policy.failed_sessions) as failed_sessions
from series
inner join daily_tlsrpt_policy
    on daily_tlsrpt_policy.date between series.window_start and series.window_end
group by all
order by series.window_index, daily_tlsrpt_policy.policy_domain

-- grain: one row per window of the report's series: how many of its days have SMTP TLS reports
-- loaded. A window without any has no TLS report figures (never zero failures).
-- uses: the table macro report_series (sql/report/report_series.sql)
-- parameters: $starts, $ends (the series' windows, newest first); relation tlsrpt_loads
with series as (
    select * from report_series($starts, $ends)
)

select
    series.window_index,
    count(tlsrpt_loads.date) filter (where tlsrpt_loads.reports_loaded > 0) as days_reported
from series
left join tlsrpt_loads on tlsrpt_loads.date between series.window_start and series.window_end
group by all
order by series.window_index

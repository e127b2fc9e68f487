-- grain: one row per window of the report's series: its first and last day, how many days it
-- has and how many of them are loaded. A window with days missing is marked in the trend, and
-- one with none loaded has no figures at all (never zero).
-- uses: the table macro report_series (sql/report/report_series.sql)
-- parameters: $starts, $ends (the series' windows, newest first)
with series as (
    select * from report_series($starts, $ends)
)

select
    series.window_index,
    series.window_start,
    series.window_end,
    datediff('day', series.window_start, series.window_end) + 1 as days_expected,
    count(daily_load.date) as days_present
from series
left join daily_load on daily_load.date between series.window_start and series.window_end
group by all
order by series.window_index

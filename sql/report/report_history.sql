-- grain: one row per window of the report's series x connector x direction x TLS bucket:
-- messages. What the comparison with the previous window, the trend and each insight's history
-- (since when it fires) are computed from, under the report's filters.
-- uses: the table macros report_series (sql/report/report_series.sql) and report_rows
-- parameters: $starts, $ends (the series' windows, newest first), $connector, $direction
--             (null = all), $directions, $connectors (connector globs, [] = all)
with series as (
    select * from report_series($starts, $ends)
),

window_rows as (
    select * from report_rows(
        'daily_connector_tls', list_min($starts), list_max($ends), $connector, $direction, $directions, $connectors
    )
)

select
    series.window_index,
    window_rows.connector,
    window_rows.direction,
    window_rows.tls_version,
    sum(window_rows.messages) as messages
from series
inner join window_rows on window_rows.date between series.window_start and series.window_end
group by all
order by series.window_index, window_rows.connector nulls last, window_rows.direction, window_rows.tls_version

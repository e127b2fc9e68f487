-- grain: one row per UTC day x connector x direction in the window: messages (mail flow view).
-- connector null = mail that used no connector. Internal mail does not enter or leave the
-- organisation and is not part of the report.
-- uses: the table macro report_rows (sql/report/report_rows.sql), for the window and filters
-- parameters: $start, $end (dates, inclusive), $connector, $direction (null = all), $directions, $connectors
--             (connector globs, [] = all)
select
    date,
    connector,
    direction,
    sum(messages) as messages
from report_rows('daily_connector_tls', $start, $end, $connector, $direction, $directions, $connectors)
group by all
order by date, connector nulls last, direction

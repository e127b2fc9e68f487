-- grain: one row per connector x direction x TLS bucket over the window: messages (TLS usage
-- view). connector null = mail that used no connector; internal mail is not part of the report.
-- uses: the table macro report_rows (sql/report/report_rows.sql), for the window and filters
-- parameters: $start, $end (dates, inclusive), $connector, $direction (null = all), $directions, $connectors
--             (connector globs, [] = all)
select
    connector,
    direction,
    tls_version,
    sum(messages) as messages
from report_rows('daily_connector_tls', $start, $end, $connector, $direction, $directions, $connectors)
group by all
order by connector nulls last, direction, tls_version

-- grain: one row per direction x TLS bucket over the window, for the whole organisation
-- ("message protected in transit"): every connector and no connector alike.
-- uses: the table macro report_rows (sql/report/report_rows.sql), for the window and filters
-- parameters: $start, $end (dates, inclusive), $direction (null = both), $directions
select
    direction,
    tls_version,
    sum(messages) as messages
from report_rows('daily_connector_tls', $start, $end, null, $direction, $directions, []::varchar[])
group by all
order by direction, tls_version

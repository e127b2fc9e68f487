-- produces: the table macro report_series(starts, ends)
-- grain: one row per window of a report's series: window_index (0 = the report's own window,
-- 1 = the one before, ...), window_start, window_end. The windows are computed in Python
-- (etl.report.request.ReportRequest.series: weeks, calendar months or the report's own length)
-- and bound as two lists, newest first. Created per connection (a temp macro), like report_rows.
create or replace temp macro report_series(starts, ends) as table
    select
        generate_subscripts(starts, 1) - 1 as window_index,
        unnest(starts) as window_start,
        unnest(ends) as window_end

-- produces: the table macro
--     report_rows(aggregate, first_day, last_day, only_connector, only_direction, directions)
-- grain: that of the daily aggregate table named by `aggregate` (daily_connector_tls or
-- daily_remote_domain_tls), restricted to the report's window and filters. The one place the
-- report views filter: days in [first_day, last_day]; the directions reported on (bound from
-- contract.REPORTED_DIRECTIONS: internal mail neither enters nor leaves the organisation); one
-- connector and/or one direction, or all when null. Created per connection (a temp macro),
-- before the report views run.
create or replace temp macro report_rows(aggregate, first_day, last_day, only_connector, only_direction, directions) as table
    select *
    from query_table(aggregate)
    where date between first_day and last_day
        and list_contains(directions, direction)
        and (only_direction is null or direction = only_direction)
        and (only_connector is null or connector = only_connector)

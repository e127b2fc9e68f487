-- produces: the table macro
--     report_rows(aggregate, first_day, last_day, only_connector, only_direction, directions, connector_globs)
-- grain: that of the daily aggregate table named by `aggregate` (daily_connector_tls or
-- daily_remote_domain_tls), restricted to the report's window and filters. The one place the
-- report views filter: days in [first_day, last_day]; the directions reported on (bound from
-- contract.REPORTED_DIRECTIONS: internal mail neither enters nor leaves the organisation); one
-- connector and/or one direction, or all when null; and the connectors matching any of
-- connector_globs (a subscription's: shell-style patterns, `Partner *`), or all when empty.
-- Created per connection (a temp macro), before the report views run.
create or replace temp macro report_rows(
    aggregate, first_day, last_day, only_connector, only_direction, directions, connector_globs
) as table
    select *
    from query_table(aggregate)
    where date between first_day and last_day
        and list_contains(directions, direction)
        and (only_direction is null or direction = only_direction)
        and (only_connector is null or connector = only_connector)
        and (
            len(connector_globs) = 0
            or coalesce(list_bool_or(list_transform(connector_globs, lambda pattern: connector glob pattern)), false)
        )

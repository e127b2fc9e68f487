-- grain: one row for the UTC date being aggregated, from its load manifest and its aggregates
-- (table `daily_connector_tls`: the day's rows just computed)
-- parameters: $day, $rows_read, $rows_loaded, $rows_quarantined, $duplicates_removed,
--             $quarantine_reasons, $sources (json text), $loaded_at, $load_id
with counted as (
    select coalesce(sum(messages), 0) as messages
    from daily_connector_tls
    where date = $day
)

select
    cast($day as date) as date,
    cast($rows_read as bigint) as rows_read,
    cast($rows_loaded as bigint) as rows_loaded,
    cast($rows_quarantined as bigint) as rows_quarantined,
    cast($duplicates_removed as bigint) as duplicates_removed,
    cast($rows_loaded as bigint) - counted.messages as rows_not_counted,
    cast(counted.messages as bigint) as messages,
    cast($quarantine_reasons as varchar) as quarantine_reasons,
    cast($sources as varchar) as sources,
    cast($loaded_at as timestamptz) as loaded_at,
    cast($load_id as varchar) as load_id
from counted

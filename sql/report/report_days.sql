-- grain: one row per UTC day of the report window [$start, $end]: whether the day is loaded,
-- and what its load read, quarantined and counted. A day not loaded is missing, never zero.
-- parameters: $start, $end (dates, inclusive)
with window_days as (
    select cast(day as date) as date
    from generate_series(cast($start as date), cast($end as date), interval 1 day) as t(day)
)

select
    window_days.date,
    daily_load.date is not null as loaded,
    daily_load.rows_read,
    daily_load.rows_quarantined,
    daily_load.messages
from window_days
left join daily_load on daily_load.date = window_days.date
order by window_days.date

-- grain: one row per UTC date aggregated: what its load read, kept, refused and counted
create table daily_load (
    date date not null,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    duplicates_removed bigint not null,
    rows_not_counted bigint not null,
    messages bigint not null,
    quarantine_reasons varchar not null,  -- json: reason -> rows
    sources varchar not null,  -- json: one object per export read
    loaded_at timestamptz not null,
    load_id varchar not null  -- the load the day was aggregated from
)

-- grain: one row per UTC date loaded: what the load read, kept, refused and counted
create table if not exists daily_load (
    date date primary key,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    duplicates_removed bigint not null,
    rows_not_counted bigint not null,
    messages bigint not null,
    quarantine_reasons json not null,
    sources json not null,
    loaded_at timestamptz not null,
    load_id varchar  -- the lake partition's load id: the day in the lake and here are from one load
)

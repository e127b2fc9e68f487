-- grain: one row per UTC date loaded, written by the load that replaced the day (what each
-- day's load manifest said before the lake was a table format): what it read, kept and
-- refused, and the exports it read with their SHA-256.
create table loads (
    date date not null,
    load_id varchar not null,
    loaded_at timestamptz not null,
    lake_schema_version integer not null,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    duplicates_removed bigint not null,
    quarantine_reasons varchar not null,  -- json: reason -> rows
    warnings varchar not null,  -- json: warning -> rows
    sources varchar not null  -- json: one object per export read
)

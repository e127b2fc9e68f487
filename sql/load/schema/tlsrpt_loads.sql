-- grain: one row per UTC day of SMTP TLS reports loaded, written last by the load that replaced
-- the day: what it read, and from which files. reports_read = reports_loaded + reports_quarantined
-- + duplicates.
create table tlsrpt_loads (
    date date not null,
    load_id varchar not null,
    loaded_at timestamptz not null,
    reports_read bigint not null,
    reports_loaded bigint not null,
    reports_quarantined bigint not null,
    duplicates bigint not null,
    quarantine_reasons varchar not null,  -- json: reason -> reports
    sources varchar not null  -- json: [{file, sha256}] of every report of the day, duplicates included
)

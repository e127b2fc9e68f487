-- grain: one row per distinct trace record: one message per recipient (etl/load/checks.py types
-- it, etl/load/ingest.py writes it). Partitioned by date; every row of a day carries the id of the
-- load that wrote it.
create table trace (
    date date not null,
    received_at timestamptz not null,
    sender_address varchar,
    recipient_address varchar,
    direction varchar,
    connector_name varchar,
    tls_version varchar,
    tls_version_raw varchar,
    tls_cipher varchar,
    status varchar,
    from_ip varchar,
    to_ip varchar,
    size_bytes bigint,
    message_id varchar,
    message_trace_id varchar,
    source_file varchar not null,
    source_line bigint not null,
    load_id varchar not null
)

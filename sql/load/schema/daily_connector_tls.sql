-- grain: one row per UTC date x direction x connector x TLS bucket (connector null = no connector)
create table daily_connector_tls (
    date date not null,
    direction varchar not null,
    connector varchar,
    tls_version varchar not null,
    messages bigint not null,
    bytes bigint not null,
    load_id varchar not null  -- the load the day was aggregated from
)

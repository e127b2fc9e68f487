-- grain: one row per UTC date x direction x connector x TLS bucket x remote domain
create table daily_remote_domain_tls (
    date date not null,
    direction varchar not null,
    connector varchar,
    tls_version varchar not null,
    remote_domain varchar,
    messages bigint not null,
    bytes bigint not null,
    load_id varchar not null  -- the load the day was aggregated from
)

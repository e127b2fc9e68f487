-- grain: one row per UTC date x reporting organisation x policy domain x policy type: sessions
create table daily_tlsrpt_policy (
    date date not null,
    organization varchar not null,
    policy_domain varchar not null,
    policy_type varchar not null,
    successful_sessions bigint not null,
    failed_sessions bigint not null,
    reports bigint not null,
    load_id varchar not null
)

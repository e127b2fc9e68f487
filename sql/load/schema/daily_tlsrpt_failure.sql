-- grain: one row per UTC date x policy domain x result type: failed sessions
create table daily_tlsrpt_failure (
    date date not null,
    policy_domain varchar not null,
    result_type varchar not null,
    failed_sessions bigint not null,
    load_id varchar not null
)

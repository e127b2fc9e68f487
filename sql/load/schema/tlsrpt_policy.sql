-- grain: one row per SMTP TLS report (RFC 8460) x policy it reports on, filed under the UTC day
-- holding the midpoint of the report's date-range; the report as received, deduplicated by
-- (organization, report_id).
create table tlsrpt_policy (
    date date not null,
    organization varchar not null,
    report_id varchar not null,
    start_datetime timestamptz not null,
    end_datetime timestamptz not null,
    contact_info varchar,
    policy_type varchar not null,  -- tlsa | sts | no-policy-found
    policy_domain varchar not null,  -- lowercase, without a trailing dot
    policy_strings varchar not null,  -- json: list of strings
    mx_hosts varchar not null,  -- json: list of strings
    successful_sessions bigint not null,
    failed_sessions bigint not null,
    extra varchar not null,  -- json: the report's fields RFC 8460 does not define
    source varchar not null,  -- the file (and the message and part) it came in
    file_sha256 varchar not null,
    load_id varchar not null
)

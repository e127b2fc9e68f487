-- grain: one row per failure-details entry of a policy of an SMTP TLS report, filed under the
-- report's day (see tlsrpt_policy).
create table tlsrpt_failure (
    date date not null,
    organization varchar not null,
    report_id varchar not null,
    policy_type varchar not null,
    policy_domain varchar not null,
    result_type varchar not null,
    failed_sessions bigint not null,
    sending_mta_ip varchar,
    receiving_mx_hostname varchar,
    receiving_mx_helo varchar,
    receiving_ip varchar,
    additional_information varchar,
    failure_reason_code varchar,
    source varchar not null,
    file_sha256 varchar not null,
    load_id varchar not null
)

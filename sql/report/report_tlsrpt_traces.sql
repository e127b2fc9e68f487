-- grain: one row per window (0 = the report's, 1 = the one before) x outbound connector x remote
-- domain x TLS bucket, for the remote domains SMTP TLS reports speak of in either window: the
-- messages our traces say we sent there. What links a receiving domain to the connectors that
-- carried mail to it, and what the traces say of the TLS the reports say failed.
-- uses: the table macro report_rows (sql/report/report_rows.sql), for the filters
-- parameters: $start, $end, $previous_start, $previous_end (dates, inclusive), $connector,
--             $direction (null = all), $directions, $connectors (connector globs, [] = all);
--             relations daily_remote_domain_tls, daily_tlsrpt_policy
with reported as (
    select distinct policy_domain
    from daily_tlsrpt_policy
    where date between $previous_start and $end
),

sent as (
    select * from report_rows(
        'daily_remote_domain_tls', $previous_start, $end, $connector, $direction, $directions, $connectors
    )
    where direction = 'outbound'
)

select
    case when sent.date >= $start then 0 else 1 end as window_index,
    sent.connector,
    sent.remote_domain,
    sent.tls_version,
    sum(sent.messages) as messages
from sent
inner join reported on reported.policy_domain = sent.remote_domain
where sent.date between $start and $end or sent.date between $previous_start and $previous_end
group by all
order by window_index, sent.connector nulls last, sent.remote_domain, sent.tls_version

-- grain: one row per connector x direction x TLS bucket x remote domain over the window, only
-- the $top domains with the most messages in each (connector, direction, bucket) group of the
-- buckets asked for: whom to call about mail in clear or over TLS 1.0.
-- uses: the table macro report_rows (sql/report/report_rows.sql), for the window and filters
-- parameters: $start, $end (dates, inclusive), $connector, $direction (null = all), $directions, $connectors
--             (connector globs, [] = all),
--             $buckets (TLS buckets to drill into), $top
with per_domain as (
    select
        connector,
        direction,
        tls_version,
        coalesce(remote_domain, '(unknown)') as remote_domain,
        sum(messages) as messages
    from report_rows('daily_remote_domain_tls', $start, $end, $connector, $direction, $directions, $connectors)
    where list_contains($buckets, tls_version)
    group by all
),

ranked as (
    select
        *,
        row_number() over (
            partition by connector, direction, tls_version
            order by messages desc, remote_domain
        ) as rank
    from per_domain
)

select
    connector,
    direction,
    tls_version,
    remote_domain,
    messages
from ranked
where rank <= $top
order by connector nulls last, direction, tls_version, rank

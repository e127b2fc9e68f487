"""What the outputs say of SMTP TLS reports: the sentences of their insights and the failure types
of a receiving domain, so that every output says them the same way."""

from __future__ import annotations

from etl.report.names import text_name
from etl.shares import format_pct


def failure_types(failures: dict[str, int]) -> str:
    """`certificate-expired 120, starttls-not-supported 3`, or `none detailed`."""
    return ", ".join(f"{kind} {count:,}" for kind, count in failures.items()) or "none detailed"


def receiving_domain(report: dict, domain: str) -> dict | None:
    return next((row for row in report["tlsrpt"] or [] if row["policy_domain"] == domain), None)


def tlsrpt_detail(insight: dict, report: dict, then: str) -> str:
    """The sentence of a tlsrpt_failures or tls_mismatch insight (names shown as report.txt shows them)."""
    domain = text_name(insight["policy_domain"])
    row = receiving_domain(report, insight["policy_domain"]) or {"failures": {}, "reporters": []}
    now, before = insight["share_pct"], insight["previous_share_pct"]
    if insight["rule"] == "tls_mismatch":
        return (f"Our traces: {insight['messages']:,} of {insight['messages_total']:,} messages to {domain} went over "
                f"TLS ({format_pct(now)}); the domain reports {failure_types(row['failures'])} failed sessions.")
    if insight["status"] == "resolved":
        if not insight["messages_total"]:
            return f"No session reported in this window; {format_pct(before)} failed in {then}."
        return (f"Now {format_pct(now)} of {insight['messages_total']:,} sessions failed; it was {format_pct(before)} "
                f"in {then}.")
    was = f"; {format_pct(before)} in {then}" if before is not None else ""
    reporters = ", ".join(text_name(name) for name in row["reporters"])
    return (f"{insight['messages']:,} of {insight['messages_total']:,} sessions to {domain} failed "
            f"({format_pct(now)}{was}): {failure_types(row['failures'])}. Reported by {reporters}.")

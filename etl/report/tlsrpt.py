"""The report's section "Reported by receiving domains": what SMTP TLS reports (RFC 8460) say of the
window, beside what our traces say, and the two insights drawn from them.

Direction: a report about one of our domains (MAILFLOW_OWN_DOMAINS, or a subdomain of one) is about
mail sent to us (inbound); any other policy domain is a recipient of our outbound mail. When our
domains are not configured, a policy domain our traces show outbound mail to in the window is
outbound, and any other inbound: a report about a domain we sent nothing to cannot be about our mail.
An outbound domain is linked to the outbound connectors that carried mail to it in the window.

Pure functions over the report views' rows (etl.report.queries._tlsrpt_views).
"""

from __future__ import annotations

from decimal import Decimal

from etl.report.rules import TLS_MISMATCH, TLSRPT_FAILURES, Thresholds
from etl.shares import percentage

OVER_TLS = ("TLS1.3", "TLS1.2", "TLS1.1", "TLS1.0")  # the trace buckets of mail sent over TLS, of any version
# result types that say STARTTLS or the certificate failed (RFC 8460 section 4.3), as opposed to
# policy fetch or DANE record problems
STARTTLS_OR_CERTIFICATE = ("starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
                           "certificate-not-trusted", "validation-failure")


def direction_of(domain: str, own_domains: tuple[str, ...], sent_to: set[str]) -> str:
    if own_domains:
        ours = any(domain == own or domain.endswith("." + own) for own in own_domains)
        return "inbound" if ours else "outbound"
    return "outbound" if domain in sent_to else "inbound"


def tlsrpt_section(views: dict, thresholds: Thresholds, *, direction: str | None, filtered_by_connector: bool,
                   windows: list[tuple[str, str]]) -> tuple[list[dict] | None, list[dict]]:
    """(rows, insights): one row per receiving domain, most sessions first; None when no report
    covers the window (the section is then absent, not empty). `windows` are the report's series,
    newest first, as (start, end)."""
    domains = views.get("tlsrpt_domains") or []
    if not domains:
        return None, []
    sent_to = {r["remote_domain"] for r in views.get("tlsrpt_sent") or [] if r["window_index"] == 0}
    traces: dict[str, dict[str | None, dict[str, int]]] = {}
    for r in views.get("tlsrpt_traces") or []:
        if r["window_index"] == 0:
            counts = traces.setdefault(r["remote_domain"], {}).setdefault(r["connector"], {})
            counts[r["tls_version"]] = counts.get(r["tls_version"], 0) + r["messages"]
    failures: dict[str, dict[str, int]] = {}
    for r in views.get("tlsrpt_failures") or []:
        failures.setdefault(r["policy_domain"], {})[r["result_type"]] = r["failed_sessions"]
    history = _history(views, len(windows))

    merged: dict[str, dict] = {}
    for r in domains:  # one row per policy domain; its types, the one with the most sessions first
        row = merged.setdefault(r["policy_domain"], {"types": {}, "successful": 0, "failed": 0, "reporters": set()})
        row["types"][r["policy_type"]] = row["types"].get(r["policy_type"], 0) + r["successful_sessions"] + \
            r["failed_sessions"]
        row["successful"] += r["successful_sessions"]
        row["failed"] += r["failed_sessions"]
        row["reporters"].update(r["reporters"])
    rows = []
    for domain, found in merged.items():
        domain_direction = direction_of(domain, thresholds.own_domains, sent_to)
        connectors = sorted(c for c in traces.get(domain, {}) if c is not None) if domain_direction == "outbound" \
            else []
        if direction and domain_direction != direction:
            continue
        if filtered_by_connector and not connectors:  # a connector's report: only the domains it carried mail to
            continue
        sessions = found["successful"] + found["failed"]
        then = history.get(1, {}).get(domain)
        rows.append({
            "policy_domain": domain,
            "direction": domain_direction,
            "policy_type": max(found["types"], key=lambda t: (found["types"][t], t)),
            "policy_types": sorted(found["types"]),
            "connectors": connectors,
            "successful_sessions": found["successful"],
            "failed_sessions": found["failed"],
            "failure_pct": percentage(found["failed"], sessions),
            "previous_failure_pct": percentage(then[1], sum(then)) if then and sum(then) else None,
            "failures": dict(sorted(failures.get(domain, {}).items(), key=lambda kv: (-kv[1], kv[0]))),
            "reporters": sorted(found["reporters"]),
        })
    rows.sort(key=lambda r: (-(r["successful_sessions"] + r["failed_sessions"]), r["policy_domain"]))
    insights = _failure_insights(rows, history, thresholds, windows) + \
        _mismatch_insights(rows, traces, views, history, windows)
    return rows, insights


def shown_domains(report: dict) -> list[dict]:
    """The rows the section shows: the busiest domains (thresholds.tlsrpt_top), and every domain an
    insight speaks of (its row holds the failure types). tlsrpt.csv and report.json keep them all."""
    spoken_of = {i["policy_domain"] for i in report["insights"]}
    top = report["thresholds"]["tlsrpt_top"]
    return [r for n, r in enumerate(report["tlsrpt"] or []) if n < top or r["policy_domain"] in spoken_of]


def _history(views: dict, count: int) -> dict[int, dict[str, tuple[int, int]]]:
    """window index -> policy domain -> (successful, failed), for the windows that have reports."""
    found: dict[int, dict[str, tuple[int, int]]] = {i: {} for i in range(count)}
    for r in views.get("tlsrpt_history") or []:
        found.setdefault(r["window_index"], {})[r["policy_domain"]] = (r["successful_sessions"],
                                                                       r["failed_sessions"])
    reported = {r["window_index"] for r in views.get("tlsrpt_days") or [] if r["days_reported"]}
    return {i: domains for i, domains in found.items() if i in reported or i == 0}


def _fires(counts: tuple[int, int] | None, thresholds: Thresholds) -> bool:
    if not counts:
        return False
    successful, failed = counts
    sessions = successful + failed
    # exact comparison on counts, as the trace rules do: 1 of 20 is 5.0% and does not exceed 5
    return sessions >= thresholds.tlsrpt_min_sessions and \
        Decimal(100 * failed) > Decimal(str(thresholds.tlsrpt_failure_pct)) * sessions


def _failure_insights(rows: list[dict], history: dict, thresholds: Thresholds,
                      windows: list[tuple[str, str]]) -> list[dict]:
    """tlsrpt_failures, new or persisting since the first window of its unbroken run (a window without
    any report breaks a run), and resolved when it fired in the previous window and no longer does."""
    found = []
    for row in rows:
        domain = row["policy_domain"]
        now = (row["successful_sessions"], row["failed_sessions"])
        before = history.get(1, {}).get(domain)
        if _fires(now, thresholds):
            run = 1
            while run in history and _fires(history[run].get(domain), thresholds):
                run += 1
            status = "persisting" if run > 1 else "new"
            found.append(_insight(TLSRPT_FAILURES, row, status, windows[run - 1][0], now, before, thresholds))
        elif _fires(before, thresholds):
            found.append(_insight(TLSRPT_FAILURES, row, "resolved", None, now, before, thresholds))
    return found


def _insight(rule, row: dict, status: str, since: str | None, now: tuple[int, int],
             before: tuple[int, int] | None, thresholds: Thresholds) -> dict:
    return {
        "connector": row["connectors"][0] if len(row["connectors"]) == 1 else None,
        "direction": row["direction"],
        "rule": rule.rule_id,
        "title": rule.title.format(threshold=thresholds.tlsrpt_failure_pct),
        "severity": rule.severity,
        "status": status,
        "since": since,
        "share_pct": row["failure_pct"],
        "previous_share_pct": percentage(before[1], sum(before)) if before and sum(before) else None,
        "threshold_pct": thresholds.tlsrpt_failure_pct,
        "messages": now[1],
        "messages_total": sum(now),
        "previous_messages_total": sum(before) if before else None,
        "top_remote_domains": [],
        "policy_domain": row["policy_domain"],
    }


def _mismatch_insights(rows: list[dict], traces: dict, views: dict, history: dict,
                       windows: list[tuple[str, str]]) -> list[dict]:
    """tls_mismatch: an outbound connector whose traces show mail sent over TLS to a domain that reports
    STARTTLS or certificate failures in the same window. New, or persisting when in the window before
    too it sent over TLS to the domain and the domain reported failures (this rule looks back one
    window: the traces by domain are read no further)."""
    sent_over_tls_before = {(r["connector"], r["remote_domain"]) for r in views.get("tlsrpt_traces") or []
                            if r["window_index"] == 1 and r["tls_version"] in OVER_TLS}
    found = []
    for row in rows:
        failed = {kind: n for kind, n in row["failures"].items() if kind in STARTTLS_OR_CERTIFICATE}
        if row["direction"] != "outbound" or not failed:
            continue
        for connector in row["connectors"]:
            counts = traces[row["policy_domain"]][connector]
            over_tls = sum(n for bucket, n in counts.items() if bucket in OVER_TLS)
            if not over_tls:
                continue
            total = sum(counts.values())
            failed_before = history.get(1, {}).get(row["policy_domain"], (0, 0))[1] > 0
            persisting = len(windows) > 1 and failed_before and \
                (connector, row["policy_domain"]) in sent_over_tls_before
            found.append({
                "connector": connector, "direction": "outbound", "rule": TLS_MISMATCH.rule_id,
                "title": TLS_MISMATCH.title, "severity": TLS_MISMATCH.severity,
                "status": "persisting" if persisting else "new", "since": windows[1 if persisting else 0][0],
                "share_pct": percentage(over_tls, total), "previous_share_pct": None,
                "threshold_pct": None, "messages": over_tls, "messages_total": total,
                "previous_messages_total": None, "top_remote_domains": [], "policy_domain": row["policy_domain"],
            })
    return found


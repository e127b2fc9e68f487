"""The weekly report as data: shares, insights and completeness, from the report views' rows.

Pure functions: no database, no clock, no files. `etl.report.queries` runs the views and
`etl.report.render` renders; this module decides what the numbers mean.
"""

from __future__ import annotations

from datetime import date, datetime

from etl.contract import REPORTED_DIRECTIONS
from etl.report.document import SCHEMA_VERSION, ConnectorTls, Insight, Report
from etl.report.request import ReportRequest
from etl.report.rules import BY_ID, Group, Key, Rule, Thresholds, WindowFigures, fired, tls_block
from etl.report.tlsrpt import tlsrpt_section
from etl.shares import percentage

COUNTING_UNIT = ("Counting unit: one message per recipient (one trace row). Distribution-list expansion rows "
                 "(Status Expanded) are not messages, and internal mail, which neither enters nor leaves "
                 "the organisation, is not part of this report.")
TREND_WINDOWS = 12
STATUS_ORDER = {"new": 0, "persisting": 1, "resolved": 2}

__all__ = ["Thresholds", "build_report"]


def build_report(*, start: date, end: date, connector: str | None, direction: str | None,
                 thresholds: Thresholds, generated_at: datetime, days: list[dict], daily: list[dict],
                 connector_tls: list[dict], snapshot_tls: list[dict], remote_domains: list[dict],
                 previous_days: list[dict] | None = None, history_days: list[dict] | None = None,
                 history: list[dict] | None = None, connectors: tuple[str, ...] = (),
                 subscription: str | None = None, **tlsrpt_views: list[dict]) -> Report:
    """The report, in the shape of report.json. Rows come from the sql/report/*.sql views: the window's
    own, and its series of earlier windows (`history`, window 1 being the previous one), from which
    the comparison, the trend and each insight's status are computed; `tlsrpt_views`, what SMTP TLS
    reports say (etl.report.tlsrpt)."""
    missing = [_iso(d["date"]) for d in days if not d["loaded"]]
    present = [d for d in days if d["loaded"]]
    rows_read = sum(d["rows_read"] for d in present)
    rows_quarantined = sum(d["rows_quarantined"] for d in present)

    snapshot_counts: dict[str, dict[str, int]] = {}
    for r in snapshot_tls:
        snapshot_counts.setdefault(r["direction"], {})[r["tls_version"]] = r["messages"]
    directions = (direction,) if direction else REPORTED_DIRECTIONS
    snapshot = {d: tls_block(snapshot_counts.get(d, {}), thresholds) for d in directions}

    current = WindowFigures(_iso(start), _iso(end), len(days), len(present))
    for r in connector_tls:
        current.groups.setdefault((r["connector"], r["direction"]), {})[r["tls_version"]] = r["messages"]
    windows = [current, *_earlier_windows(history_days or [], history or [])]
    previous = windows[1] if len(windows) > 1 else None
    if previous is None and previous_days:
        previous = WindowFigures(_iso(previous_days[0]["date"]), _iso(previous_days[-1]["date"]),
                                 len(previous_days), sum(1 for d in previous_days if d["loaded"]))
    trend = _trend_windows(windows)

    groups = sorted(current.groups.keys() | (previous.groups.keys() if previous else set()),
                    key=lambda g: (g[0] is None, g[0] or "", g[1]))
    rows = [_connector_row(group, current, previous, trend, thresholds) for group in groups]

    insights = _insights(windows, rows, remote_domains, thresholds)
    tlsrpt, tlsrpt_insights = tlsrpt_section(
        tlsrpt_views, thresholds, direction=direction, filtered_by_connector=bool(connector or connectors),
        windows=[(w.start, w.end) for w in windows])
    insights = sorted(insights + tlsrpt_insights, key=_insight_order)
    all_mail_flow: dict[tuple, int] = {}
    for r in daily:
        key = (_iso(r["date"]), r["direction"])
        all_mail_flow[key] = all_mail_flow.get(key, 0) + r["messages"]

    return {
        "schema_version": SCHEMA_VERSION,
        "title": "Mail flow & TLS report",
        "headline": _headline(insights, missing, compared=bool(previous and previous.has_data)),
        "window": {"start": start.isoformat(), "end": end.isoformat(), "days": len(days), "missing_days": missing},
        "completeness": {
            "days_expected": len(days),
            "days_present": len(present),
            "rows_read": rows_read,
            "rows_quarantined": rows_quarantined,
            "quarantined_pct": percentage(rows_quarantined, rows_read),
        },
        "previous": _previous(previous, previous_days or []),
        "filters": {"connector": connector, "direction": direction, "connectors": list(connectors),
                    "subscription": subscription},
        "thresholds": thresholds.to_json(),
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "counting_unit": COUNTING_UNIT,
        "snapshot": snapshot,
        "connectors": rows,
        "trend": {"period": ReportRequest(start, end).period,
                  "windows": [{"start": w.start, "end": w.end, "days_expected": w.days_expected,
                               "days_present": w.days_present} for w in trend]},
        "all_mail_flow": [{"date": k[0], "direction": k[1], "messages": v} for k, v in sorted(all_mail_flow.items())],
        "daily": [{"date": _iso(r["date"]), "connector": r["connector"], "direction": r["direction"],
                   "messages": r["messages"]} for r in daily],
        "tlsrpt": tlsrpt,
        "insights": insights,
    }


def _earlier_windows(history_days: list[dict], history: list[dict]) -> list[WindowFigures]:
    """The windows before the report's (index 1 on), from the history views."""
    windows = {d["window_index"]: WindowFigures(_iso(d["window_start"]), _iso(d["window_end"]), d["days_expected"],
                                                d["days_present"])
               for d in history_days if d["window_index"] > 0}
    for r in history:
        if r["window_index"] in windows:
            counts = windows[r["window_index"]].groups.setdefault((r["connector"], r["direction"]), {})
            counts[r["tls_version"]] = r["messages"]
    return [windows[i] for i in sorted(windows)]


def _trend_windows(windows: list[WindowFigures]) -> list[WindowFigures]:
    """The last TREND_WINDOWS windows, oldest first, starting with the first that has data."""
    recent = windows[:TREND_WINDOWS][::-1]
    while len(recent) > 1 and not recent[0].has_data:
        recent.pop(0)
    return recent


def _connector_row(group: Group, current: WindowFigures, previous: WindowFigures | None,
                   trend: list[WindowFigures], thresholds: Thresholds) -> ConnectorTls:
    """A connector × direction: its figures now, then (null when the previous window has no data at
    all: unknown, not zero), the change in percentage points (when it had mail in both), and its trend."""
    now = tls_block(current.groups.get(group, {}), thresholds)
    then = tls_block(previous.groups.get(group, {}), thresholds) if previous and previous.has_data else None
    change = None
    if then and then["messages"] and now["messages"]:
        change = {b: _points(now["tls_pct"][b] - then["tls_pct"][b]) for b in now["tls_pct"]}
        change["encrypted"] = _points(now["encrypted_pct"] - then["encrypted_pct"])
    return {"connector": group[0], "direction": group[1], **now, "previous": then, "change_pp": change,
            "trend": [_trend_point(window, group, thresholds) for window in trend]}


def _trend_point(window: WindowFigures, group: Group, thresholds: Thresholds) -> dict | None:
    """A window of the trend: null without data (never drawn as zero); shares null without mail."""
    if not window.has_data:
        return None
    block = tls_block(window.groups.get(group, {}), thresholds)
    shares = block["messages"] > 0
    return {"messages": block["messages"],
            "encrypted_pct": block["encrypted_pct"] if shares else None,
            "none_pct": block["tls_pct"]["none"] if shares else None,
            "tls10_pct": block["tls_pct"]["TLS1.0"] if shares else None}


def _points(change: float) -> float:
    """A difference of two shown shares, without the float's noise (80.0 - 95.0 = -15.0 exactly)."""
    return round(change, 6) + 0.0


def _previous(previous: WindowFigures | None, previous_days: list[dict]) -> dict | None:
    if previous is None:
        return None
    return {"start": previous.start, "end": previous.end, "days": previous.days_expected,
            "days_present": previous.days_present,
            "missing_days": [_iso(d["date"]) for d in previous_days if not d["loaded"]]}


def _insights(windows: list[WindowFigures], connectors: list[ConnectorTls], remote_domains: list[dict],
              thresholds: Thresholds) -> list[Insight]:
    """This window's insights, each new or persisting (since the first window of its unbroken run),
    and those of the previous window that no longer fire: resolved."""
    firing = [fired(window, windows[i + 1] if i + 1 < len(windows) else None, thresholds)
              for i, window in enumerate(windows)]
    rows = {(c["connector"], c["direction"]): c for c in connectors}
    before = firing[1] if len(firing) > 1 else {}
    found = []
    for key, messages in firing[0].items():
        run = 1  # windows, this one included, in a row in which it fires
        while run < len(firing) and key in firing[run]:
            run += 1
        status = "persisting" if key in before else "new"
        found.append(_insight(key, status, windows[run - 1].start, messages, rows, remote_domains, thresholds))
    for key in before.keys() - firing[0].keys():
        if BY_ID[key[0]].is_state:
            rule, row = BY_ID[key[0]], rows[key[1:]]
            found.append(_insight(key, "resolved", None, row["tls"][rule.bucket], rows, remote_domains, thresholds))
    return found


def _insight_order(insight: Insight) -> tuple:
    return (STATUS_ORDER[insight["status"]], insight["severity"], -insight["messages"], insight["connector"] or "",
            insight["direction"], insight["rule"], insight["policy_domain"] or "")


def _insight(key: Key, status: str, since: str | None, messages: int, rows: dict, remote_domains: list[dict],
             thresholds: Thresholds) -> Insight:
    rule_id, connector, direction = key
    rule = BY_ID[rule_id]
    row = rows[(connector, direction)]
    threshold = thresholds.for_rule(rule)
    then = row["previous"]
    domains = []
    if rule.bucket and status != "resolved":
        domains = [{"domain": d["remote_domain"], "messages": d["messages"]} for d in remote_domains
                   if d["connector"] == connector and d["direction"] == direction and d["tls_version"] == rule.bucket]
    return {
        "connector": connector,
        "direction": direction,
        "rule": rule_id,
        "title": rule.title.format(threshold=threshold) if threshold is not None else rule.title,
        "severity": rule.severity,
        "status": status,
        "since": since,
        "share_pct": _measure(rule, row),  # the figure the TLS table shows
        "previous_share_pct": _measure(rule, then) if then else None,
        "threshold_pct": threshold,
        "messages": messages,
        "messages_total": row["messages"],
        "previous_messages_total": then["messages"] if then else None,
        "top_remote_domains": domains,
        "policy_domain": None,
    }


def _measure(rule: Rule, block: dict) -> float | None:
    """The share a rule speaks of: its bucket's, the encrypted share for a regression; none for a
    connector's coming or going, or without mail."""
    if not block["messages"] or rule.rule_id in ("silent_connector", "new_connector"):
        return None
    return block["tls_pct"][rule.bucket] if rule.bucket else block["encrypted_pct"]


def _iso(day: date | str) -> str:
    return day if isinstance(day, str) else day.isoformat()


def _headline(insights: list[Insight], missing: list[str], compared: bool) -> str:
    """How many connectors need attention, and (against a previous window with data) what changed."""
    attention = [i for i in insights if i["status"] != "resolved" and i["rule"] != "new_connector"]
    flagged = len({(i["connector"], i["direction"]) for i in attention if i["policy_domain"] is None})
    domains = len({i["policy_domain"] for i in attention if i["rule"] == "tlsrpt_failures"})
    if flagged == 0:
        text = "no connector needs attention"
    elif flagged == 1:
        text = "1 connector needs attention"
    else:
        text = f"{flagged} connectors need attention"
    if domains:
        text += f"; {domains} receiving domain{'s report' if domains > 1 else ' reports'} TLS failures"
    if compared:
        new = sum(1 for i in attention if i["status"] == "new")
        resolved = sum(1 for i in insights if i["status"] == "resolved")
        changes = [f"{new} new finding{'s' if new > 1 else ''}"] if new else []
        changes += [f"{resolved} resolved"] if resolved else []
        text += "; " + ", ".join(changes) if changes else "; nothing new"
    if missing:
        text += f"; incomplete: {len(missing)} day{'s' if len(missing) > 1 else ''} missing"
    return text

"""The weekly report as data: shares, insights and completeness, from the report views' rows.

Pure functions: no database, no clock, no files. `etl.report.queries` runs the views and
`etl.report.render` renders; this module decides what the numbers mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from etl.config import Settings
from etl.contract import REPORTED_DIRECTIONS, TLS_BUCKETS
from etl.report.document import SCHEMA_VERSION, ConnectorTls, Insight, Report, TlsBlock
from etl.shares import percentage, percentages_above

ENCRYPTED_BUCKETS = ("TLS1.3", "TLS1.2", "TLS1.1", "TLS1.0")
COUNTING_UNIT = ("Counting unit: one message per recipient (one trace row). Distribution-list expansion rows "
                 "(Status Expanded) are not messages, and internal mail, which neither enters nor leaves "
                 "the organisation, is not part of this report.")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    bucket: str
    title: str
    severity: int  # 1 = most severe


RULES = (
    Rule("no_tls", "none", "No TLS is over {threshold:g}%", 1),
    Rule("tls10", "TLS1.0", "TLS 1.0 is above {threshold:g}%", 2),
)


@dataclass(frozen=True)
class Thresholds:
    no_tls_pct: float = 25.0
    tls10_pct: float = 50.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(settings.no_tls_pct, settings.tls10_pct)

    def for_rule(self, rule: Rule) -> float:
        return {"no_tls": self.no_tls_pct, "tls10": self.tls10_pct}[rule.rule_id]

    def by_bucket(self) -> list[tuple[str, float]]:
        """(TLS bucket, threshold) of every rule."""
        return [(rule.bucket, self.for_rule(rule)) for rule in RULES]


def _tls_block(counts: dict[str, int], thresholds: Thresholds) -> TlsBlock:
    tls = {b: counts.get(b, 0) for b in TLS_BUCKETS}
    total = sum(tls.values())
    return {
        "messages": total,
        "tls": tls,
        "tls_pct": percentages_above(tls, TLS_BUCKETS, thresholds.by_bucket()),
        "encrypted_pct": percentage(sum(tls[b] for b in ENCRYPTED_BUCKETS), total),
    }


def build_report(*, start: date, end: date, connector: str | None, direction: str | None,
                 thresholds: Thresholds, generated_at: datetime, days: list[dict], daily: list[dict],
                 connector_tls: list[dict], snapshot_tls: list[dict], remote_domains: list[dict]) -> Report:
    """The report, in the shape of report.json. Rows come from the sql/report/*.sql views."""
    missing = [_iso(d["date"]) for d in days if not d["loaded"]]
    present = [d for d in days if d["loaded"]]
    rows_read = sum(d["rows_read"] for d in present)
    rows_quarantined = sum(d["rows_quarantined"] for d in present)

    snapshot_counts: dict[str, dict[str, int]] = {}
    for r in snapshot_tls:
        snapshot_counts.setdefault(r["direction"], {})[r["tls_version"]] = r["messages"]
    directions = (direction,) if direction else REPORTED_DIRECTIONS
    snapshot = {d: _tls_block(snapshot_counts.get(d, {}), thresholds) for d in directions}

    groups: dict[tuple, dict[str, int]] = {}
    for r in connector_tls:
        groups.setdefault((r["connector"], r["direction"]), {})[r["tls_version"]] = r["messages"]
    connectors = [
        {"connector": name, "direction": d, **_tls_block(counts, thresholds)}
        for (name, d), counts in sorted(groups.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or "", kv[0][1]))
    ]

    insights = _insights(connectors, remote_domains, thresholds)
    flagged = {(i["connector"], i["direction"]) for i in insights}

    all_mail_flow: dict[tuple, int] = {}
    for r in daily:
        key = (_iso(r["date"]), r["direction"])
        all_mail_flow[key] = all_mail_flow.get(key, 0) + r["messages"]

    return {
        "schema_version": SCHEMA_VERSION,
        "title": "Mail flow & TLS report",
        "headline": _headline(len(flagged), missing),
        "window": {"start": start.isoformat(), "end": end.isoformat(), "days": len(days), "missing_days": missing},
        "completeness": {
            "days_expected": len(days),
            "days_present": len(present),
            "rows_read": rows_read,
            "rows_quarantined": rows_quarantined,
            "quarantined_pct": percentage(rows_quarantined, rows_read),
        },
        "filters": {"connector": connector, "direction": direction},
        "thresholds": {"no_tls_pct": thresholds.no_tls_pct, "tls10_pct": thresholds.tls10_pct},
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "counting_unit": COUNTING_UNIT,
        "snapshot": snapshot,
        "connectors": connectors,
        "all_mail_flow": [{"date": k[0], "direction": k[1], "messages": v} for k, v in sorted(all_mail_flow.items())],
        "daily": [{"date": _iso(r["date"]), "connector": r["connector"], "direction": r["direction"],
                   "messages": r["messages"]} for r in daily],
        "insights": insights,
    }


def _iso(day: date | str) -> str:
    return day if isinstance(day, str) else day.isoformat()


def _insights(connectors: list[ConnectorTls], remote_domains: list[dict], thresholds: Thresholds) -> list[Insight]:
    found = []
    for group in connectors:
        total = group["messages"]
        for rule in RULES:
            threshold = thresholds.for_rule(rule)
            offending = group["tls"][rule.bucket]
            # exact comparison on counts: 250 of 1000 is 25.0% and does not exceed 25
            if total == 0 or Decimal(100 * offending) <= Decimal(str(threshold)) * total:
                continue
            domains = [{"domain": d["remote_domain"], "messages": d["messages"]} for d in remote_domains
                       if d["connector"] == group["connector"] and d["direction"] == group["direction"]
                       and d["tls_version"] == rule.bucket]
            found.append({
                "connector": group["connector"],
                "direction": group["direction"],
                "rule": rule.rule_id,
                "title": rule.title.format(threshold=threshold),
                "severity": rule.severity,
                "share_pct": group["tls_pct"][rule.bucket],  # the figure the TLS table shows
                "threshold_pct": threshold,
                "messages": offending,
                "messages_total": total,
                "top_remote_domains": domains,
            })
    found.sort(key=lambda i: (i["severity"], -i["messages"], i["connector"] or "", i["direction"]))
    return found


def _headline(flagged: int, missing: list[str]) -> str:
    if flagged == 0:
        text = "no connector needs attention"
    elif flagged == 1:
        text = "1 connector needs attention"
    else:
        text = f"{flagged} connectors need attention"
    if missing:
        text += f"; incomplete: {len(missing)} day{'s' if len(missing) > 1 else ''} missing"
    return text

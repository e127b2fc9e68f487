"""One CSV per report view, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

from etl.contract import TLS_BUCKETS, connector_label
from etl.report.names import escape_controls

# A cell starting with one of these is read as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """Text for a CSV cell: control and bidi characters written out (`\\u000A`), so that a name
    cannot break a row or turn the text around it; a leading formula character is defused with a
    leading apostrophe. Numbers are written as they are: a negative change (-20.0) is a number, not a
    formula, and must stay one for the spreadsheet."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    text = "" if value is None else escape_controls(str(value))
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv(header: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[neutralise(v) for v in row] for row in rows])
    return out.getvalue().encode("utf-8")


def view_csvs(report: dict) -> dict[str, bytes]:
    buckets = list(TLS_BUCKETS)
    return {
        "mail_flow_daily.csv": _csv(["date", "connector", "direction", "messages"],
                                    [[d["date"], connector_label(d["connector"]), d["direction"], d["messages"]]
                                     for d in report["daily"]]),
        "tls_usage.csv": _csv(["connector", "direction", "messages", "encrypted_pct"]
                              + [f"{b}_messages" for b in buckets] + [f"{b}_pct" for b in buckets]
                              + ["previous_messages", "previous_encrypted_pct"]
                              + [f"previous_{b}_pct" for b in buckets]
                              + ["encrypted_change_pp"] + [f"{b}_change_pp" for b in buckets],
                              [_usage_row(c, buckets) for c in report["connectors"]]),
        "trend.csv": _csv(["connector", "direction", "window_start", "window_end", "days_expected", "days_present",
                           "messages", "encrypted_pct", "none_pct", "tls10_pct"],
                          [[connector_label(c["connector"]), c["direction"], w["start"], w["end"], w["days_expected"],
                            w["days_present"], *_trend_cells(p)]
                           for c in report["connectors"]
                           for w, p in zip(report["trend"]["windows"], c["trend"], strict=True)]),
        "protected_in_transit.csv": _csv(["direction", "messages", "encrypted_pct"] + [f"{b}_pct" for b in buckets],
                                         [[d, s["messages"], s["encrypted_pct"]] + [s["tls_pct"][b] for b in buckets]
                                          for d, s in report["snapshot"].items()]),
        "insights.csv": _csv(["connector", "direction", "rule", "status", "since", "share_pct", "previous_share_pct",
                              "threshold_pct", "messages", "messages_total", "previous_messages_total",
                              "top_remote_domains", "policy_domain"],
                             [[connector_label(i["connector"]), i["direction"], i["rule"], i["status"], i["since"],
                               i["share_pct"], i["previous_share_pct"], i["threshold_pct"], i["messages"],
                               i["messages_total"], i["previous_messages_total"],
                               "; ".join(f"{d['domain']} ({d['messages']})" for d in i["top_remote_domains"]),
                               i["policy_domain"]]
                              for i in report["insights"]]),
        # absent, not empty, when no SMTP TLS report covers the window
        **({"tlsrpt.csv": _csv(["policy_domain", "direction", "policy_type", "policy_types", "connectors",
                                "successful_sessions", "failed_sessions", "failure_pct", "previous_failure_pct",
                                "failures", "reporters"],
                               [[d["policy_domain"], d["direction"], d["policy_type"], "; ".join(d["policy_types"]),
                                 "; ".join(d["connectors"]), d["successful_sessions"], d["failed_sessions"],
                                 d["failure_pct"], d["previous_failure_pct"],
                                 "; ".join(f"{kind} ({count})" for kind, count in d["failures"].items()),
                                 "; ".join(d["reporters"])] for d in report["tlsrpt"]])}
           if report["tlsrpt"] is not None else {}),
    }


def _usage_row(c: dict, buckets: list[str]) -> list:
    """A connector's figures now, then (empty when the previous window has no data) and the changes
    (empty unless it had mail in both)."""
    then, change = c["previous"], c["change_pp"]
    return ([connector_label(c["connector"]), c["direction"], c["messages"], c["encrypted_pct"]]
            + [c["tls"][b] for b in buckets] + [c["tls_pct"][b] for b in buckets]
            + ([then["messages"], then["encrypted_pct"]] + [then["tls_pct"][b] for b in buckets]
               if then else [None] * (2 + len(buckets)))
            + ([change["encrypted"]] + [change[b] for b in buckets] if change else [None] * (1 + len(buckets))))


def _trend_cells(point: dict | None) -> list:
    """Empty cells for a window without data: missing, not zero."""
    if point is None:
        return [None] * 4
    return [point["messages"], point["encrypted_pct"], point["none_pct"], point["tls10_pct"]]

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
    leading apostrophe."""
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
        "tls_usage.csv": _csv(["connector", "direction", "messages"] + [f"{b}_messages" for b in buckets]
                              + [f"{b}_pct" for b in buckets],
                              [[connector_label(c["connector"]), c["direction"], c["messages"]]
                               + [c["tls"][b] for b in buckets] + [c["tls_pct"][b] for b in buckets]
                               for c in report["connectors"]]),
        "protected_in_transit.csv": _csv(["direction", "messages", "encrypted_pct"] + [f"{b}_pct" for b in buckets],
                                         [[d, s["messages"], s["encrypted_pct"]] + [s["tls_pct"][b] for b in buckets]
                                          for d, s in report["snapshot"].items()]),
        "insights.csv": _csv(["connector", "direction", "rule", "share_pct", "threshold_pct", "messages",
                              "top_remote_domains"],
                             [[connector_label(i["connector"]), i["direction"], i["rule"], i["share_pct"],
                               i["threshold_pct"], i["messages"],
                               "; ".join(f"{d['domain']} ({d['messages']})" for d in i["top_remote_domains"])]
                              for i in report["insights"]]),
    }

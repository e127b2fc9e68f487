"""What the HTML outputs draw: colours, bar segments and chart geometry, computed from the
report here so that the templates only place what they are given.
"""

from __future__ import annotations

from etl.contract import TLS_BUCKETS
from etl.report.names import text_name
from etl.report.tlsrpt import shown_domains
from etl.report.view_changes import (
    NO_DATA,
    STRIP_BANDS,
    insight_detail,
    previous_label,
    sparkline,
    status_badge,
    trend_strip,
)
from etl.report.view_email import email_flow, window_days
from etl.report.view_tlsrpt import failure_types

TLS_COLOURS = {
    "TLS1.3": "#1b7f3b",
    "TLS1.2": "#52a868",
    "TLS1.1": "#e0b100",
    "TLS1.0": "#e07b00",
    "none": "#c62828",
    "unknown": "#9e9e9e",
}
TLS_LABELS = {"TLS1.3": "TLS 1.3", "TLS1.2": "TLS 1.2", "TLS1.1": "TLS 1.1", "TLS1.0": "TLS 1.0",
              "none": "No TLS", "unknown": "Not recorded"}
SERIES_COLOURS = ("#1f4e79", "#2e86c1", "#5dade2", "#117a65", "#48c9b0", "#7d3c98", "#af7ac5", "#b9770e",
                  "#dc7633", "#566573", "#a6acaf", "#922b21")

CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 720, 220, 48, 28


def segments(tls_pct: dict[str, float]) -> list[dict]:
    """A 100% bar: one segment per TLS bucket with a share."""
    return [{"bucket": b, "label": TLS_LABELS[b], "pct": tls_pct[b], "colour": TLS_COLOURS[b]}
            for b in TLS_BUCKETS if tls_pct[b] > 0]


def connector_keys(report: dict) -> dict:
    """A stable key per connector name (None included), for the drop-down and data attributes."""
    names = sorted({c["connector"] for c in report["connectors"]} | {d["connector"] for d in report["daily"]},
                   key=lambda n: (n is None, n or ""))
    return {name: f"c{i}" for i, name in enumerate(names)}


def daily_chart(report: dict, direction: str, keys: dict) -> dict:
    """Stacked columns: messages per day, one colour per connector, for one direction."""
    days = window_days(report)
    rows = [r for r in report["daily"] if r["direction"] == direction]
    names = sorted({r["connector"] for r in rows}, key=lambda n: (n is None, n or ""))
    per_day = {day: {} for day in days}
    for r in rows:
        per_day.setdefault(r["date"], {})[r["connector"]] = r["messages"]
    peak = max([sum(v.values()) for v in per_day.values()] + [1])
    plot_w, plot_h = CHART_WIDTH - CHART_LEFT - 8, CHART_HEIGHT - CHART_BOTTOM - 10
    step = plot_w / max(len(days), 1)
    bar_w = max(min(step * 0.7, 48), 2)
    missing = set(report["window"]["missing_days"])
    columns = []
    for i, day in enumerate(days):
        x = CHART_LEFT + i * step + (step - bar_w) / 2
        y = 10 + plot_h
        rects = []
        for name in names:
            n = per_day.get(day, {}).get(name, 0)
            if not n:
                continue
            h = n / peak * plot_h
            y -= h
            rects.append({"x": round(x, 1), "y": round(y, 1), "w": round(bar_w, 1), "h": round(h, 1),
                          "colour": SERIES_COLOURS[names.index(name) % len(SERIES_COLOURS)],
                          "title": f"{day} · {text_name(name, None)}: {n:,} messages", "key": keys.get(name)})
        columns.append({"x": round(x + bar_w / 2, 1), "label": day[5:], "rects": rects, "missing": day in missing,
                        "total": sum(per_day.get(day, {}).values())})
    return {
        "direction": direction,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "baseline": 10 + plot_h,
        "peak": peak,
        "columns": columns,
        "show_labels": len(days) <= 31,
        "legend": [{"connector": n, "colour": SERIES_COLOURS[i % len(SERIES_COLOURS)], "key": keys.get(n)}
                   for i, n in enumerate(names)],
    }


def view(report: dict) -> dict:
    """Everything the HTML templates need besides the report itself."""
    keys = connector_keys(report)
    domains = shown_domains(report)
    return {
        "connector_keys": keys,
        "connector_options": [{"key": k, "label": text_name(n)} for n, k in keys.items()],
        "snapshot": {d: {**s, "segments": segments(s["tls_pct"])} for d, s in report["snapshot"].items()},
        "connectors": [{**c, "key": keys[c["connector"]],
                        "segments": segments(c["tls_pct"])} for c in report["connectors"]],
        "insights": [{**i, "key": keys.get(i["connector"]), "detail": insight_detail(i, report),
                      "badge": status_badge(i, report)} for i in report["insights"]],
        "sparklines": [sparkline(c["trend"], report["trend"]["windows"]) for c in report["connectors"]],
        "strips": [trend_strip(c["trend"], report["trend"]["windows"]) for c in report["connectors"]],
        "previous_label": previous_label(report),
        "strip_legend": [{"label": label, "colour": colour} for _, colour, label in STRIP_BANDS]
        + [{"label": "incomplete or no data", "colour": NO_DATA}],
        "email_flow": email_flow(report),
        "charts": [daily_chart(report, d, keys) for d in ("inbound", "outbound")
                   if report["filters"]["direction"] in (None, d)],
        "tls_legend": [{"label": TLS_LABELS[b], "colour": TLS_COLOURS[b]} for b in TLS_BUCKETS],
        "tls_labels": TLS_LABELS,
        "tls_colours": TLS_COLOURS,
        "failure_types": failure_types,
        "tlsrpt": domains,
        "tlsrpt_not_shown": len(report["tlsrpt"] or []) - len(domains),
    }

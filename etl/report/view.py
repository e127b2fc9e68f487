"""What the HTML outputs draw: colours, bar segments and chart geometry, computed from the
report here so that the templates only place what they are given.
"""

from __future__ import annotations

from datetime import date, timedelta

from etl.contract import TLS_BUCKETS
from etl.report.names import text_name
from etl.report.request import ReportRequest
from etl.shares import format_pct, format_points

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
    days = [d for d in _window_days(report)]
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


def _window_days(report: dict) -> list[str]:
    start, end = date.fromisoformat(report["window"]["start"]), date.fromisoformat(report["window"]["end"])
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def view(report: dict) -> dict:
    """Everything the HTML templates need besides the report itself."""
    keys = connector_keys(report)
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
    }


# -- what changed ------------------------------------------------------------------------------

def previous_label(report: dict) -> str:
    """`the previous week`, `the previous month`, `the previous 3 days`."""
    period = report["trend"]["period"]
    return f"the previous {period}"


def status_badge(insight: dict, report: dict) -> str:
    """`New`, `Persisting since 2026-11-02 (3 weeks)`, `Resolved`."""
    if insight["status"] == "new":
        return "New"
    if insight["status"] == "resolved":
        return "Resolved"
    request = ReportRequest(date.fromisoformat(report["window"]["start"]), date.fromisoformat(report["window"]["end"]))
    since, windows = date.fromisoformat(insight["since"]), 1
    while request.earlier(windows - 1).start > since:
        windows += 1
    period = report["trend"]["period"]
    unit = {"week": "weeks", "month": "months"}.get(period, f"windows of {period}")
    return f"Persisting since {insight['since']} ({windows} {unit})"


def insight_detail(insight: dict, report: dict) -> str:
    """One sentence with the figures the insight fires (or fired) on, now and in the previous window."""
    then = previous_label(report)
    now, before = insight["share_pct"], insight["previous_share_pct"]
    total, before_total = insight["messages_total"], insight["previous_messages_total"]
    was = f"; {format_pct(before)} in {then}" if before is not None else ""
    if insight["rule"] == "silent_connector":
        return f"No mail in this window; {before_total:,} messages in {then}."
    if insight["rule"] == "new_connector":
        return f"{total:,} messages in this window; none in {then}."
    if insight["rule"] == "regression":
        return (f"Encrypted (TLS 1.2 or 1.3): {format_pct(now)} of {total:,} messages, down from {format_pct(before)} "
                f"of {before_total:,} in {then} ({format_points(now - before)} points).")
    if insight["status"] == "resolved":
        if now is None:
            return f"No mail in this window; it was {format_pct(before)} of {before_total:,} messages in {then}."
        return f"Now {format_pct(now)} of {total:,} messages; it was {format_pct(before)} in {then}."
    return f"{format_pct(now)} of {total:,} messages ({insight['messages']:,}){was}."


SPARK_WIDTH, SPARK_HEIGHT, SPARK_SLOTS = 132, 30, 12
SPARK_SERIES = (("encrypted_pct", "Encrypted", "#1b7f3b"), ("none_pct", "No TLS", "#c62828"),
                ("tls10_pct", "TLS 1.0", "#e07b00"))
INCOMPLETE, NO_DATA = "#fdebd0", "#e5e8eb"


def sparkline(points: list[dict | None], windows: list[dict]) -> dict:
    """A connector row's trend as SVG geometry: one line per share (broken where a window has no data
    or no mail, never drawn down to zero) over 0-100%, and shaded slots for incomplete windows and
    windows without data."""
    step = SPARK_WIDTH / SPARK_SLOTS
    offset = (SPARK_SLOTS - len(windows)) * step  # the newest window on the right edge

    def y(share: float) -> float:
        return round(2 + (100 - share) * (SPARK_HEIGHT - 4) / 100, 1)

    lines = []
    for key, label, colour in SPARK_SERIES:
        runs, run = [], []
        for i, point in enumerate(points):
            if point is None or point[key] is None:
                if run:
                    runs.append(run)
                run = []
                continue
            run.append((round(offset + (i + 0.5) * step, 1), y(point[key])))
        if run:
            runs.append(run)
        lines.append({"label": label, "colour": colour,
                      "runs": [" ".join(f"{x},{yy}" for x, yy in r) for r in runs if len(r) > 1],
                      "dots": [r[0] for r in runs if len(r) == 1]})
    slots = []
    for i, (window, point) in enumerate(zip(windows, points, strict=True)):
        incomplete = window["days_present"] < window["days_expected"]
        if point is None:
            note = "no data"
        elif point["encrypted_pct"] is None:
            note = "no mail"
        else:
            note = (f"{point['messages']:,} messages; encrypted {format_pct(point['encrypted_pct'])}, "
                    f"No TLS {format_pct(point['none_pct'])}, TLS 1.0 {format_pct(point['tls10_pct'])}")
        if incomplete and point is not None:
            note += f" (incomplete: {window['days_present']} of {window['days_expected']} days)"
        slots.append({"x": round(offset + i * step, 1), "w": round(step, 1),
                      "fill": NO_DATA if point is None else INCOMPLETE if incomplete else None,
                      "title": f"{window['start']} to {window['end']}: {note}"})
    encrypted = [p["encrypted_pct"] if p and p["encrypted_pct"] is not None else None for p in points]
    summary = ", ".join("no data" if v is None else format_pct(v) for v in encrypted)
    return {"width": SPARK_WIDTH, "height": SPARK_HEIGHT, "lines": lines, "slots": slots,
            "label": f"Encrypted share per window, oldest first: {summary}"}


# The email's trend strip: one table cell per window, coloured by the encrypted share's band
STRIP_BANDS = ((95.0, "#1b7f3b", "95% or more encrypted"), (80.0, "#8bc34a", "80-95%"),
               (50.0, "#e0b100", "50-80%"), (0.0, "#c62828", "under 50%"))
STRIP_CELL = 7  # pixels per window


def trend_strip(points: list[dict | None], windows: list[dict]) -> list[dict]:
    """Cells of the email's trend strip, oldest first; neighbours of one colour merge into one wider cell
    (a long email must stay under 100 KB). Incomplete windows and windows without mail show grey."""
    cells: list[dict] = []
    for window, point in zip(windows, points, strict=True):
        share = point["encrypted_pct"] if point else None
        if share is None or window["days_present"] < window["days_expected"]:
            colour = NO_DATA
        else:
            colour = next(c for floor, c, _ in STRIP_BANDS if share >= floor)
        if cells and cells[-1]["colour"] == colour:
            cells[-1]["width"] += STRIP_CELL
        else:
            cells.append({"colour": colour, "width": STRIP_CELL})
    return cells


EMAIL_DAILY_LIMIT = 31  # days; a longer window's email folds its daily table into weeks


def email_flow(report: dict) -> list[dict]:
    """The email's mail flow table: one row per day and direction, or past EMAIL_DAILY_LIMIT days one
    per week (Monday to Sunday, cut to the window) and direction; days missing are counted, never zero.
    report.html, the text part and the CSVs keep every day."""
    missing = set(report["window"]["missing_days"])
    days = _window_days(report)
    by_week = len(days) > EMAIL_DAILY_LIMIT

    def period(day: str) -> str:
        if not by_week:
            return day
        return (date.fromisoformat(day) - timedelta(days=date.fromisoformat(day).weekday())).isoformat()

    periods: dict[str, list[str]] = {}
    for day in days:
        periods.setdefault(period(day), []).append(day)
    messages: dict[tuple[str, str], int] = {}
    for flow in report["all_mail_flow"]:
        key = (period(flow["date"]), flow["direction"])
        messages[key] = messages.get(key, 0) + flow["messages"]
    directions = [d for d in ("inbound", "outbound") if report["filters"]["direction"] in (None, d)]
    rows = []
    for key, period_days in periods.items():
        label = f"{period_days[0]} to {period_days[-1]}" if by_week else key
        absent = [d for d in period_days if d in missing]
        for direction in directions:
            rows.append({"label": label, "direction": direction, "messages": messages.get((key, direction), 0),
                         "days": len(period_days), "missing": len(absent), "first": direction == directions[0]})
    return rows


def email_selection(report: dict, v: dict, insight_limit: int | None, row_limit: int | None) -> dict:
    """What the email shows when the whole report would not fit its size budget: the first insights
    (new ones come first) and the connector rows those insights are about, then the busiest; the
    count of the rest, which the attached CSVs and report.html keep."""
    insights = v["insights"][:insight_limit]
    rows = list(range(len(report["connectors"])))
    if row_limit is not None and len(rows) > row_limit:
        about = {(i["connector"], i["direction"]) for i in v["insights"]}
        ranked = sorted(rows, key=lambda n: ((report["connectors"][n]["connector"],
                                              report["connectors"][n]["direction"]) not in about,
                                             -report["connectors"][n]["messages"]))
        rows = sorted(ranked[:row_limit])
    return {"insights": insights, "more_insights": len(v["insights"]) - len(insights),
            "rows": [{**v["connectors"][n], "strip": v["strips"][n]} for n in rows],
            "more_rows": len(report["connectors"]) - len(rows)}

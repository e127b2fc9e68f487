"""What the outputs draw of what changed: each insight's status and sentence, the report.html
sparklines and the email's trend strips, computed here so that the templates only place them."""

from __future__ import annotations

from datetime import date

from etl.report.request import ReportRequest
from etl.report.view_tlsrpt import tlsrpt_detail
from etl.shares import format_pct, format_points


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
    if insight["policy_domain"] is not None:
        return tlsrpt_detail(insight, report, then)
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

"""What the email shows: its mail flow table (folded into weeks past a month) and, when the whole
report would pass the email's size budget, which insights and connector rows it keeps."""

from __future__ import annotations

from datetime import date, timedelta

from etl.report.request import ReportRequest


def window_days(report: dict) -> list[str]:
    """Every day of the report's window, as ISO dates."""
    window = report["window"]
    request = ReportRequest(date.fromisoformat(window["start"]), date.fromisoformat(window["end"]))
    return [day.isoformat() for day in request.dates()]


EMAIL_DAILY_LIMIT = 31  # days; a longer window's email folds its daily table into weeks


def email_flow(report: dict) -> list[dict]:
    """The email's mail flow table: one row per day and direction, or past EMAIL_DAILY_LIMIT days one
    per week (Monday to Sunday, cut to the window) and direction; days missing are counted, never zero.
    report.html, the text part and the CSVs keep every day."""
    missing = set(report["window"]["missing_days"])
    days = window_days(report)
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
    domains = v["tlsrpt"]
    shown = domains[:row_limit] if row_limit is not None else domains
    return {"insights": insights, "more_insights": len(v["insights"]) - len(insights),
            "rows": [{**v["connectors"][n], "strip": v["strips"][n]} for n in rows],
            "more_rows": len(report["connectors"]) - len(rows),
            "tlsrpt": shown, "more_tlsrpt": len(report["tlsrpt"] or []) - len(shown)}

"""Build the mail flow & TLS report for a window from the warehouse, and write its outputs.

The views are the sql/report_*.sql files, run on the daily aggregates (never on raw rows);
etl.report_model turns their rows into the report; Jinja2 templates render it.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from . import sql
from .config import Settings
from .contract import TLS_BUCKETS
from .duck import connect
from .report_model import RULES, Thresholds, build_report
from .report_view import view
from .storage import write_bytes_atomic

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
MAX_WINDOW_DAYS = 366
TOP_DOMAINS = 5
FORMATS = ("html", "email", "txt", "json")
OUTPUT_NAMES = {"html": "report.html", "email": "email.html", "txt": "report.txt", "json": "report.json"}
TEMPLATE_NAMES = {"html": "report.html.j2", "email": "email.html.j2", "txt": "report.txt.j2"}


class ReportError(Exception):
    """The report cannot be made as asked; the message says why in one line."""


def last_complete_days(today: date, days: int = 7) -> tuple[date, date]:
    """The `days` UTC days before `today`."""
    return today - timedelta(days=days), today - timedelta(days=1)


def previous_week(day: date) -> tuple[date, date]:
    """Monday to Sunday of the ISO week before the one holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def check_window(start: date, end: date) -> None:
    if end < start:
        raise ReportError(f"the window ends ({end}) before it starts ({start})")
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        raise ReportError(f"the window is {(end - start).days + 1} days; at most {MAX_WINDOW_DAYS} are allowed")


def _rows(con, name: str, params: dict) -> list[dict]:
    cursor = con.execute(sql.load(name), params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _open_warehouse(settings: Settings, start: date, end: date, direction: str | None = None):
    check_window(start, end)
    if direction not in (None, "inbound", "outbound"):
        raise ReportError(f"direction must be inbound or outbound, not {direction!r}")
    if not settings.warehouse.exists():
        raise ReportError(f"no warehouse at {settings.warehouse}; load some days first (python -m etl ingest)")
    return connect(settings.warehouse, read_only=True)


def query_views(settings: Settings, start: date, end: date, *, connector: str | None = None,
                direction: str | None = None) -> dict:
    """The rows of every report view for the window and filters (dates as ISO text)."""
    window = {"start": start, "end": end}
    filters = {**window, "connector": connector, "direction": direction}
    con = _open_warehouse(settings, start, end, direction)
    try:
        views = {
            "days": _rows(con, "report_days", window),
            "daily": _rows(con, "report_daily_flow", filters),
            "connector_tls": _rows(con, "report_connector_tls", filters),
            "snapshot_tls": _rows(con, "report_snapshot_tls", {**window, "direction": direction}),
            "remote_domains": _rows(con, "report_remote_domains", {
                **filters, "buckets": [rule.bucket for rule in RULES], "top": TOP_DOMAINS}),
        }
    finally:
        con.close()
    for rows in views.values():
        for row in rows:
            if isinstance(row.get("date"), date):
                row["date"] = row["date"].isoformat()
    return {"start": start.isoformat(), "end": end.isoformat(), "connector": connector, "direction": direction,
            "views": views}


def from_views(views: dict, thresholds: Thresholds, generated_at: datetime) -> dict:
    """The report (insights and all) from what query_views returned."""
    return build_report(
        start=date.fromisoformat(views["start"]), end=date.fromisoformat(views["end"]),
        connector=views["connector"], direction=views["direction"], thresholds=thresholds,
        generated_at=generated_at, **views["views"])


def compute(settings: Settings, start: date, end: date, *, connector: str | None = None,
            direction: str | None = None, thresholds: Thresholds | None = None,
            generated_at: datetime) -> dict:
    views = query_views(settings, start, end, connector=connector, direction=direction)
    return from_views(views, thresholds or Thresholds(), generated_at)


def window_name(start: date, end: date, connector: str | None, direction: str | None) -> str:
    """`<start>_<end>[_connector-<name>][_<direction>]`, safe as a folder name."""
    name = f"{start.isoformat()}_{end.isoformat()}"
    if connector is not None:
        name += "_connector-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in connector)
    if direction is not None:
        name += f"_{direction}"
    return name


def report_dir(settings: Settings, start: date, end: date, connector: str | None, direction: str | None) -> Path:
    """Where a run's outputs go: one folder per window and filter, replaced file by file on a re-run."""
    return settings.home / "reports" / window_name(start, end, connector, direction)


@cache
def environment() -> Environment:
    """Autoescape on for every HTML template; StrictUndefined so a missing value fails loudly."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["pct"] = lambda x: f"{x:.1f}%"
    env.filters["connector"] = lambda name: "No connector" if name is None else name
    env.globals["buckets"] = TLS_BUCKETS
    return env


def render(report: dict, fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if fmt not in TEMPLATE_NAMES:
        raise ReportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    template = environment().get_template(TEMPLATE_NAMES[fmt])
    return template.render(report=report, v=view(report)).encode("utf-8")


def write(report: dict, out: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out / OUTPUT_NAMES[fmt]
        write_bytes_atomic(path, render(report, fmt))
        paths.append(path)
    return paths


# -- the weekly DAG's steps: each reads and writes files in the report folder, and passes paths --

def completeness(settings: Settings, start: date, end: date) -> dict:
    """Which days of the window are loaded. A missing day does not stop the report: it is marked."""
    con = _open_warehouse(settings, start, end)
    try:
        days = _rows(con, "report_days", {"start": start, "end": end})
    finally:
        con.close()
    return {"days_expected": len(days), "days_present": sum(1 for d in days if d["loaded"]),
            "missing_days": [d["date"].isoformat() for d in days if not d["loaded"]]}


def save_views(settings: Settings, start: date, end: date, connector: str | None, direction: str | None) -> Path:
    folder = report_dir(settings, start, end, connector, direction)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "views.json"
    write_bytes_atomic(path, (json.dumps(query_views(settings, start, end, connector=connector,
                                                     direction=direction), indent=2) + "\n").encode("utf-8"))
    return path


def save_report(views_path: Path, thresholds: Thresholds, generated_at: datetime) -> Path:
    report = from_views(json.loads(views_path.read_text(encoding="utf-8")), thresholds, generated_at)
    path = views_path.with_name(OUTPUT_NAMES["json"])
    write_bytes_atomic(path, render(report, "json"))
    return path


def render_saved(report_path: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    report = json.loads(report_path.read_text(encoding="utf-8"))
    return write(report, report_path.parent, formats)

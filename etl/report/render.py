"""The report's outputs, rendered from the report document: report.html (for a browser),
email.html (for any mail client), report.txt, report.json, and one CSV per view."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from etl.contract import TLS_BUCKETS
from etl.errors import ReportError
from etl.report.csv_views import view_csvs
from etl.report.document import Report
from etl.report.names import html_name, text_name
from etl.report.view import view
from etl.report.view_email import email_selection
from etl.shares import format_pct, format_points

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
FORMATS = ("html", "email", "txt", "json")
OUTPUT_NAMES = {"html": "report.html", "email": "email.html", "txt": "report.txt", "json": "report.json"}
TEMPLATE_NAMES = {"html": "report.html.j2", "email": "email.html.j2", "txt": "report.txt.j2"}
# Gmail clips a message whose HTML passes about 102 KB: the email shows fewer insights and connector
# rows, saying how many more the attachments hold, until it fits
EMAIL_BUDGET = 100_000
EMAIL_LIMITS = ((None, None), (60, 160), (40, 140), (40, 120), (30, 100), (20, 80), (20, 60), (10, 40), (5, 20),
                (5, 10))


def parse_formats(text: str) -> tuple[str, ...]:
    """`html,json` -> ("html", "json"); an unknown or empty list is one error."""
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ReportError(f"unknown format {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}")
    return formats


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
    env.filters["pct"] = format_pct
    env.filters["pp"] = format_points
    env.filters["text_name"] = text_name
    env.filters["html_name"] = html_name
    env.globals["buckets"] = TLS_BUCKETS
    return env


def to_json(report: Report) -> bytes:
    return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def render(report: Report, fmt: str) -> bytes:
    if fmt == "json":
        return to_json(report)
    if fmt not in TEMPLATE_NAMES:
        raise ReportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    template = environment().get_template(TEMPLATE_NAMES[fmt])
    v = view(report)
    if fmt != "email":
        return template.render(report=report, v=v).encode("utf-8")
    for insights, rows in EMAIL_LIMITS:
        html = template.render(report=report, v=v, e=email_selection(report, v, insights, rows)).encode("utf-8")
        if len(html) <= EMAIL_BUDGET:
            break
    return html


def render_outputs(report: Report, formats: tuple[str, ...] = FORMATS) -> dict[str, bytes]:
    """File name -> bytes of every output asked for."""
    return {OUTPUT_NAMES[fmt]: render(report, fmt) for fmt in formats}


def render_all(report: Report) -> dict[str, bytes]:
    """Every output and every view CSV: what a report run publishes and the archive keeps."""
    return {**render_outputs(report), **view_csvs(report)}

"""report.pdf: the content of report.html laid out for paper, for auditors who file PDFs.

WeasyPrint renders the same HTML (its print styles: no drop-down, every detail open; tables that
break across pages repeat their header row; the charts stay vector graphics) as PDF/A-2b, with
the report id, the revision and the content hash of the archived report in the document's
metadata and in every page's footer. Pages are landscape, where the widest tables (a row per
connector with every TLS version, then and now) fit at a readable size. MAILFLOW_PDF_PAPER picks
the paper: A4 (default) or letter.
"""

from __future__ import annotations

import os
from importlib.metadata import version

from markupsafe import escape

from etl.errors import ConfigError

PDF_VARIANT = "pdf/a-2b"
PAPERS = {"a4": "A4", "letter": "letter"}


def renderer() -> dict:
    """What made the PDF: recorded in the manifest."""
    return {"weasyprint": version("weasyprint"), "pdf_variant": PDF_VARIANT, "paper": paper()}


def paper() -> str:
    chosen = (os.environ.get("MAILFLOW_PDF_PAPER") or "a4").lower()
    if chosen not in PAPERS:
        raise ConfigError(f"MAILFLOW_PDF_PAPER={chosen!r}: choose a4 or letter")
    return PAPERS[chosen]


def _css_string(text: str) -> str:
    """A CSS string literal holding `text` as text."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def render_pdf(report: dict, html: bytes, *, report_id: str, revision: int, content_sha256: str) -> bytes:
    from weasyprint import HTML

    label = f"{report_id} r{revision}"
    stamp = f"{label} · content SHA-256 {content_sha256}"
    head = (
        f'<meta name="author" content="mailflow">'
        f'<meta name="description" content="{escape(report["headline"])}">'
        f'<meta name="keywords" content="{escape(label)}, content-sha256 {content_sha256}">'
        f'<meta name="generator" content="mailflow, WeasyPrint {version("weasyprint")}">'
        f'<meta name="dcterms.created" content="{escape(report["generated_at"])}">'
        "<style>"
        f"@page {{ size: {paper()} landscape; margin: 12mm 12mm 14mm;"
        f" @bottom-left {{ content: {_css_string(stamp)}; font: 6.5pt sans-serif; color: #5b6673; }}"
        ' @bottom-right { content: "page " counter(page) " of " counter(pages); font: 7pt sans-serif;'
        " color: #5b6673; } }"
        # paper is narrower than a screen: smaller type and padding, so that every table fits the width
        " body { font-size: 8pt; } main { max-width: none; padding: 0; } header { padding: 10px 14px; }"
        " section { padding: 8px 10px; margin-top: 8px; } th, td { padding: 3px 4px; } th { font-size: 6.5pt; }"
        " .bar { min-width: 60px; } td.trend { min-width: 0; } .chg { font-size: 6pt; } table { font-size: 7pt; }"
        " svg.spark { width: 66px; height: 15px; } td.n, th.n { white-space: normal; }"
        " thead { display: table-header-group; } tr, .insight { break-inside: avoid; }"
        "</style>"
    )
    page = html.decode("utf-8")
    window = report["window"]
    title = f"<title>{escape(report['title'])} {label}: {window['start']} to {window['end']}</title>"
    start, end = page.index("<title>"), page.index("</title>") + len("</title>")
    page = page[:start] + title + head + page[end:]
    return HTML(string=page).write_pdf(pdf_variant=PDF_VARIANT)

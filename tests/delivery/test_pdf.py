"""report.pdf in every revision: the report's content on paper, stamped with what it is."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess

import pytest
from pypdf import PdfReader

from etl.delivery.archive import Archive
from etl.report.view_changes import insight_detail
from etl.storage import Storage
from tests.conftest import archive_report
from tests.delivery.test_archive import OUTBOX
from tests.delivery.test_mail import NOW
from tests.report.test_report_html import ARTIFACTS, EVIL_CONNECTOR, evil_report


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def pdftoppm():
    """Debian's poppler-utils, installed when missing (the tests run as root, as CI does)."""
    if shutil.which("pdftoppm") is None:
        if shutil.which("apt-get") is None:
            pytest.fail("pdftoppm is missing and apt-get is not available to install it")
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "poppler-utils"], check=True, env=env,
                       capture_output=True, timeout=1200)
    return shutil.which("pdftoppm")


def test_the_pdf_says_what_the_report_says_and_what_it_is(cfg, pdftoppm):
    report = evil_report()
    revision = archive_report(cfg, report, OUTBOX, reason=None, now=NOW)
    manifest = Archive(Storage(cfg)).manifest(revision)
    data = (revision.path / "report.pdf").read_bytes()
    assert manifest["files"]["report.pdf"]["bytes"] == len(data)  # listed and hashed: verify covers it
    assert manifest["renderer"]["weasyprint"] and manifest["renderer"]["pdf_variant"] == "pdf/a-2b"

    pdf = PdfReader(io.BytesIO(data))
    label = f"{revision.report_id} r1"
    assert pdf.metadata.title == f"Mail flow & TLS report {label}: 2026-11-16 to 2026-11-17"
    assert manifest["content_sha256"] in pdf.metadata["/Keywords"] and label in pdf.metadata["/Keywords"]
    pages = [flat(page.extract_text()) for page in pdf.pages]
    assert all(f"{label} · content SHA-256 {manifest['content_sha256']}" in page for page in pages)
    assert all(f"page {n} of {len(pages)}" in page for n, page in enumerate(pages, start=1))
    text = " ".join(pages)
    assert flat(report["headline"]).lower() in text.lower()
    for insight in report["insights"]:  # the same insights, in the same words as report.txt
        assert flat(insight["title"]) in text and flat(insight_detail(insight, report)) in text
    txt = (revision.path / "report.txt").read_text()
    for figure in ("40.0%", "70.0%", "3 of 300"):  # figures shown one way everywhere
        assert figure in txt and figure in text
    assert EVIL_CONNECTOR in text  # a hostile name is text on paper too

    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run([pdftoppm, "-png", "-r", "60", str(revision.path / "report.pdf"), str(ARTIFACTS / "report-pdf")],
                   check=True, timeout=120)
    assert len(list(ARTIFACTS.glob("report-pdf-*.png"))) >= len(pages)
    assert json.loads((revision.path / "report.json").read_text())["headline"] == report["headline"]

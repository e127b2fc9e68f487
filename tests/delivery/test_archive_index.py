"""archive/index.html: the archive as a page, regenerated on every write, opened in a real browser."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import pytest

from etl import cli
from etl.delivery.archive import Archive, sha256_hex
from etl.delivery.archive_index import refresh_index_page
from etl.errors import ArchiveError
from etl.pipeline import send_report
from etl.storage import Storage
from tests.conftest import archive_report
from tests.delivery.test_archive import OUTBOX
from tests.delivery.test_mail import NOW
from tests.report.test_report_html import ARTIFACTS, EVIL_CONNECTOR, chromium, evil_report  # noqa: F401


def last_year_report() -> dict:
    report = copy.deepcopy(evil_report())
    report["window"] = {**report["window"], "start": "2025-12-29", "end": "2025-12-30"}
    report["connectors"] = [row for row in report["connectors"] if row["connector"] == "Relay"]
    return report


def archived_three(cfg):
    first = archive_report(cfg, evil_report(), OUTBOX, reason=None, now=NOW)
    archive_report(cfg, evil_report(), OUTBOX, reason="late data", now=NOW)
    send_report(cfg, first.report_id, 1, OUTBOX)
    archive_report(cfg, last_year_report(), OUTBOX, reason=None, now=NOW)
    return Archive(Storage(cfg))


def test_the_page_lists_every_report_revision_send_and_the_chain_head(cfg):
    archive = archived_three(cfg)
    page = (archive.store.root / "index.html").read_text()
    lines = archive.store.index_location().read_bytes().splitlines()
    head = archive.chain_head()
    assert head.line == len(lines) == 4 and head.sha256 in page
    assert page.index("adhoc/2026-11-16_2026-11-17") < page.index("adhoc/2025-12-29_2025-12-30")  # newest first
    assert "r2 current" in page and "r1 superseded" in page and "late data" in page
    assert "to 1 recipient" in page and page.count("not sent") == 2
    for href in ("adhoc/2026-11-16_2026-11-17/r1/report.html", "adhoc/2026-11-16_2026-11-17/r2/manifest.json",
                 "adhoc/2025-12-29_2025-12-30/r1/tls_usage.csv"):
        assert f'href="{href}"' in page and (archive.store.root / href).is_file()
    assert EVIL_CONNECTOR not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://" not in page and "https://" not in page


def test_a_browser_filters_by_year_and_connector_and_lists_everything_without_scripts(cfg, chromium):  # noqa: F811
    archive = archived_three(cfg)
    url = (archive.store.root / "index.html").as_uri()
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    problems = []
    page.on("console", lambda message: message.type in ("error", "warning") and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.goto(url)
    reports = page.locator("section.report")
    assert reports.count() == 2 and page.locator("#filter").is_visible()
    page.select_option("#year", "2025")
    assert [r.locator("h2").inner_text() for r in reports.all() if r.is_visible()] == [
        "adhoc/2025-12-29_2025-12-30 (ad hoc)"]
    page.select_option("#year", "")
    page.select_option("#connector", label=EVIL_CONNECTOR)  # shown as text, never run
    assert [r.locator("h2").inner_text() for r in reports.all() if r.is_visible()] == [
        "adhoc/2026-11-16_2026-11-17 (ad hoc)"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "archive-index.png"), full_page=True)
    page.click("text=report.html >> nth=0")
    assert page.url.endswith("/r2/report.html")  # the current revision comes first
    assert problems == []
    page.close()

    context = chromium.new_context(java_script_enabled=False)
    plain = context.new_page()
    plain.goto(url)
    assert not plain.locator("#filter").is_visible() and plain.locator("section.report:visible").count() == 2
    context.close()


def test_pruning_removes_old_revisions_but_the_index_still_proves_what_existed(cfg, monkeypatch, capsys):
    archive = archived_three(cfg)
    old = archive.revision("adhoc/2026-11-16_2026-11-17", 1)
    before = archive.chain_head()
    # all three were archived at NOW (2026-11-23): a retention date after it prunes them, without --yes nothing
    assert len(archive.prunable(date(2026, 11, 23))) == 0
    monkeypatch.setenv("MAILFLOW_HOME", str(cfg.home))
    assert cli.main(["archive", "prune", "--before", "2026-11-24"]) == 0
    assert capsys.readouterr().out.count("would prune") == 3 and old.path.exists()
    done = archive.prune(date(2026, 11, 24), datetime(2026, 12, 1, tzinfo=UTC))
    assert len(done) == 3 and not old.path.exists()
    assert archive.verify() == []  # the chain, each pruned line's manifest hash, nothing left behind
    lines = archive.store.index_location().read_bytes().splitlines()
    assert len(lines) == before.line + 3 and b'"event":"pruned"' in lines[-1]
    assert sha256_hex(lines[before.line - 1]) == before.sha256  # what a witness saw is still there
    refresh_index_page(archive)
    page = (archive.store.root / "index.html").read_text()
    assert page.count("pruned 2026-12-01") == 3 and 'href="adhoc/' not in page
    with pytest.raises(ArchiveError, match="was pruned"):
        archive.read(old, "report.html")

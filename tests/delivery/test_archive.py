"""The archive: revisions written once, a hash-chained index, and verify naming every change."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from etl.delivery.archive import Archive
from etl.delivery.mail import SmtpSettings
from etl.pipeline import send_report
from etl.report.csv_views import neutralise, view_csvs
from etl.report.request import ReportRequest
from etl.storage import Storage
from tests.conftest import archive_report
from tests.delivery.test_mail import NOW
from tests.report.test_report_html import evil_report

REPO = Path(__file__).resolve().parents[2]
OUTBOX = SmtpSettings(host=None, recipients=("ciso@contoso.example",))


@pytest.fixture
def two_revisions(cfg):
    first = archive_report(cfg, evil_report(), OUTBOX, reason=None, now=NOW)
    second = archive_report(cfg, evil_report(), OUTBOX, reason="late data", now=NOW)
    return first, second


def writable(path: Path) -> None:
    os.chmod(path.parent, 0o750)
    if path.exists():
        os.chmod(path, 0o640)


def test_a_fresh_archive_verifies_and_reruns_make_new_revisions(cfg, two_revisions):
    first, second = two_revisions
    archive = Archive(Storage(cfg))
    assert archive.verify() == []
    assert (first.number, second.number) == (1, 2)
    assert first.path.parent == second.path.parent
    manifest = json.loads((second.path / "manifest.json").read_text())
    assert (manifest["supersedes"], manifest["reason"]) == (1, "late data")
    assert sorted(manifest["files"]) == sorted(
        ["report.html", "report.pdf", "email.html", "report.txt", "report.json", "message.eml", "insights.csv",
         "mail_flow_daily.csv", "protected_in_transit.csv", "tls_usage.csv", "trend.csv"])
    assert manifest["window"]["missing_days"] == ["2026-11-17"]
    assert manifest["inputs"] == [{"date": "2026-11-16", "missing": True}, {"date": "2026-11-17", "missing": True}]
    # the package version, and the commit of the clone it ran from: never "unknown"
    assert re.fullmatch(r"mailflow \d+\.\d+\.\d+ \(git [0-9a-f]{40}\)", manifest["code_version"])
    assert {oct(p.stat().st_mode)[-3:] for p in first.path.iterdir()} == {"444"}  # every file read-only
    assert oct(first.path.stat().st_mode)[-3:] == "550"
    lines = (archive.store.index_location()).read_text().splitlines()
    assert [json.loads(line)["revision"] for line in lines] == [1, 2]


def test_the_first_revision_stays_byte_identical(cfg, two_revisions):
    first, _ = two_revisions
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}
    archive_report(cfg, evil_report(), OUTBOX, reason="rerun", now=NOW)
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before


@pytest.mark.parametrize("name", ["report.html", "report.json", "message.eml", "tls_usage.csv", "manifest.json"])
def test_flipping_one_byte_is_named(cfg, two_revisions, name):
    first, _ = two_revisions
    path = first.path / name
    writable(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    problems = Archive(Storage(cfg)).verify()
    assert problems and all("r1" in p for p in problems)
    assert any(name in p and "changed" in p for p in problems), problems


def test_a_deleted_and_an_added_file_are_named(cfg, two_revisions):
    first, second = two_revisions
    writable(first.path / "report.txt")
    (first.path / "report.txt").unlink()
    (second.path.parent / "r2").chmod(0o750)
    (second.path / "notes.txt").write_text("added later")
    problems = Archive(Storage(cfg)).verify()
    assert f"{first.report_id} r1: report.txt missing" in problems
    assert f"{second.report_id} r2: unexpected file notes.txt" in problems


def test_editing_or_removing_an_index_line_breaks_the_chain(cfg, two_revisions):
    index = Archive(Storage(cfg)).store.index_location()
    lines = index.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["reason"] = "nothing to see"
    index.write_text(json.dumps(edited, sort_keys=True, separators=(",", ":")) + "\n" + lines[1] + "\n")
    problems = Archive(Storage(cfg)).verify()
    assert "index line 2: broken chain (the line before it was changed, removed or inserted)" in problems
    index.write_text(lines[1] + "\n")  # the first line removed
    problems = Archive(Storage(cfg)).verify()
    assert "index line 1: broken chain (the line before it was changed, removed or inserted)" in problems
    assert any("revision not in the index" in p for p in problems)


def test_a_send_is_chained_and_its_receipt_verified(cfg, two_revisions):
    first, _ = two_revisions
    send_report(cfg, first.report_id, 1, OUTBOX)
    archive = Archive(Storage(cfg))
    assert archive.verify() == []
    assert [e["event"] for e in archive.entries()] == ["archived", "archived", "sent"]
    receipt = first.path / "receipt.json"
    writable(receipt)
    receipt.write_text(receipt.read_text().replace("outbox", "elsewhere"))
    assert f"{first.report_id} r1: receipt.json changed" in archive.verify()


def test_csv_cells_cannot_become_formulas():
    assert [neutralise(v) for v in ("=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "ok", None, 3)] == [
        "'=HYPERLINK(\"x\")", "'+1", "'-2", "'@SUM(A1)", "\\u0009x", "\\u000Dx", "ok", "", "3"]  # controls written out
    report = evil_report()
    report["insights"][0]["top_remote_domains"] = [{"domain": "=cmd|'/c calc'!A1", "messages": 1}]
    rows = list(csv.reader(io.StringIO(view_csvs(report)["insights.csv"].decode())))
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_report_ids_name_weeks_and_ad_hoc_windows():
    from datetime import date

    assert ReportRequest(date(2026, 11, 16), date(2026, 11, 22)).report_id == "2026-W47"
    assert ReportRequest(date(2026, 11, 17), date(2026, 11, 23)).report_id == "adhoc/2026-11-17_2026-11-23"
    assert ReportRequest(date(2026, 11, 16), date(2026, 11, 22), "A/B", "inbound").report_id == (
        "adhoc/2026-11-16_2026-11-22_connector-A_B_inbound")


def test_the_auditor_commands(cfg, two_revisions):
    env = {**os.environ, "MAILFLOW_HOME": str(cfg.home), "PYTHONPATH": str(REPO)}

    def etl(*args):
        return subprocess.run([sys.executable, "-m", "etl", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    rid = two_revisions[0].report_id
    listed = json.loads(etl("archive", "list", "--json").stdout)
    assert [(r["report_id"], r["revision"], r["sent"]) for r in listed] == [(rid, 1, False), (rid, 2, False)]
    shown = etl("archive", "show", rid, "--rev", "1")
    assert shown.returncode == 0 and "reason    first issue" in shown.stdout and "report.html" in shown.stdout
    assert etl("archive", "verify").returncode == 0
    path = two_revisions[1].path / "report.json"
    writable(path)
    path.write_text("{}")
    done = etl("archive", "verify", rid)
    assert done.returncode == 1 and f"{rid} r2: report.json changed" in done.stdout
    missing = etl("archive", "show", "2020-W01")
    assert missing.returncode == 2 and missing.stderr.startswith("error: no archived report '2020-W01'")
    repaired = etl("archive", "repair")
    assert repaired.returncode == 0 and repaired.stderr == "archive repair: nothing to do\n"
    index = Archive(Storage(cfg)).store.index_location()
    writable(index)
    index.write_bytes(index.read_bytes()[:-20])  # a truncated index
    listed = etl("archive", "list")
    assert listed.returncode == 2 and listed.stderr == (
        f"error: {index}: line 2 is not valid JSON (truncated or edited); see `mailflow archive verify`\n")


def test_a_rerun_over_the_same_data_says_the_same_and_is_not_mailed_again(cfg):
    first = archive_report(cfg, evil_report(), OUTBOX, reason=None, now=NOW)
    send_report(cfg, first.report_id, 1, OUTBOX)
    later = NOW.replace(hour=9)
    report = evil_report()
    report["generated_at"] = later.isoformat()
    second = archive_report(cfg, report, OUTBOX, reason="rerun", now=later)
    manifests = [json.loads((r.path / "manifest.json").read_text()) for r in (first, second)]
    assert manifests[0]["content_sha256"] == manifests[1]["content_sha256"]
    receipt = send_report(cfg, second.report_id, 2, OUTBOX)
    assert receipt["already_sent"] is True and receipt["same_as_revision"] == 1
    assert len(list((cfg.home / "outbox").iterdir())) == 1  # one email, not two
    changed = evil_report()
    changed["insights"] = []
    third = archive_report(cfg, changed, OUTBOX, reason="late data", now=later)
    assert "already_sent" not in send_report(cfg, third.report_id, 3, OUTBOX)


def test_editing_the_last_index_line_fails_verify(cfg, two_revisions):
    index = Archive(Storage(cfg)).store.index_location()
    lines = index.read_text().splitlines()
    edited = {**json.loads(lines[-1]), "reason": "nothing to see"}
    writable(index)
    index.write_text("\n".join([*lines[:-1], json.dumps(edited, sort_keys=True, separators=(",", ":"))]) + "\n")
    problems = Archive(Storage(cfg)).verify()
    assert len(problems) == 1 and problems[0].startswith("index end: 2 lines, but index.head records 2 ending in")
    assert Archive(Storage(cfg)).repair() == []  # an edit is evidence, not something to mend
    index.write_text(lines[0] + "\n")  # the last line removed
    assert any(p.startswith("index end: 1 lines") for p in Archive(Storage(cfg)).verify())


def test_a_revision_folder_nobody_describes_fails_verify(cfg, two_revisions):
    _, second = two_revisions
    stray = second.path.parent / "r3"
    stray.mkdir()
    (stray / "report.html").write_text("<p>trust me</p>")
    assert Archive(Storage(cfg)).verify() == [
        f"{second.location.rsplit('/', 1)[0]}/r3: a folder that no index line and no intact manifest describes"]


def crash_on(monkeypatch, target, name):
    """The process dies at this call (as kill -9 would: nothing after it runs)."""
    def die(*args, **kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(target, name, die)


def test_a_crash_before_the_index_line_is_repaired_on_the_next_write(cfg, two_revisions, monkeypatch, caplog):
    from etl.storage.archive_files import FolderArchiveStore

    with monkeypatch.context() as crashed:
        crash_on(crashed, FolderArchiveStore, "append_index")
        with pytest.raises(SystemExit):
            archive_report(cfg, evil_report(), OUTBOX, reason="rerun", now=NOW)
    archive = Archive(Storage(cfg))
    (problem,) = archive.verify()
    assert "r3: revision not in the index" in problem and "`mailflow archive repair` indexes it" in problem
    fourth = archive_report(cfg, evil_report(), OUTBOX, reason="rerun", now=NOW)  # not blocked by r3
    assert fourth.number == 4 and "archive repair: indexed" in caplog.text
    assert archive.verify() == []
    entries = [e for e in archive.entries() if e["event"] == "archived"]
    assert [(e["revision"], e.get("repaired", False)) for e in entries] == [(1, False), (2, False), (3, True),
                                                                           (4, False)]


def test_a_crash_before_the_sent_line_and_before_the_anchor_are_repaired(cfg, two_revisions, monkeypatch):
    from etl.storage.archive_files import FolderArchiveStore

    first, _ = two_revisions
    with monkeypatch.context() as crashed:
        crash_on(crashed, FolderArchiveStore, "append_index")
        with pytest.raises(SystemExit):
            send_report(cfg, first.report_id, 1, OUTBOX)  # the receipt is written, its index line is not
    archive = Archive(Storage(cfg))
    assert archive.verify() == [f"{first.report_id} r1: unexpected file receipt.json"]
    with monkeypatch.context() as crashed:
        crash_on(crashed, FolderArchiveStore, "write_head")
        with pytest.raises(SystemExit):
            archive.repair()  # dies after appending the sent line, before anchoring it
    assert any(p.startswith("index end: 3 lines, but index.head records 2") for p in archive.verify())
    assert archive.repair() == ["anchored the index's end at line 3"]
    assert archive.verify() == [] and [e["event"] for e in archive.entries()][-1] == "sent"
    assert send_report(cfg, first.report_id, 1, OUTBOX)["already_sent"]  # not mailed twice


def test_an_append_cut_short_is_repaired_and_nothing_else_is(cfg, two_revisions):
    archive = Archive(Storage(cfg))
    index = archive.store.index_location()
    whole = index.read_bytes()
    with open(index, "ab") as fh:
        fh.write(b'{"event":"archived","report_id":"2026-W4')  # a crash in the middle of an append
    assert any("not valid JSON" in p for p in archive.verify())
    assert archive.repair() == ["removed a torn last index line (an append cut short by a crash)"]
    assert index.read_bytes() == whole and archive.verify() == []

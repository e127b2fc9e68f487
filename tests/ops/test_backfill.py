"""Operators: embedded backfill, resumable and idempotent; late data; status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from etl.delivery.archive import Archive
from etl.devtools.sample import generate
from etl.load.ingest import ingest_day
from etl.load.warehouse import rebuild_day
from etl.ops.backfill import backfill
from etl.ops.status import status
from etl.storage import Storage
from tests.load.test_warehouse import dump

REPO = Path(__file__).resolve().parents[2]
MON, TUE, WED, THU = date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)
LATE_ROW = ("2026-11-10T23:00:00Z,x@contoso.com,late@northwindtraders.com,late,Delivered,"
            "Partner Northwind Legacy,Outbound,None,,1.1.1.1,2.2.2.2,100,<late@x>,t-late\r\n")


def landing(cfg, days=3):
    return generate(MON, days, Storage(cfg).landing, rows_per_day=1000)  # enough rows for the 1% quality gate


def test_backfill_loads_then_skips_what_did_not_change(cfg):
    landing(cfg)
    first = backfill(cfg, MON, THU)
    assert (first.loaded, first.skipped, first.missing) == (["2026-11-09", "2026-11-10", "2026-11-11"], [],
                                                            ["2026-11-12"])
    tables = dump(cfg)
    again = backfill(cfg, MON, THU)  # an interrupted backfill re-run does only what is left
    assert (again.loaded, again.skipped) == ([], ["2026-11-09", "2026-11-10", "2026-11-11"])
    forced = backfill(cfg, MON, WED, force=True)
    assert forced.loaded == ["2026-11-09", "2026-11-10", "2026-11-11"]
    assert dump(cfg) == tables  # re-running days gives identical aggregates


def test_late_data_reloads_the_day_and_reissues_its_week(cfg):
    landing(cfg)
    backfill(cfg, MON, WED, reports=True)
    archive = Archive(Storage(cfg))
    (first,) = archive.revisions("2026-W46")
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}

    with open(Storage(cfg).landing / "trace_2026-11-10.csv", "a", newline="") as fh:
        fh.write(LATE_ROW)
    assert Storage(cfg).landing_state(TUE) == "changed" and Storage(cfg).landing_state(MON) == "same"
    result = backfill(cfg, MON, WED, reports=True)
    assert result.loaded == ["2026-11-10"]
    assert result.reports == [{"report_id": "2026-W46", "revision": 2, "reason": "late data", "sent": False}]
    manifest = json.loads((archive.revision("2026-W46").path / "manifest.json").read_text())
    assert (manifest["supersedes"], manifest["reason"]) == (1, "late data")
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before
    assert not (cfg.home / "outbox").exists()  # a backfill mails only when asked
    assert archive.verify() == []


def test_status_names_missing_changed_and_stale(cfg):
    landing(cfg, days=4)
    for day in (MON, WED):
        ingest_day(cfg, day)
        rebuild_day(cfg, day)
    backfill(cfg, MON, MON, reports=True, force=True)  # archives 2026-W46 r1 (Mon to Sun)
    ingest_day(cfg, THU)
    rebuild_day(cfg, THU)  # a day of that week loaded after its report: the report is stale
    with open(Storage(cfg).landing / "trace_2026-11-11.csv", "a", newline="") as fh:
        fh.write(LATE_ROW.replace("2026-11-10T23", "2026-11-11T23"))
    state = status(cfg)
    assert [d["date"] for d in state["days"]] == ["2026-11-09", "2026-11-11", "2026-11-12"]
    assert state["missing"] == [{"date": "2026-11-10", "export_waiting": True}]
    assert state["changed_since_load"] == ["2026-11-11"]
    assert state["stale_reports"] == [{"report_id": "2026-W46", "revision": 1, "changed_days": ["2026-11-12"]}]


def test_a_failing_day_is_reported_and_the_others_load(cfg):
    landing(cfg)
    (Storage(cfg).landing / "trace_2026-11-10.csv").write_text("Received,SenderAddress\n")  # Direction missing
    result = backfill(cfg, MON, WED)
    assert result.loaded == ["2026-11-09", "2026-11-11"]
    assert "missing required column 'RecipientAddress'" in result.failed["2026-11-10"]


def test_backfill_command_shows_progress_and_exit_code(cfg):
    landing(cfg, days=2)
    env = {**os.environ, "MAILFLOW_HOME": str(cfg.home), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "etl", "backfill", "--from", "2026-11-09", "--to", "2026-11-11"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "rows/s" in done.stderr and "3/3" in done.stderr
    assert json.loads(done.stdout)["missing"] == ["2026-11-11"]
    shown = subprocess.run([sys.executable, "-m", "etl", "status"], env=env, capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0 and "2026-11-10" in shown.stdout


def test_a_backfill_killed_after_its_loads_issues_the_owed_reports_when_run_again(cfg):
    landing(cfg)
    backfill(cfg, MON, WED)  # as if --reports had been killed after the last day's partition was written
    again = backfill(cfg, MON, WED, reports=True)
    assert (again.loaded, again.skipped) == ([], ["2026-11-09", "2026-11-10", "2026-11-11"])
    assert again.reports == [{"report_id": "2026-W46", "revision": 1, "reason": "backfill", "sent": False}]
    assert backfill(cfg, MON, WED, reports=True).reports == []  # owed no longer
    mailed = backfill(cfg, MON, WED, reports=True, send=True)  # archived before, never mailed: mail it now
    assert mailed.reports == [{"report_id": "2026-W46", "revision": 1, "reason": "not sent before", "sent": True}]
    assert backfill(cfg, MON, WED, reports=True, send=True).reports == []


def test_reloading_unchanged_exports_leaves_the_reports_current(cfg):
    landing(cfg)
    backfill(cfg, MON, WED, reports=True)
    forced = backfill(cfg, MON, WED, force=True, reports=True)
    assert forced.loaded == ["2026-11-09", "2026-11-10", "2026-11-11"]
    assert forced.reports == [] and status(cfg)["stale_reports"] == []  # the same exports, the same figures


def test_backfill_issues_the_weekly_subscriptions_reports_too(cfg):
    landing(cfg)
    (cfg.home / "subscriptions.toml").write_text(
        '[[subscription]]\nname = "partners"\nrecipients = ["pm@contoso.example"]\ncadence = "weekly"\n'
        'connectors = ["Partner *"]\n\n'
        '[[subscription]]\nname = "ciso"\nrecipients = ["ciso@contoso.example"]\ncadence = "monthly"\n')
    result = backfill(cfg, MON, WED, reports=True)
    assert [(r["report_id"], r["reason"]) for r in result.reports] == [("2026-W46", "backfill"),
                                                                        ("2026-W46/partners", "backfill")]
    partners = Archive(Storage(cfg)).revision("2026-W46/partners")
    assert Archive(Storage(cfg)).manifest(partners)["config"]["recipients"] == ["pm@contoso.example"]
    assert backfill(cfg, MON, WED, reports=True).reports == []  # owed no longer, either of them

"""Old snapshots expire and their files go; what archived reports were read from stays, and
`archive reproduce` recomputes every revision from it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from etl.devtools.sample import generate, write_day
from etl.errors import ArchiveError, StorageError
from etl.ops.backfill import backfill
from etl.ops.maintenance import expire_snapshots
from etl.pipeline import reproduce_report
from etl.storage import TRACE, Storage

MON, SUN = date(2026, 11, 16), date(2026, 11, 22)


def data_files(storage: Storage, table: str) -> list[str]:
    return sorted(str(p) for p in (storage.root / "lake" / "mailflow" / table / "data").rglob("*.parquet"))


@pytest.fixture
def archived(cfg):
    """A week loaded and archived as r1; then one day's export corrected and the week archived as r2."""
    cfg = dataclasses.replace(cfg, max_quarantined_pct=5.0)  # the sample's weekends quarantine 1.3%
    storage = Storage(cfg)
    generate(MON, 7, storage.landing, rows_per_day=300)
    assert backfill(cfg, MON, SUN, reports=True).failed == {}
    write_day(storage.landing / f"trace_{MON}.csv", MON, 400, seed=9)  # a late correction of Monday
    assert backfill(cfg, MON, SUN, reports=True).loaded == [MON.isoformat()]
    return cfg


def test_every_revision_is_reproduced_from_its_own_snapshots(archived):
    first, second = reproduce_report(archived, "2026-W47", 1), reproduce_report(archived, "2026-W47", 2)
    assert first["matches"] and first["report_json_identical"]
    assert second["matches"] and second["report_json_identical"]
    # not a constant: the two revisions say different things, each reproduced from its own data
    assert first["content_sha256"] != second["content_sha256"] and first["tables"] != second["tables"]


def test_a_revision_of_another_report_schema_is_not_reproduced_as_if_it_differed(archived, monkeypatch):
    import etl.pipeline

    written = etl.pipeline.SCHEMA_VERSION
    monkeypatch.setattr(etl.pipeline, "SCHEMA_VERSION", written + 1)
    with pytest.raises(ArchiveError, match=rf"2026-W47 r1 was written as report schema {written} by mailflow .*; this "
                                           rf"code writes schema {written + 1}: reproduce it with the code version it "
                                           r"names"):
        reproduce_report(archived, "2026-W47", 1)


def test_expiry_deletes_replaced_files_but_keeps_what_archived_reports_read(archived):
    storage = Storage(archived)
    before = data_files(storage, TRACE)
    assert len(before) == 8  # Monday twice
    old_snapshot = storage.lake.table(TRACE).metadata.snapshots[0].snapshot_id
    done = storage.lake.expire(datetime.now(UTC) + timedelta(seconds=1), grace=timedelta(0))
    assert done[TRACE]["snapshots_expired"] > 0 and done[TRACE]["files_deleted"] >= 1
    assert len(data_files(storage, TRACE)) == 7  # one file per day: the replaced Monday went
    with pytest.raises(StorageError, match=f"snapshot {old_snapshot} of the lake table trace no longer exists"):
        storage.lake.read(TRACE, snapshot_id=old_snapshot)
    # the aggregates both revisions were read from are tagged: both still reproduce
    assert reproduce_report(archived, "2026-W47", 1)["matches"]
    assert reproduce_report(archived, "2026-W47", 2)["matches"]
    assert [d.isoformat() for d in storage.lake_days()] == [(MON + timedelta(days=i)).isoformat() for i in range(7)]


def test_expiry_keeps_at_least_a_day(cfg):
    from etl.errors import ConfigError

    with pytest.raises(ConfigError, match="keep at least one day"):
        expire_snapshots(cfg, 0, datetime.now(UTC))


def test_the_commands_an_operator_and_an_auditor_run(archived, monkeypatch, capsys):
    from etl.cli import main

    monkeypatch.setenv("MAILFLOW_HOME", str(archived.home))
    assert main(["archive", "reproduce", "2026-W47", "--rev", "1"]) == 0
    assert "matches the archived" in capsys.readouterr().out
    assert main(["quarantine", "--date", str(MON), "--limit", "1"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[0] == "source_file,source_line,reason,raw" and len(out.out.splitlines()) == 2
    assert "records quarantined on 2026-11-16" in out.err
    assert main(["status", "--date", str(MON)]) == 0
    assert f"source trace_{MON}.csv  sha256 " in capsys.readouterr().out
    assert main(["lake", "expire", "--keep-days", "30"]) == 0


def test_two_runs_of_one_window_at_once_each_archive_their_own_snapshots(archived):
    """Run A reads the week, a day is reloaded, run B reads it again; A's model and publish come last.
    A's revision must record the snapshots A read (its figures), not B's."""
    from etl.delivery.mail import SmtpSettings
    from etl.pipeline import publish_report, report_model, report_views
    from etl.report.request import ReportRequest

    storage = Storage(archived)
    request = ReportRequest(MON, SUN, None, None)
    views_a = report_views(archived, request)
    write_day(storage.landing / f"trace_{MON}.csv", MON, 500, seed=11)
    assert backfill(archived, MON, MON).loaded == [MON.isoformat()]
    views_b = report_views(archived, request)
    assert views_a != views_b
    now = datetime(2026, 11, 23, 6, tzinfo=UTC)
    published_b = publish_report(archived, report_model(archived, views_b, now), archive=True, smtp=SmtpSettings(None),
                                 reason="run B", now=now)
    published_a = publish_report(archived, report_model(archived, views_a, now), archive=True, smtp=SmtpSettings(None),
                                 reason="run A", now=now)
    a, b = published_a["archived"]["revision"], published_b["archived"]["revision"]
    reproduced_a, reproduced_b = reproduce_report(archived, "2026-W47", a), reproduce_report(archived, "2026-W47", b)
    assert reproduced_a["matches"] and reproduced_b["matches"]
    assert reproduced_a["tables"] != reproduced_b["tables"]

"""Warehouse: daily aggregates rebuilt from the lake, idempotent, reconciled; the quality gate."""

from __future__ import annotations

from datetime import date

import pytest

from etl.errors import DataQualityError, NotLoadedError
from etl.load.ingest import ingest_day
from etl.load.quality import check_day
from etl.load.warehouse import TABLES, rebuild_day
from etl.storage import Storage
from tests.conftest import row

DAY = date(2026, 11, 9)


def dump(cfg, columns_to_skip=("loaded_at", "load_id")):  # what a reload may change
    lake = Storage(cfg).lake
    out = {}
    for table in TABLES:
        rows = lake.read(table).to_pylist()
        out[table] = sorted((tuple(v for k, v in r.items() if k not in columns_to_skip) for r in rows),
                            key=repr)
    return out


def load(cfg, export, rows, name="trace_2026-11-09.csv", day=DAY):
    ingest_day(cfg, day, [export(rows, name=name)])
    return rebuild_day(cfg, day)


def test_aggregates_count_messages_not_expanded_rows(cfg, export):
    summary = load(cfg, export, [
        row(connector="Partner A", tls="TLS1.0"),
        row(connector="Partner A", tls="TLS1.0", status="Expanded", message_id="<2@x>"),
        row(direction="Outbound", tls="None", sender="me@contoso.com", recipient="you@Bank.example",
            message_id="<3@x>"),
    ])
    assert summary == {"date": "2026-11-09", "messages": 2, "rows_not_counted": 1}
    tables = dump(cfg)
    assert tables["daily_connector_tls"] == [
        (DAY, "inbound", "Partner A", "TLS1.0", 1, 1000),
        (DAY, "outbound", None, "none", 1, 1000),
    ]
    assert [r[:6] for r in tables["daily_remote_domain_tls"]] == [
        (DAY, "inbound", "Partner A", "TLS1.0", "fabrikam.com", 1),
        (DAY, "outbound", None, "none", "bank.example", 1),
    ]
    assert tables["daily_load"][0][:7] == (DAY, 3, 3, 0, 0, 1, 2)


def test_rebuilding_a_day_replaces_it_and_is_idempotent(cfg, export):
    other_day = date(2026, 11, 10)
    load(cfg, export, [row(received="2026-11-10T08:00:00Z")], name="trace_2026-11-10.csv", day=other_day)
    load(cfg, export, [row(), row(message_id="<2@x>")])
    first = dump(cfg)
    load(cfg, export, [row(), row(message_id="<2@x>")])
    assert dump(cfg) == first  # byte-for-byte the same rows
    load(cfg, export, [row()])  # a corrected export for the day
    after = dump(cfg)
    assert sum(r[4] for r in after["daily_connector_tls"] if r[0] == DAY) == 1
    assert sum(r[4] for r in after["daily_connector_tls"] if r[0] == other_day) == 1  # other days untouched


def test_rebuild_needs_a_loaded_day(cfg):
    with pytest.raises(NotLoadedError, match="2026-11-09 is not loaded"):
        rebuild_day(cfg, DAY)


def test_quality_gate_passes_under_the_limit_and_fails_above(cfg, export, monkeypatch):
    rows = [row(message_id=f"<{i}@x>") for i in range(199)] + [row(received="garbage")]
    load(cfg, export, rows)
    assert check_day(cfg, DAY)["quarantined_pct"] == 0.5
    with pytest.raises(DataQualityError, match=r"0\.5% of rows quarantined .* above the 0\.4% limit"):
        check_day(cfg, DAY, max_quarantined_pct=0.4)


def test_quality_gate_fails_a_day_with_nothing_loaded(cfg, export):
    load(cfg, export, [row(received="2026-11-10T00:00:01Z")])
    with pytest.raises(DataQualityError, match="no rows loaded"):
        check_day(cfg, DAY, max_quarantined_pct=100)


def test_the_gate_never_shows_a_share_above_its_limit_as_equal_to_it(cfg, export):
    # 1 of 99 is 1.0101...%: at one decimal it would read "1.0% ... above the 1.0% limit"
    load(cfg, export, [row(message_id=f"<{i}@x>") for i in range(98)] + [row(received="nope")])
    with pytest.raises(DataQualityError, match=r"1\.01% of rows quarantined \(1 of 99: .*above the 1\.0% limit"):
        check_day(cfg, DAY)
    # exactly at the limit does not fail: 1 of 100 is 1%, not above it
    load(cfg, export, [row(message_id=f"<{i}@x>") for i in range(99)] + [row(received="nope")])
    assert check_day(cfg, DAY)["quarantined_pct"] == 1.0


def test_a_failure_before_the_commits_changes_nothing(cfg, export, monkeypatch):
    """A full disk while the aggregates are computed: the error is the operator's to read, and
    the warehouse still holds the day's previous aggregates, whole."""
    import etl.load.warehouse as warehouse

    load(cfg, export, [row()])
    before = dump(cfg, columns_to_skip=())
    ingest_day(cfg, DAY, [export([row(), row(message_id="<2@x>")])])

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(warehouse, "_reconcile", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        rebuild_day(cfg, DAY)
    assert dump(cfg, columns_to_skip=()) == before

"""One truth for "this day is loaded": the lake's partitions and the warehouse's rows carry one load
id; a crash between their commits is visible (status, check) and undone by backfill. Readers of
the warehouse never break its writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date

import pytest

from etl.devtools.sample import generate
from etl.errors import DataQualityError
from etl.load.ingest import ingest_day
from etl.load.quality import check_day
from etl.load.warehouse import inconsistent_days, rebuild_day
from etl.ops.backfill import backfill
from etl.ops.status import status
from etl.storage import LOAD_MANIFEST, QUARANTINE, Storage
from tests.load.test_warehouse import dump

MON, TUE = date(2026, 11, 9), date(2026, 11, 10)


@pytest.fixture
def loaded(cfg):
    """Two sample days, loaded through the backfill (lake, warehouse and gate)."""
    generate(MON, 2, Storage(cfg).landing, rows_per_day=1000)
    assert backfill(cfg, MON, TUE).loaded == ["2026-11-09", "2026-11-10"]
    return cfg


def test_a_load_records_one_id_in_the_lake_and_the_warehouse(loaded):
    storage = Storage(loaded)
    load_id = storage.read_load_manifest(MON)["load_id"]
    assert len(load_id) == 32 and storage.quarantine_load_id(MON) == load_id
    assert inconsistent_days(loaded) == {}
    assert status(loaded)["inconsistent"] == []


def test_a_crash_between_the_lake_and_the_warehouse_is_visible_and_backfill_mends_it(loaded):
    tables = dump(loaded)
    ingest_day(loaded, TUE)  # the lake committed a new load; the warehouse step never ran
    problem = "the warehouse holds another load than the lake"
    assert inconsistent_days(loaded) == {TUE: problem}
    assert status(loaded)["inconsistent"] == [{"date": "2026-11-10", "problem": problem}]
    with pytest.raises(DataQualityError, match=f"2026-11-10: {problem}; run `mailflow backfill"):
        check_day(loaded, TUE)
    result = backfill(loaded, MON, TUE)  # the exports did not change, yet the day is loaded again
    assert (result.loaded, result.skipped) == (["2026-11-10"], ["2026-11-09"])
    assert inconsistent_days(loaded) == {} and dump(loaded) == tables
    check_day(loaded, TUE)


def test_a_quarantine_partition_of_another_load_is_visible(loaded):
    path = Storage(loaded).partition(QUARANTINE, TUE) / LOAD_MANIFEST
    path.write_text(json.dumps({**json.loads(path.read_text()), "load_id": "0" * 32}))
    assert inconsistent_days(loaded) == {
        TUE: "the quarantine partition is from another load than the trace partition"}
    assert backfill(loaded, TUE, TUE).loaded == ["2026-11-10"]
    assert inconsistent_days(loaded) == {}


def test_a_day_aggregated_but_gone_from_the_lake_is_visible(loaded):
    import shutil

    shutil.rmtree(Storage(loaded).partition("trace", MON))
    assert inconsistent_days(loaded) == {MON: "in the warehouse but not in the lake"}


def test_reports_and_aggregates_at_once_all_succeed(loaded):
    """A report loop and an aggregate loop on the same days, in two processes: no run fails."""
    env = {**os.environ, "MAILFLOW_HOME": str(loaded.home)}
    mailflow = [sys.executable, "-m", "etl"]
    reports = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom etl.cli import main\n"
         "codes = [main(['report', '--from', '2026-11-09', '--to', '2026-11-10', '--format', 'json'])"
         " for _ in range(15)]\nsys.exit(max(codes))"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started, failures = time.monotonic(), []
    for i in range(15):
        done = subprocess.run([*mailflow, "aggregate", "--date", "2026-11-09" if i % 2 else "2026-11-10"],
                              env=env, capture_output=True, text=True, timeout=120)
        if done.returncode:
            failures.append(done.stderr)
    _, report_errors = reports.communicate(timeout=300)
    assert failures == [] and reports.returncode == 0, (failures, report_errors[-2000:])
    assert time.monotonic() - started < 240
    assert inconsistent_days(loaded) == {}


def test_a_stray_reader_of_the_writers_file_is_waited_out(loaded):
    """Someone holds warehouse.duckdb open (an analyst's DuckDB shell): the aggregate waits, then commits."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         "con = duckdb.connect(sys.argv[1], read_only=True)\nprint('held', flush=True)\ntime.sleep(2)\n",
         str(Storage(loaded).warehouse)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    rebuild_day(loaded, MON)  # waits for the holder to let go
    assert holder.wait(timeout=30) == 0 and time.monotonic() - started > 0.5
    assert inconsistent_days(loaded) == {}

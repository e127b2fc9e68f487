"""One truth for "this day is loaded": every table's rows of a day carry the id of the load that
wrote them; a crash between the commits is visible (status, check) and undone by backfill. Readers
never break writers, and loads from several processes at once all land."""

from __future__ import annotations

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
from etl.load.warehouse import inconsistent_days
from etl.ops.backfill import backfill
from etl.ops.status import status
from etl.storage import LOADS, QUARANTINE, TRACE, Storage
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
    assert len(load_id) == 32
    assert storage.load_ids(QUARANTINE)[MON] == storage.load_ids(TRACE)[MON] == {load_id}
    assert inconsistent_days(loaded) == {}
    assert status(loaded)["inconsistent"] == []
    # the load's record, kept with its commit, is what status shows
    (monday, _) = status(loaded)["days"]
    assert monday["load"]["load_id"] == load_id and monday["load"]["sources"][0]["file"] == "trace_2026-11-09.csv"
    assert len(monday["load"]["sources"][0]["sha256"]) == 64 and monday["load"]["quarantine_reasons"]


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


def test_a_quarantine_of_another_load_is_visible(loaded):
    lake = Storage(loaded).lake
    rows = lake.read(QUARANTINE, TUE, TUE)
    lake.replace_day(QUARANTINE, TUE, rows.set_column(rows.schema.get_field_index("load_id"), "load_id",
                                                      [["0" * 32] * rows.num_rows]))
    assert inconsistent_days(loaded) == {TUE: "the quarantine table holds another load than the one recorded "
                                              "for the day"}
    assert backfill(loaded, TUE, TUE).loaded == ["2026-11-10"]
    assert inconsistent_days(loaded) == {}


def test_a_day_aggregated_but_gone_from_the_lake_is_visible(loaded):
    from etl.storage.lake import empty

    lake = Storage(loaded).lake
    for table in (LOADS, TRACE, QUARANTINE):
        lake.replace_day(table, MON, empty(table))
    assert inconsistent_days(loaded) == {MON: "in the warehouse but not in the lake"}


def test_a_load_cut_short_before_its_loads_row_is_visible(loaded):
    from etl.storage.lake import empty

    lake = Storage(loaded).lake
    lake.replace_day(LOADS, MON, empty(LOADS))
    lake.replace_day("daily_load", MON, empty("daily_load"))
    assert inconsistent_days(loaded)[MON] == "a load was cut short: the lake holds rows of a load never recorded"


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


def test_loads_of_different_days_from_two_processes_at_once_all_land(loaded):
    """Each process replaces its own day again and again; every commit to a table the other just
    changed is retried by the catalog, and nothing is lost."""
    env = {**os.environ, "MAILFLOW_HOME": str(loaded.home)}
    loop = ("import sys\nfrom etl.cli import main\n"
            "sys.exit(max(main(['ingest', '--date', sys.argv[1]]) for _ in range(4)))")
    processes = [subprocess.Popen([sys.executable, "-c", loop, str(day)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for day in (MON, TUE)]
    errors = [p.communicate(timeout=300)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors
    assert inconsistent_days(loaded) == {}
    assert [d["rows_loaded"] for d in status(loaded)["days"]] == [1000, 1000]


def test_two_loads_of_one_day_at_once_end_whole(loaded):
    """Two loads of the same day at once: each table ends with one load's rows whole (never a mix
    of rows); if the tables ended with different loads, the load or its gate says so in one line,
    and the next load mends the day."""
    env = {**os.environ, "MAILFLOW_HOME": str(loaded.home)}
    processes = [subprocess.Popen([sys.executable, "-m", "etl", "ingest", "--date", str(TUE)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
    storage = Storage(loaded)
    for table in (TRACE, QUARANTINE):
        assert len(storage.load_ids(table)[TUE]) == 1  # one load's rows, never two
    for code, stderr in outcomes:  # (pyiceberg logs the retries it made on the way)
        assert code == 0 or (code == 2 and len([n for n in stderr.splitlines() if n.startswith("error:")]) == 1), stderr
    if inconsistent_days(loaded):
        assert any(code for code, _ in outcomes)
        assert backfill(loaded, TUE, TUE).loaded == ["2026-11-10"]
    assert inconsistent_days(loaded) == {}

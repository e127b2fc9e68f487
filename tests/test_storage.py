"""Storage: a lake table's day is replaced in one commit; keys stay below the root; writers of one key take turns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from etl.storage import QUARANTINE, Storage


def version_rows(day, version, n):
    from etl.storage.lake import empty

    table = [{"date": day, "source_file": version, "source_line": i, "reason": "r", "raw": "x", "load_id": version}
             for i in range(n)]
    return pa.Table.from_pylist(table, schema=empty("quarantine").schema)


def test_a_day_is_replaced_whole_and_other_days_are_untouched(cfg):
    lake = Storage(cfg).lake
    monday, tuesday = date(2026, 11, 9), date(2026, 11, 10)
    lake.replace_day(QUARANTINE, tuesday, version_rows(tuesday, "other", 3))
    for version in ("old", "new"):
        lake.replace_day(QUARANTINE, monday, version_rows(monday, version, 5))
    assert lake.read(QUARANTINE, monday, monday)["load_id"].to_pylist() == ["new"] * 5
    assert lake.read(QUARANTINE, tuesday, tuesday).num_rows == 3
    assert lake.days(QUARANTINE) == [monday, tuesday]


def test_a_reader_sees_the_old_day_or_the_new_one_never_a_mix(cfg):
    """A writer replaces a day over and over (in another process, as a worker would) while this
    process reads it: every read is one version's rows, whole."""
    lake = Storage(cfg).lake
    day = date(2026, 11, 9)
    lake.replace_day(QUARANTINE, day, version_rows(day, "v0", 1000))
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys\nfrom datetime import date\nfrom etl.config import settings\nfrom etl.storage import Storage\n"
        "from tests.test_storage import version_rows\nlake = Storage(settings()).lake\n"
        "for i in range(1, 16):\n"
        "    lake.replace_day('quarantine', date(2026, 11, 9), version_rows(date(2026, 11, 9), f'v{i}', 1000 + i))\n")],
        env={**os.environ, "MAILFLOW_HOME": str(cfg.home)}, cwd=Path(__file__).resolve().parent.parent)
    seen = set()
    while writer.poll() is None:
        versions = lake.read(QUARANTINE, day, day)["load_id"].to_pylist()
        assert len(set(versions)) == 1 and len(versions) == 1000 + int(versions[0][1:]), sorted(set(versions))
        seen.add(versions[0])
    assert writer.returncode == 0
    assert lake.read(QUARANTINE, day, day)["load_id"].to_pylist() == ["v15"] * 1015
    assert len(seen) > 1  # the reads did overlap the writes


def test_keys_stay_below_the_storage_root(cfg):
    storage = Storage(cfg)
    key = storage.write_bytes(storage.report_key("2026-11-16_2026-11-22", "views.json"), b"{}")
    assert storage.read_bytes(key) == b"{}" and Path(storage.where(key)).is_relative_to(cfg.home)
    for key in ("../elsewhere", "reports/../../elsewhere", "/etc/passwd", ""):
        with pytest.raises(ValueError, match="outside the storage root"):
            storage.read_bytes(key)


def test_lock_serialises_writers_of_one_key(cfg):
    lake = Storage(cfg)
    events = []

    def writer(name):
        with lake.lock("day-2026-11-09"):
            events.append(f"{name} in")
            time.sleep(0.05)
            events.append(f"{name} out")

    threads = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert events in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


def test_a_load_removes_staging_left_by_a_crash_but_not_one_in_use(cfg, export):
    import fcntl

    from etl.load.ingest import ingest_day
    from tests.conftest import row

    root = Storage(cfg).root / ".staging"
    for name in ("crashed", "in-use", "no-lock", "lock-only"):
        (root / name / "spill").mkdir(parents=True)
        (root / name / "spill" / "accepted.parquet").write_bytes(b"x" * 1000)
    (root / "crashed.lock").touch()  # its process died: nobody holds the lock
    shutil.rmtree(root / "lock-only")
    (root / "lock-only.lock").touch()  # died between removing its folder and its lock
    with open(root / "in-use.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another load, still running
        ingest_day(cfg, date(2026, 11, 9), [export([row()])])
        assert sorted(p.name for p in root.iterdir()) == ["in-use", "in-use.lock"]


def test_a_catalog_of_another_storage_is_refused(cfg, tmp_path):
    import dataclasses

    from etl.errors import StorageError

    day = date(2026, 11, 9)
    Storage(cfg).lake.replace_day(QUARANTINE, day, version_rows(day, "v1", 2))
    elsewhere = dataclasses.replace(cfg, storage=str(tmp_path / "other-storage"),
                                    catalog=f"sqlite:///{cfg.home / 'catalog.db'}")
    with pytest.raises(StorageError, match="MAILFLOW_CATALOG belongs to another MAILFLOW_STORAGE"):
        Storage(elsewhere).lake.read(QUARANTINE)


def test_two_processes_meeting_a_new_catalog_at_once_both_reach_it(cfg):
    """The catalog's constructor checks for its own tables, then creates them: the process that
    loses that race sees "already exists" once, and must find the tables made, not fail its load."""
    from pyiceberg.catalog.sql import SqlCatalog
    from sqlalchemy.exc import OperationalError

    lake = Storage(cfg).lake
    Path(lake.catalog_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    calls = []

    def raced_catalog(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            SqlCatalog(*args, **kwargs)  # the winner creates the tables between our check and create
            raise OperationalError("CREATE TABLE iceberg_tables", {},
                                   Exception("table iceberg_tables already exists"))
        return SqlCatalog(*args, **kwargs)

    assert lake._first_contact(raced_catalog).list_namespaces() == []
    assert len(calls) == 2

    def unreachable(*args, **kwargs):
        calls.append(1)
        raise OperationalError("connect", {}, Exception("unable to open database file"))

    with pytest.raises(OperationalError, match="unable to open"):
        lake._first_contact(unreachable)
    assert len(calls) == 3  # other errors are not retried

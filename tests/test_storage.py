"""Storage: partitions are swapped in whole; writers of one key take turns."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import date

import pytest

from etl.storage import TRACE, Storage


def test_publish_replaces_a_day_whole(cfg):
    storage = Storage(cfg)
    day = date(2026, 11, 9)
    for version in ("old", "new"):
        with storage.staged_day() as staged:
            (staged.trace / f"{version}.parquet").write_text(version)
            storage.publish_day(day, staged, {"version": version})
    assert sorted(p.name for p in storage.partition(TRACE, day).iterdir()) == ["_load.json", "new.parquet"]
    assert storage.read_load_manifest(day) == {"version": "new"}
    assert not any((storage.lake / ".staging").iterdir())  # the old version went with the staging folder


def test_keys_stay_below_the_storage_root(cfg):
    storage = Storage(cfg)
    key = storage.write_bytes(storage.report_key("2026-11-16_2026-11-22", "views.json"), b"{}")
    assert storage.read_bytes(key) == b"{}" and storage.path(key).is_relative_to(cfg.home)
    with pytest.raises(ValueError, match="outside the storage root"):
        storage.path("../elsewhere")


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

    root = Storage(cfg).lake / ".staging"
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

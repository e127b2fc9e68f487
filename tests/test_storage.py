"""Storage: partitions are swapped in whole; writers of one key take turns."""

from __future__ import annotations

import threading
import time

from etl.storage import Lake


def test_publish_replaces_a_directory_whole(cfg):
    lake = Lake(cfg)
    target = lake.root / "trace" / "date=2026-11-09"
    for version in ("old", "new"):
        staged = lake.staging_dir()
        (staged / f"{version}.parquet").write_text(version)
        lake.publish(staged, target)
    assert [p.name for p in target.iterdir()] == ["new.parquet"]
    assert not any((lake.root / ".staging").iterdir())  # the old version went with the staging folder


def test_lock_serialises_writers_of_one_key(cfg):
    lake = Lake(cfg)
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

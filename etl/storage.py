"""Where things live and how they are written. The only module that knows paths.

Every write is atomic: files and partitions are built aside in a staging folder on
the same filesystem and then renamed into place, so readers see the old version or
the new one, never a mix. Writers of the same key are serialised by a lock file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from .config import Settings

TRACE = "trace"
QUARANTINE = "quarantine"
LOAD_MANIFEST = "_load.json"


LANDING_SUFFIXES = (".csv", ".csv.gz", ".log", ".log.gz")


class Lake:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = settings.lake

    # -- paths -----------------------------------------------------------------
    def partition(self, dataset: str, day: date) -> Path:
        return self.root / dataset / f"date={day.isoformat()}"

    def load_manifest(self, day: date) -> Path:
        return self.partition(TRACE, day) / LOAD_MANIFEST

    def staging_dir(self) -> Path:
        path = self.root / ".staging" / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    def landing_files(self, day: date) -> list[Path]:
        """The day's exports in the landing folder: trace_D.csv, trace_D_*.csv.gz, trace_D.log (Postfix)..."""
        landing = self.settings.landing
        if not landing.is_dir():
            return []
        stem = f"trace_{day.isoformat()}"
        return sorted(
            p
            for p in landing.iterdir()
            if p.is_file()
            and (p.name.startswith(stem + ".") or p.name.startswith(stem + "_"))
            and p.name.endswith(LANDING_SUFFIXES)
        )

    def no_export_message(self, day: date) -> str:
        """What to say when day D has no export: where it was looked for, under which names."""
        return (f"no export for {day} in {self.settings.landing} "
                f"(expected trace_{day}.csv, .csv.gz, .log or .log.gz)")

    def landing_days(self) -> set[date]:
        """The days that have an export in the landing folder."""
        landing = self.settings.landing
        if not landing.is_dir():
            return set()
        days = set()
        for path in landing.iterdir():
            try:
                days.add(date.fromisoformat(path.name.removeprefix("trace_")[:10]))
            except ValueError:
                continue
        return {day for day in days if self.landing_files(day)}

    def read_load_manifest(self, day: date) -> dict:
        path = self.load_manifest(day)
        if not path.exists():
            raise FileNotFoundError(f"day {day} is not loaded: {path} is missing; run ingest for {day} first")
        return json.loads(path.read_text(encoding="utf-8"))

    # -- locking ---------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Exclusive lock across processes (two runs of one day never interleave)."""
        locks = self.settings.home / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{name}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- publishing ------------------------------------------------------------
    def publish(self, staged: Path, target: Path) -> None:
        """Make the staged directory the target directory, replacing it whole."""
        target.parent.mkdir(parents=True, exist_ok=True)
        _fsync_tree(staged)
        if target.exists():
            _exchange(staged, target)  # staged now holds the old partition
            shutil.rmtree(staged)
        else:
            os.rename(staged, target)
        _fsync_dir(target.parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write aside, then rename: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, payload: dict) -> None:
    write_bytes_atomic(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode("utf-8"))


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories in one atomic step (Linux renameat2), else as close as we can."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")
    # Fallback: two renames; a crash between them leaves the old copy in `aside`.
    aside = a.with_name(a.name + ".old")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for child in path.iterdir():
        if child.is_file():
            with open(child, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(path)

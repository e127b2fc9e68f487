"""Where everything lives, and how it is written there: the one module that knows locations.

    landing/                        the exports as they arrive (MAILFLOW_LANDING may put it elsewhere)
    lake/trace/date=D/              one day's records, plus the load manifest
    lake/quarantine/date=D/         one day's rejected records
    warehouse.duckdb                the daily aggregates (written by one writer at a time)
    warehouse.snapshot.duckdb       a copy published after each commit: what readers open
    reports/<window>/<file>         the latest run of each report window
    archive/...                     the auditors' archive (see ArchiveStore)
    outbox/                         messages written instead of sent, when no SMTP server is set

Everything else names things by *key* (a `/`-separated location below the storage root, e.g.
`reports/2026-11-16_2026-11-22/report.json`) or asks this module for a day's partition; that is
the seam along which the local folder can become an object store.

Every write is atomic: files and partitions are built aside on the same filesystem and renamed
into place, so readers see the old version or the new one, never a mix. Writers of the same
thing are serialised by a lock file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from etl.config import Settings
from etl.errors import ArchiveError, NotLoadedError

TRACE = "trace"
QUARANTINE = "quarantine"
LOAD_MANIFEST = "_load.json"
LANDING_SUFFIXES = (".csv", ".csv.gz", ".log", ".log.gz")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class StagedDay:
    """Folders to build one day's partitions in, before `Storage.publish_day` swaps them in."""

    trace: Path
    quarantine: Path
    spill: Path


class Storage:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = settings.home
        self.landing = settings.landing or self.root / "landing"
        self.lake = self.root / "lake"
        self.warehouse = self.root / "warehouse.duckdb"  # the writers' file (one writer at a time)
        self.warehouse_snapshot = self.root / "warehouse.snapshot.duckdb"  # what readers open
        self.archive = ArchiveStore(self.root / "archive", self)

    # -- keys ------------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        """The local file behind a key."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key {key!r} points outside the storage root")
        return path

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def write_bytes(self, key: str, data: bytes) -> str:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)
        return key

    def report_key(self, window: str, file_name: str) -> str:
        """Where the latest run of a report window keeps a file: one folder per window and filter."""
        return f"reports/{window}/{file_name}"

    def outbox_write(self, name: str, data: bytes) -> Path:
        """A message written instead of sent; returns where it is, for the receipt."""
        outbox = self.root / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / name
        write_bytes_atomic(path, data)
        return path

    # -- landing ---------------------------------------------------------------------------
    def landing_files(self, day: date) -> list[Path]:
        """The day's exports in the landing folder: trace_D.csv, trace_D_*.csv.gz, trace_D.log (Postfix)..."""
        if not self.landing.is_dir():
            return []
        stem = f"trace_{day.isoformat()}"
        return sorted(
            p
            for p in self.landing.iterdir()
            if p.is_file()
            and (p.name.startswith(stem + ".") or p.name.startswith(stem + "_"))
            and p.name.endswith(LANDING_SUFFIXES)
        )

    def no_export_message(self, day: date) -> str:
        """What to say when day D has no export: where it was looked for, under which names."""
        return (f"no export for {day} in {self.landing} "
                f"(expected trace_{day}.csv, .csv.gz, .log or .log.gz)")

    def landing_days(self) -> set[date]:
        """The days that have an export in the landing folder."""
        if not self.landing.is_dir():
            return set()
        days = set()
        for path in self.landing.iterdir():
            try:
                days.add(date.fromisoformat(path.name.removeprefix("trace_")[:10]))
            except ValueError:
                continue
        return {day for day in days if self.landing_files(day)}

    # -- lake ------------------------------------------------------------------------------
    def partition(self, dataset: str, day: date) -> Path:
        return self.lake / dataset / f"date={day.isoformat()}"

    def trace_files(self, day: date) -> list[str]:
        """The Parquet files of a day's trace partition, for DuckDB to scan."""
        return [str(p) for p in sorted(self.partition(TRACE, day).glob("*.parquet"))]

    def is_loaded(self, day: date) -> bool:
        return (self.partition(TRACE, day) / LOAD_MANIFEST).exists()

    def read_load_manifest(self, day: date) -> dict:
        path = self.partition(TRACE, day) / LOAD_MANIFEST
        if not path.exists():
            raise NotLoadedError(f"day {day} is not loaded: {path} is missing; run ingest for {day} first")
        return json.loads(path.read_text(encoding="utf-8"))

    def lake_days(self) -> list[date]:
        """The days with a trace partition (a load manifest), in order."""
        days = []
        for path in (self.lake / TRACE).glob("date=*"):
            try:
                day = date.fromisoformat(path.name.removeprefix("date="))
            except ValueError:
                continue
            if self.is_loaded(day):
                days.append(day)
        return sorted(days)

    def quarantine_load_id(self, day: date) -> str | None:
        """The load id the day's quarantine partition was written by (None: none, or from before load ids)."""
        path = self.partition(QUARANTINE, day) / LOAD_MANIFEST
        return json.loads(path.read_text(encoding="utf-8")).get("load_id") if path.exists() else None

    def partition_fingerprint(self, day: date) -> dict:
        """What a report over a day was computed from: the exports its load read (a hash of their
        names and SHA-256) and the rows it loaded. Reloading the same exports gives the same
        fingerprint (the Parquet bytes need not be the same: row order is not part of the lake)."""
        if not self.is_loaded(day):
            return {"date": day.isoformat(), "missing": True}
        manifest = self.read_load_manifest(day)
        digest = hashlib.sha256()
        for source in sorted(manifest["sources"], key=lambda s: s["file"]):
            digest.update(source["file"].encode() + b"\0" + source["sha256"].encode() + b"\n")
        return {"date": day.isoformat(), "rows_loaded": manifest["rows_loaded"], "exports_sha256": digest.hexdigest()}

    def landing_state(self, day: date) -> str:
        """'missing' (no export), 'new' (never loaded), 'changed' (the exports differ from the ones
        last loaded, by name or SHA-256) or 'same'."""
        files = self.landing_files(day)
        if not files:
            return "missing"
        if not self.is_loaded(day):
            return "new"
        loaded = {(s["file"], s["sha256"]) for s in self.read_load_manifest(day)["sources"]}
        return "same" if loaded == {(f.name, sha256_file(f)) for f in files} else "changed"

    def fingerprints(self, start: date, end: date) -> list[dict]:
        return [self.partition_fingerprint(start + timedelta(days=i)) for i in range((end - start).days + 1)]

    @contextlib.contextmanager
    def staged_day(self) -> Iterator[StagedDay]:
        """Empty folders for a day's partitions and DuckDB's spill files, removed afterwards.

        A staging folder `<id>` is in use while its lock file `<id>.lock` beside it is locked; the
        lock is taken before the folder exists and the folder removed before the lock, so a folder
        whose lock nobody holds (or that has none) was left by a crashed load: the next load removes it."""
        root = self.lake / ".staging"
        root.mkdir(parents=True, exist_ok=True)
        name, held = _locked_name(root)
        with held:
            _remove_abandoned(root)
            staging = root / name
            staged = StagedDay(staging / TRACE, staging / QUARANTINE, staging / "spill")
            for folder in (staged.trace, staged.quarantine, staged.spill):
                folder.mkdir(parents=True)
            try:
                yield staged
            finally:
                shutil.rmtree(staging, ignore_errors=True)
                (root / f"{name}.lock").unlink(missing_ok=True)

    def publish_day(self, day: date, staged: StagedDay, load_manifest: dict) -> None:
        """Swap the staged partitions in, each whole; the trace partition, which holds the load
        manifest, goes last, so a day counts as loaded only once both are in place. Both carry the
        manifest, so that a crash between the two swaps shows as partitions of different loads."""
        data = (json.dumps(load_manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
        write_bytes_atomic(staged.trace / LOAD_MANIFEST, data)
        write_bytes_atomic(staged.quarantine / LOAD_MANIFEST, data)
        _publish_dir(staged.quarantine, self.partition(QUARANTINE, day))
        _publish_dir(staged.trace, self.partition(TRACE, day))

    # -- warehouse -------------------------------------------------------------------------
    def publish_warehouse_snapshot(self) -> None:
        """Copy the (closed, checkpointed) warehouse to the file readers open, replacing it in one
        rename: a report never holds the writers' file, so it can neither block a load nor be
        refused by one, and a reader that has the old snapshot open goes on reading it whole."""
        tmp = self.warehouse_snapshot.with_name(f".{self.warehouse_snapshot.name}.{uuid.uuid4().hex}.tmp")
        try:
            shutil.copyfile(self.warehouse, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.warehouse_snapshot)
        finally:
            tmp.unlink(missing_ok=True)

    # -- locking ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Exclusive lock across processes (two runs of one day never interleave)."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{name}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


class ArchiveStore:
    """The archive's files: write-once revision folders and an append-only index.

    Revisions are named by a relative location (`2026/W47/r1`); files inside them by name.
    A revision is built aside, made read-only and renamed into place, so it appears whole.
    """

    INDEX = "index.jsonl"
    HEAD = "index.head"

    def __init__(self, root: Path, storage: Storage):
        self.root = root
        self._storage = storage

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """One writer of the archive at a time: revision numbers and the index chain stay in order."""
        return self._storage.lock("archive")

    def revision_location(self, report_id: str, number: int) -> str:
        """`2026-W47` -> `2026/W47/r1`; `adhoc/<window>` -> `adhoc/<window>/r1`."""
        if report_id.startswith("adhoc/"):
            return f"{report_id}/r{number}"
        year, week = report_id.split("-W")
        return f"{year}/W{week}/r{number}"

    def display(self, location: str) -> Path:
        """Where an auditor finds a revision on disk."""
        return self.root / location

    def create_revision(self, location: str, files: dict[str, bytes]) -> None:
        """Write a revision's files once; fails if the revision exists already."""
        target = self.root / location
        if target.exists():
            raise ArchiveError(f"{target} exists but the index does not know it; run `archive verify`")
        staging = self.root / ".staging" / uuid.uuid4().hex
        staging.mkdir(parents=True)
        try:
            for name, data in sorted(files.items()):
                (staging / name).write_bytes(data)
                os.chmod(staging / name, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, target)
            os.chmod(target, 0o550)  # after the move: moving a folder needs it writable
        except BaseException:
            if staging.exists():
                os.chmod(staging, 0o750)
                for path in staging.iterdir():
                    os.chmod(path, 0o644)
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def add_file(self, location: str, name: str, data: bytes) -> None:
        """Add one file to a revision, once (a send receipt); the revision stays read-only. The file is
        written in the staging folder and linked into place whole, so a crash leaves nothing half
        written in the revision (only a staging file the next repair removes), and an existing file
        is never replaced."""
        folder = self.root / location
        staging = self.root / ".staging"
        staging.mkdir(parents=True, exist_ok=True)
        tmp = staging / f"{uuid.uuid4().hex}.{name}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o444)
        os.chmod(folder, 0o750)
        try:
            os.link(tmp, folder / name)
        except FileExistsError:
            raise ArchiveError(f"{location}/{name} exists already") from None
        finally:
            os.chmod(folder, 0o550)
            tmp.unlink(missing_ok=True)

    def read(self, location: str, name: str) -> bytes | None:
        path = self.root / location / name
        return path.read_bytes() if path.exists() else None

    def file_names(self, location: str) -> list[str]:
        return sorted(p.name for p in (self.root / location).iterdir())

    def file_sha256(self, location: str, name: str) -> str | None:
        path = self.root / location / name
        return sha256_file(path) if path.exists() else None

    def revision_locations(self) -> list[str]:
        """Every revision folder (`.../r<N>`), whatever it holds; staging excluded."""
        if not self.root.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("r*")
                      if p.is_dir() and p.name[1:].isdigit() and ".staging" not in p.parts)

    def is_empty(self) -> bool:
        return not self.root.exists() or not any(self.root.iterdir())

    def remove_abandoned_staging(self) -> list[str]:
        """Revisions half-built by a crashed writer (call with the archive lock held)."""
        staging = self.root / ".staging"
        if not staging.exists():
            return []
        left = sorted(p.name for p in staging.iterdir())
        for name in left:
            path = staging / name
            if path.is_dir():
                os.chmod(path, 0o750)
                for child in path.iterdir():
                    os.chmod(child, 0o644)
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return left

    # The index: one JSON line per event, appended; `index.head` anchors its end (how many lines,
    # and the SHA-256 of the last), so that an edit of the last line, or a removed one, shows too.
    def index_lines(self) -> list[bytes]:
        index = self.root / self.INDEX
        return index.read_bytes().splitlines() if index.exists() else []

    def has_index(self) -> bool:
        return (self.root / self.INDEX).exists()

    def index_location(self) -> Path:
        return self.root / self.INDEX

    def read_head(self) -> dict | None:
        path = self.root / self.HEAD
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def write_head(self, head: dict) -> None:
        write_bytes_atomic(self.root / self.HEAD, (json.dumps(head, sort_keys=True) + "\n").encode("utf-8"))

    def torn_index_end(self) -> int | None:
        """If the index does not end with a line end (an append cut short), the length of its
        complete lines; else None."""
        index = self.root / self.INDEX
        if not index.exists():
            return None
        data = index.read_bytes()
        return None if not data or data.endswith(b"\n") else data.rfind(b"\n") + 1

    def truncate_index(self, length: int) -> None:
        with open(self.root / self.INDEX, "r+b") as fh:
            fh.truncate(length)
            fh.flush()
            os.fsync(fh.fileno())

    def append_index(self, line: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / self.INDEX, "ab") as fh:
            fh.write(line + b"\n")
            fh.flush()
            os.fsync(fh.fileno())


def _locked_name(root: Path):
    """A fresh name and its lock file, locked. Checked after locking that the file is still the one
    at that path: a sweeper that got in between creating and locking it has removed it."""
    while True:
        name = uuid.uuid4().hex
        held = open(root / f"{name}.lock", "w")  # returned open: the caller closes it
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            if os.stat(root / f"{name}.lock").st_ino == os.fstat(held.fileno()).st_ino:
                return name, held
        except FileNotFoundError:
            pass
        held.close()


def _remove_abandoned(staging_root: Path) -> None:
    """Remove the staging folders (and lock files) no live load holds: their load crashed."""
    for path in staging_root.iterdir():
        name = path.name.removesuffix(".lock")
        lock = staging_root / f"{name}.lock"
        try:
            with open(lock, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(staging_root / name, ignore_errors=True)
                lock.unlink(missing_ok=True)
        except BlockingIOError:
            continue  # a load is using it


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write aside, then rename: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _publish_dir(staged: Path, target: Path) -> None:
    """Make the staged directory the target directory, replacing it whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _fsync_tree(staged)
    if target.exists():
        _exchange(staged, target)  # staged now holds the old partition
        shutil.rmtree(staged)
    else:
        os.rename(staged, target)
    _fsync_dir(target.parent)


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

"""Where everything lives, and how it is written there: the one module that knows locations.

    landing/                        the exports as they arrive (MAILFLOW_LANDING may put it elsewhere)
    landing/tlsrpt/                 SMTP TLS reports as they arrive: files, mail, maildir folders, mbox
    catalog.db                      the lake's Iceberg catalog (MAILFLOW_CATALOG may name PostgreSQL instead)
    lake/mailflow/<table>/          the lake's tables: data and metadata files (see storage.lake)
    reports/<window>/<file>         the latest run of each report window
    reports/<window>/runs/<run>/    each run's views and report document, before it publishes them
    archive/...                     the auditors' archive (see storage.archive_files)
    outbox/                         messages written instead of sent, when no SMTP server is set
    .staging/                       scratch space of running loads (a cache: nothing there is needed)

Everything else names things by *key* (a `/`-separated location below the storage root, e.g.
`reports/2026-11-16_2026-11-22/report.json`), by lake table, or asks this module for a day's
load; that is the seam along which the local folder becomes an object store.

Every write is atomic: files are written aside and renamed into place; a lake table's day is
replaced in one catalog commit. Readers see the old version or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow.fs as pafs

from etl.config import Settings
from etl.errors import NotLoadedError, StorageError
from etl.storage.archive_files import BucketArchiveStore, FolderArchiveStore
from etl.storage.lake import Lake
from etl.storage.local import host_lock, write_bytes_atomic
from etl.storage.objects import describe_failure, iceberg_io_properties, is_local, open_location, s3_client

TRACE = "trace"
QUARANTINE = "quarantine"
LOADS = "loads"
LANDING_SUFFIXES = (".csv", ".csv.gz", ".log", ".log.gz")
TLSRPT = "tlsrpt"  # below the landing folder
# a day of SMTP TLS reports: its lake tables, in commit order (tlsrpt_loads last: the day counts as
# loaded once its row is in; every table's rows carry the load id, as the traces' do)
TLSRPT_TABLES = ("tlsrpt_quarantine", "tlsrpt_policy", "tlsrpt_failure", "daily_tlsrpt_policy",
                 "daily_tlsrpt_failure", "tlsrpt_loads")


@dataclass(frozen=True)
class StagedDay:
    """Local folders to build one day's table files in, before `Storage.commit_load` commits them."""

    trace: Path
    quarantine: Path
    spill: Path
    exports: Path  # the day's exports, when they had to be fetched from an object store


class Storage:
    """Every location, on the configured storage (`MAILFLOW_STORAGE`: a folder, by default
    `MAILFLOW_HOME`, or s3://bucket/prefix). `MAILFLOW_HOME` is always this machine's working
    folder: the staging space of loads and, by default, the embedded catalog."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = settings.home  # local: staging, and the embedded catalog
        self.location = settings.storage or str(self.root)
        self.fs, self.base = open_location(self.location)
        self.landing_location = settings.landing or _join(self.location, "landing")
        self.landing_fs, self.landing_base = open_location(self.landing_location)
        # a local landing folder, for those who put exports there (None on an object store)
        self.landing = Path(self.landing_base) if is_local(self.landing_fs) else None
        self.lake = Lake(settings.catalog or f"sqlite:///{self.root / 'catalog.db'}",
                         _as_uri(self.location, "lake"), self.fs, iceberg_io_properties(self.location))

    @property
    def archive(self) -> FolderArchiveStore | BucketArchiveStore:
        """The archive's files: a folder beside the lake, or the same prefix in the bucket."""
        if is_local(self.fs):
            return FolderArchiveStore(Path(self.base) / "archive", lambda: self.lock("archive"))
        bucket, _, prefix = self.base.partition("/")
        return BucketArchiveStore(s3_client(), bucket, f"{prefix}/archive".lstrip("/"),
                                  lambda: self.lake.exclusive("archive"))

    # -- keys ------------------------------------------------------------------------------
    def _key_path(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"key {key!r} points outside the storage root")
        return f"{self.base}/{key}"

    def where(self, key: str) -> str:
        """Where a key is, for people: a local path or a URL."""
        path = self._key_path(key)
        return path if is_local(self.fs) else f"s3://{path}"

    def read_bytes(self, key: str) -> bytes:
        try:
            with self.fs.open_input_stream(self._key_path(key)) as stream:
                return stream.read()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise describe_failure(self.where(key), exc) from None

    def write_bytes(self, key: str, data: bytes) -> str:
        """Write a key whole: a reader sees the old object or the new one (aside and renamed on
        disk; one PUT on an object store)."""
        path = self._key_path(key)
        if is_local(self.fs):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(Path(path), data)
            return key
        try:
            with self.fs.open_output_stream(path) as stream:
                stream.write(data)
        except OSError as exc:
            raise describe_failure(self.where(key), exc) from None
        return key

    def report_key(self, window: str, file_name: str) -> str:
        """Where the latest run of a report window keeps a file: one folder per window and filter."""
        return f"reports/{window}/{file_name}"

    def outbox_write(self, name: str, data: bytes) -> str:
        """A message written instead of sent; returns where it is, for the receipt."""
        return self.where(self.write_bytes(f"outbox/{name}", data))

    def check(self) -> None:
        """Reach the storage and the catalog once, so that a wrong bucket, refused credentials, an
        endpoint or a catalog database that does not answer is one line naming which, and where."""
        for location, filesystem, base in ((self.location, self.fs, self.base),
                                           (self.landing_location, self.landing_fs, self.landing_base)):
            try:
                filesystem.get_file_info(base)
                if not is_local(filesystem):
                    bucket = base.split("/")[0]
                    if filesystem.get_file_info(bucket).type == pafs.FileType.NotFound:
                        raise StorageError(f"{location}: no such bucket {bucket!r}")
            except OSError as exc:
                raise describe_failure(location, exc) from None
        self.lake.check()

    # -- landing ---------------------------------------------------------------------------
    def _landing_entries(self) -> list[str]:
        """The file names in the landing folder (or under the landing prefix)."""
        selector = pafs.FileSelector(self.landing_base, allow_not_found=True)
        try:
            infos = self.landing_fs.get_file_info(selector)
        except OSError as exc:
            raise describe_failure(self.landing_location, exc) from None
        return sorted(info.base_name for info in infos if info.type == pafs.FileType.File)

    def landing_files(self, day: date) -> list[str]:
        """The names of the day's exports in the landing folder: trace_D.csv, trace_D_*.csv.gz,
        trace_D.log (Postfix)..."""
        return [name for name in self._landing_entries() if _export_day(name) == day]

    def fetch_landing(self, day: date, into: Path) -> list[Path]:
        """The day's exports as local files: the landing folder's own when it is local, else copied
        from the object store into `into` (this worker's staging space)."""
        names = self.landing_files(day)
        if self.landing is not None:
            return [self.landing / name for name in names]
        for name in names:
            try:
                with self.landing_fs.open_input_stream(f"{self.landing_base}/{name}") as source, \
                        open(into / name, "wb") as sink:
                    shutil.copyfileobj(source, sink, 8 << 20)
            except OSError as exc:
                raise describe_failure(f"{self.landing_location}/{name}", exc) from None
        return [into / name for name in names]

    def put_landing(self, path: Path) -> str:
        """Drop an export into the landing folder or prefix (whole: written aside and renamed on disk,
        one upload to an object store); returns where it is."""
        target = f"{self.landing_base}/{path.name}"
        try:
            if self.landing is not None:
                self.landing.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(Path(target), path.read_bytes())
            else:
                with open(path, "rb") as source, self.landing_fs.open_output_stream(target) as sink:
                    shutil.copyfileobj(source, sink, 8 << 20)
        except OSError as exc:
            raise describe_failure(f"{self.landing_location}/{path.name}", exc) from None
        return f"{self.landing_location}/{path.name}"

    def _landing_sha256(self, name: str) -> str:
        digest = hashlib.sha256()
        with self.landing_fs.open_input_stream(f"{self.landing_base}/{name}") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def no_export_message(self, day: date) -> str:
        """What to say when day D has no export: where it was looked for, under which names."""
        return (f"no export for {day} in {self.landing_location} "
                f"(expected trace_{day}.csv, .csv.gz, .log or .log.gz)")

    def landing_days(self) -> set[date]:
        """The days that have an export in the landing folder."""
        return {day for name in self._landing_entries() if (day := _export_day(name)) is not None}

    # -- SMTP TLS reports ------------------------------------------------------------------
    @property
    def tlsrpt_landing_location(self) -> str:
        return _join(self.landing_location, TLSRPT)

    def put_tlsrpt(self, path: Path) -> str:
        """Drop a report file, mail, mbox or maildir folder into the TLS reports' landing folder,
        where every later load reads it again. A file of the same name and other content already
        there is never replaced: the new one lands beside it, named after its own SHA-256."""
        base = f"{self.landing_base}/{TLSRPT}"
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        # a maildir folder is often hidden (~/Maildir/.TLS-reports): loads skip hidden names, so it lands unhidden
        top = path.name.lstrip(".") or "reports"
        for file in files:
            relative = f"{top}/{file.relative_to(path).as_posix()}" if path.is_dir() else top
            data = file.read_bytes()
            target = f"{base}/{relative}"
            existing = None
            if self.landing_fs.get_file_info(target).type == pafs.FileType.File:
                with self.landing_fs.open_input_stream(target) as stream:
                    existing = stream.read()
            if existing == data:
                continue
            if existing is not None:
                target = f"{base}/{Path(relative).with_name(f'{hashlib.sha256(data).hexdigest()[:12]}-{file.name}')}"
            try:
                if self.landing is not None:
                    Path(target).parent.mkdir(parents=True, exist_ok=True)
                    write_bytes_atomic(Path(target), data)
                else:
                    with self.landing_fs.open_output_stream(target) as sink:
                        sink.write(data)
            except OSError as exc:
                raise describe_failure(f"{self.tlsrpt_landing_location}/{relative}", exc) from None
        return f"{self.tlsrpt_landing_location}/{top}"

    def fetch_tlsrpt(self, into: Path) -> Path | None:
        """The TLS reports' landing folder as a local folder (None when there is none): the folder
        itself when it is local, else a copy of the prefix in `into`, modification times kept (a
        refused file without a date is filed under the day it landed)."""
        base = f"{self.landing_base}/{TLSRPT}"
        if self.landing is not None:
            return Path(base) if Path(base).is_dir() else None
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        try:
            infos = [i for i in self.landing_fs.get_file_info(selector) if i.type == pafs.FileType.File]
            for info in infos:
                local = into / info.path.removeprefix(base).lstrip("/")
                local.parent.mkdir(parents=True, exist_ok=True)
                with self.landing_fs.open_input_stream(info.path) as source, open(local, "wb") as sink:
                    shutil.copyfileobj(source, sink, 8 << 20)
                if info.mtime is not None:
                    os.utime(local, (info.mtime.timestamp(), info.mtime.timestamp()))
        except OSError as exc:
            raise describe_failure(self.tlsrpt_landing_location, exc) from None
        return into if infos else None

    def tlsrpt_loads(self) -> dict[date, dict]:
        """What each day of TLS reports was loaded from (its tlsrpt_loads row), by day."""
        rows = self.lake.read("tlsrpt_loads").to_pylist()
        return {row["date"]: {**row, "sources": json.loads(row["sources"]),
                              "quarantine_reasons": json.loads(row["quarantine_reasons"])} for row in rows}

    def commit_tlsrpt_day(self, day: date, tables: dict, load_id: str) -> None:
        """Replace a day of TLS reports: each table's day in one commit, tlsrpt_loads last."""
        for name in TLSRPT_TABLES:
            self.lake.replace_day(name, day, tables[name], {"mailflow.load_id": load_id})

    # -- lake ------------------------------------------------------------------------------
    def load_manifests(self, start: date | None = None, end: date | None = None) -> dict[date, dict]:
        """What each loaded day's load recorded (its row of the loads table), by day."""
        rows = self.lake.read(LOADS, start, end).to_pylist()
        return {row["date"]: _manifest(row) for row in rows}

    def read_load_manifest(self, day: date) -> dict:
        manifest = self.load_manifests(day, day).get(day)
        if manifest is None:
            raise NotLoadedError(f"day {day} is not loaded; run ingest for {day} first")
        return manifest

    def is_loaded(self, day: date) -> bool:
        return bool(self.load_manifests(day, day))

    def lake_days(self) -> list[date]:
        """The days that have a load recorded, in order."""
        return self.lake.days(LOADS)

    def load_ids(self, table: str, start: date | None = None, end: date | None = None) -> dict[date, set[str]]:
        """The loads whose rows a table holds, by day (more than one: a mix, which a commit never makes)."""
        rows = self.lake.read(table, start, end, columns=["date", "load_id"])
        pairs = rows.group_by(["date", "load_id"]).aggregate([])  # in Arrow: a day has millions of rows
        found: dict[date, set[str]] = {}
        for day, load_id in zip(pairs["date"].to_pylist(), pairs["load_id"].to_pylist(), strict=True):
            found.setdefault(day, set()).add(load_id)
        return found

    def day_fingerprint(self, day: date, manifest: dict | None = None) -> dict:
        """What a report over a day was computed from: the exports its load read (a hash of their
        names and SHA-256) and the rows it loaded. Reloading the same exports gives the same
        fingerprint (the Parquet bytes need not be the same: row order is not part of the lake)."""
        if manifest is None:
            return {"date": day.isoformat(), "missing": True}
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
        manifest = self.load_manifests(day, day).get(day)
        if manifest is None:
            return "new"
        loaded = {(s["file"], s["sha256"]) for s in manifest["sources"]}
        return "same" if loaded == {(name, self._landing_sha256(name)) for name in files} else "changed"

    def fingerprints(self, start: date, end: date) -> list[dict]:
        manifests = self.load_manifests(start, end)
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        return [self.day_fingerprint(day, manifests.get(day)) for day in days]

    @contextlib.contextmanager
    def staged_day(self) -> Iterator[StagedDay]:
        """Empty local folders for a day's table files and DuckDB's spill files, removed afterwards.

        A staging folder `<id>` is in use while its lock file `<id>.lock` beside it is locked; the
        lock is taken before the folder exists and the folder removed before the lock, so a folder
        whose lock nobody holds (or that has none) was left by a crashed load: the next load removes it."""
        root = self.root / ".staging"
        root.mkdir(parents=True, exist_ok=True)
        name, held = _locked_name(root)
        with held:
            _remove_abandoned(root)
            staging = root / name
            staged = StagedDay(staging / TRACE, staging / QUARANTINE, staging / "spill", staging / "exports")
            for folder in (staged.trace, staged.quarantine, staged.spill, staged.exports):
                folder.mkdir(parents=True)
            try:
                yield staged
            finally:
                shutil.rmtree(staging, ignore_errors=True)
                (root / f"{name}.lock").unlink(missing_ok=True)

    def commit_load(self, day: date, staged: StagedDay, manifest: dict) -> None:
        """Commit a day's load: its quarantine, its trace records, then its row of the loads table,
        each replacing the day in one commit. The day counts as loaded once its loads row is in;
        all three carry the load id, so a crash between the commits shows as a mix of loads."""
        properties = {"mailflow.load_id": manifest["load_id"]}
        self.lake.replace_day(QUARANTINE, day, sorted(staged.quarantine.glob("*.parquet")), properties)
        self.lake.replace_day(TRACE, day, sorted(staged.trace.glob("*.parquet")), properties)
        self.lake.replace_day(LOADS, day, _loads_row(day, manifest), properties)

    # -- locking ---------------------------------------------------------------------------
    def lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Exclusive lock across the processes of one host (on a local storage folder)."""
        return host_lock(Path(self.base) / ".locks" / f"{name}.lock")


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


def _export_day(name: str) -> date | None:
    """The day an export's name is for (trace_D.csv, trace_D_part2.csv.gz, trace_D.log...), or None."""
    if not name.startswith("trace_") or not name.endswith(LANDING_SUFFIXES) or name[16:17] not in (".", "_"):
        return None
    try:
        return date.fromisoformat(name[6:16])
    except ValueError:
        return None


def _join(location: str, name: str) -> str:
    return f"{location.rstrip('/')}/{name}"


def _as_uri(location: str, name: str) -> str:
    """A folder or URL below the storage, as a URI (what the Iceberg catalog records)."""
    if "://" in location and not location.startswith("file://"):
        return _join(location, name)
    return (Path(location.removeprefix("file://")).resolve() / name).as_uri()


MANIFEST_JSON = ("quarantine_reasons", "warnings", "sources")  # kept as JSON text in the loads table


def _loads_row(day: date, manifest: dict):
    """A load manifest as its row of the loads table."""
    import pyarrow as pa

    from etl.storage.lake import table_schema

    row = {**{k: manifest[k] for k in table_schema(LOADS).names if k in manifest}, "date": day,
           "loaded_at": datetime.fromisoformat(manifest["loaded_at"])}
    row.update({k: json.dumps(manifest[k], sort_keys=True) for k in MANIFEST_JSON})
    return pa.Table.from_pylist([row], schema=table_schema(LOADS))


def _manifest(row: dict) -> dict:
    """A row of the loads table as the load manifest it records."""
    return {**row, "date": row["date"].isoformat(), "loaded_at": row["loaded_at"].isoformat(timespec="seconds"),
            **{k: json.loads(row[k]) for k in MANIFEST_JSON}}

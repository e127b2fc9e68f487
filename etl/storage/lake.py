"""The lake's tables: Apache Iceberg tables (pyiceberg) registered in a SQL catalog.

    trace, quarantine, loads                     what each day's load wrote (etl/load/ingest.py)
    daily_connector_tls, daily_remote_domain_tls,
    daily_load                                   the daily aggregates reports read (etl/load/warehouse.py)

Every table is partitioned by `date` and every write replaces one day in one commit (a delete of
the day and the new files, committed together): a reader sees the old day or the new one, never a
mix, on local disk or object storage. The commit is the catalog's compare-and-swap of the table's
metadata pointer (a SQLite file embedded, PostgreSQL distributed); a writer that lost the race
retries on the new metadata, so two days committed at once both land, and of two loads of one day
the last wins whole. Nothing here is our own protocol: atomicity comes from Iceberg and the catalog.

The schemas are the DDL in sql/load/schema/<table>.sql, read through DuckDB, so one file states
each table's columns for the catalog, the writers and the SQL tests alike.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from etl import sql
from etl.duck import connect
from etl.errors import ConcurrentWriteError, StorageError
from etl.storage.local import host_lock

NAMESPACE = "mailflow"
KEEP_TAG = "archived-"  # tags of the snapshots archived reports were read from
TABLES = ("trace", "quarantine", "loads", "daily_connector_tls", "daily_remote_domain_tls", "daily_load",
          "tlsrpt_quarantine", "tlsrpt_policy", "tlsrpt_failure", "daily_tlsrpt_policy", "daily_tlsrpt_failure",
          "tlsrpt_loads")
# a concurrent commit to the same table is retried on the new metadata this often (exponential backoff)
TABLE_PROPERTIES = {
    "format-version": "2",
    "commit.retry.num-retries": "20",
    "commit.retry.min-wait-ms": "50",
    "commit.retry.max-wait-ms": "5000",
    "commit.retry.total-timeout-ms": "600000",
    # each commit adds a manifest; merged once there are a few, so that planning a year's scan
    # reads a handful of manifests, not one per day (366 of them, each a request on object storage)
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "8",
    # each commit writes a new metadata file; the older ones go, past this many
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "100",
}


@cache
def table_schema(name: str) -> pa.Schema:
    """The table's columns, from its DDL."""
    con = connect()
    try:
        con.execute(sql.load(f"load/schema/{name}")).fetchall()
        return con.sql(f"select * from {name}").to_arrow_table().schema
    finally:
        con.close()


def empty(name: str) -> pa.Table:
    return table_schema(name).empty_table()


class Lake:
    """The catalog and its tables. `warehouse` is where table files go (file:// or s3://...);
    `filesystem` reads and writes there (pyarrow), `io_properties` tell pyiceberg the same."""

    def __init__(self, catalog_uri: str, warehouse: str, filesystem: pafs.FileSystem,
                 io_properties: dict[str, str] | None = None):
        self.catalog_uri = catalog_uri
        self.warehouse = warehouse.rstrip("/")
        self.filesystem = filesystem
        self.io_properties = io_properties or {}
        self._catalog = None

    @property
    def catalog(self):
        if self._catalog is None:
            from pyiceberg.catalog.sql import SqlCatalog

            if self.catalog_uri.startswith("sqlite:///"):  # the embedded catalog's folder may be new
                Path(self.catalog_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            with self._reaching_catalog():  # it connects at once (to create its tables)
                self._catalog = self._first_contact(SqlCatalog)
            if self.catalog_uri.startswith("sqlite"):
                _serialise_sqlite_writers(self._catalog.engine)
        return self._catalog

    def _first_contact(self, make_catalog):
        """The catalog object. Its constructor creates the catalog's own tables if missing, checking
        first and then creating, so two processes that meet a new catalog at once can both decide to
        create them; the loser fails with "already exists" and, once retried, finds them made."""
        from sqlalchemy.exc import SQLAlchemyError

        for attempt in range(3):
            try:
                return make_catalog(NAMESPACE, uri=self.catalog_uri, warehouse=self.warehouse,
                                    **self.io_properties)
            except SQLAlchemyError as exc:
                lost_the_race = "already exists" in str(exc) or "duplicate key" in str(exc)
                if not lost_the_race or attempt == 2:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def check(self) -> None:
        """Reach the catalog database once (a StorageError naming it, without its password, if not)."""
        with self._reaching_catalog():
            self.catalog.list_namespaces()

    @contextlib.contextmanager
    def _reaching_catalog(self):
        from sqlalchemy.exc import SQLAlchemyError

        try:
            yield
        except SQLAlchemyError as exc:  # whatever the driver
            from sqlalchemy.engine import make_url

            where = make_url(self.catalog_uri).render_as_string(hide_password=True)
            raise StorageError(f"catalog {where}: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}") \
                from None

    @contextlib.contextmanager
    def exclusive(self, name: str, wait_seconds: int = 300):
        """Hold `name` exclusively across every host that shares this catalog: a transaction-level
        advisory lock in PostgreSQL (released when the holder commits, or dies and its connection
        drops), a lock file beside an embedded SQLite catalog (which is on one host by nature).
        Waits up to `wait_seconds`, then a StorageError."""
        from sqlalchemy import text

        engine = self.catalog.engine
        if engine.dialect.name == "sqlite":
            database = Path(engine.url.database)
            with host_lock(database.with_name(f"{database.name}.{name}.lock")):
                yield
            return
        if engine.dialect.name != "postgresql":
            raise StorageError(f"catalog {engine.url.render_as_string(hide_password=True)}: locks need "
                               "PostgreSQL or SQLite")
        key = int.from_bytes(hashlib.sha256(f"mailflow:{name}".encode()).digest()[:8], "big", signed=True)
        with engine.begin() as connection:
            connection.execute(text(f"set local lock_timeout = '{int(wait_seconds)}s'"))
            try:
                connection.execute(text("select pg_advisory_xact_lock(:key)"), {"key": key})
            except Exception as exc:
                raise StorageError(f"catalog: another writer has held the {name} lock for over {wait_seconds} s "
                                   f"({type(exc).__name__})") from None
            yield

    # -- tables ----------------------------------------------------------------------------
    def table(self, name: str, *, create: bool = True):
        """The table, created on first use (None if it does not exist and `create` is false)."""
        from pyiceberg.exceptions import NoSuchTableError

        if name not in TABLES:
            raise ValueError(f"no lake table {name!r}")
        try:
            return self._ours(self.catalog.load_table((NAMESPACE, name)))
        except NoSuchTableError:
            if not create:
                return None
        try:
            self.catalog.create_namespace_if_not_exists(NAMESPACE)
        except Exception:  # two first writers at once: the other one's insert won (an IntegrityError)
            if (NAMESPACE,) not in self.catalog.list_namespaces():
                raise
        from pyiceberg.catalog import Catalog
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.schema import assign_fresh_schema_ids
        from pyiceberg.transforms import IdentityTransform

        schema = assign_fresh_schema_ids(Catalog._convert_schema_if_needed(table_schema(name)))
        spec = PartitionSpec(PartitionField(source_id=schema.find_field("date").field_id, field_id=1000,
                                            transform=IdentityTransform(), name="date"))
        try:
            return self.catalog.create_table((NAMESPACE, name), schema=schema, partition_spec=spec,
                                             properties=TABLE_PROPERTIES)
        except Exception as exc:  # another writer created it first (however the database said so)
            try:
                return self.catalog.load_table((NAMESPACE, name))
            except NoSuchTableError:
                raise exc from None

    def _ours(self, table):
        """The table, if it lives in this lake: a catalog shared with another storage is refused."""
        if not table.location().startswith(self.warehouse + "/"):
            raise StorageError(f"the catalog's table {table.name()[-1]} lives at {table.location()}, not in "
                               f"{self.warehouse}: MAILFLOW_CATALOG belongs to another MAILFLOW_STORAGE")
        return table

    def snapshot_id(self, name: str) -> int | None:
        """The table's current snapshot (None: the table is empty or does not exist)."""
        table = self.table(name, create=False)
        snapshot = table.current_snapshot() if table is not None else None
        return snapshot.snapshot_id if snapshot is not None else None

    # -- writing ---------------------------------------------------------------------------
    def replace_day(self, name: str, day: date, data: pa.Table | Iterable[Path],
                    properties: dict[str, str] | None = None) -> int:
        """Make `data` the table's rows for `day`, in one commit; returns the new snapshot id.
        `data` is an Arrow table (written by pyiceberg) or Parquet files in a local folder (moved
        or uploaded into the table's data folder, then added as they are: no second encoding)."""
        from pyiceberg.exceptions import CommitFailedException, ValidationException
        from pyiceberg.expressions import EqualTo

        table = self.table(name)
        properties = {"mailflow.date": day.isoformat(), **(properties or {})}
        # an empty file has no statistics to tell its day by: an empty day is the delete alone
        files = [] if isinstance(data, pa.Table) else [Path(p) for p in data if pq.ParquetFile(p).metadata.num_rows]
        added = [self._place(table, day, path) for path in files]
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Delete operation did not match any records")
                with table.transaction() as tx:
                    tx.delete(EqualTo("date", day.isoformat()), snapshot_properties=properties)
                    if isinstance(data, pa.Table):
                        tx.append(data.cast(table_schema(name)), snapshot_properties=properties)
                    else:
                        tx.add_files(added, snapshot_properties=properties, check_duplicate_files=False)
        except BaseException as exc:
            for uri in added:  # never committed: nobody references them
                with contextlib.suppress(OSError):
                    self.filesystem.delete_file(self._path(uri))
            if isinstance(exc, CommitFailedException | ValidationException):
                raise ConcurrentWriteError(
                    f"{day} of the lake table {name}: another load replaced the same day first, so this one was "
                    f"not committed; run it again") from None
            raise
        return table.current_snapshot().snapshot_id

    def _place(self, table, day: date, local: Path) -> str:
        """Put a local Parquet file into the table's data folder under a fresh name; its URI."""
        uri = f"{table.location().rstrip('/')}/data/date={day.isoformat()}/{uuid.uuid4().hex}.parquet"
        target = self._path(uri)
        if isinstance(self.filesystem, pafs.LocalFileSystem):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(local, target)  # the spill folder is on the same disk: no copy
                return uri
            except OSError:
                pass
        self.filesystem.create_dir(str(Path(target).parent), recursive=True)
        with open(local, "rb") as source, self.filesystem.open_output_stream(target) as sink:
            shutil.copyfileobj(source, sink, 8 << 20)
        return uri

    def _path(self, uri: str) -> str:
        """A table file's URI as a path of the lake's filesystem."""
        parsed = urlparse(uri)
        return parsed.path if parsed.scheme in ("", "file") else f"{parsed.netloc}{parsed.path}"

    def keep(self, snapshots: dict[str, int | None]) -> None:
        """Tag snapshots (an archived report's inputs) so that expiring old snapshots never removes them."""
        from pyiceberg.exceptions import CommitFailedException

        for name, snapshot_id in sorted(snapshots.items()):
            if snapshot_id is None:
                continue
            tag = f"{KEEP_TAG}{snapshot_id}"
            for _ in range(10):
                table = self.table(name)
                if tag in table.refs():
                    break
                try:
                    table.manage_snapshots().create_tag(snapshot_id, tag).commit()
                    break
                except CommitFailedException:
                    continue  # another commit came first: look again

    def expire(self, older_than: datetime, grace: timedelta = timedelta(days=1)) -> dict[str, dict[str, int]]:
        """Expire every table's snapshots older than `older_than`, except the current one and the
        tagged ones (what archived reports were read from), then delete the files no remaining
        snapshot references: data files replaced by later loads, and the manifests of expired
        snapshots. A file younger than `grace` is kept whatever it is: it may belong to a load
        that placed it and has not committed yet."""
        done = {}
        for name in TABLES:
            table = self.table(name, create=False)
            if table is None:
                continue
            before = len(table.metadata.snapshots)
            table.maintenance.expire_snapshots().older_than(older_than).commit()
            table = self.table(name)
            done[name] = {"snapshots_expired": before - len(table.metadata.snapshots),
                          "files_deleted": self._delete_unreferenced(table, grace)}
        return done

    def _delete_unreferenced(self, table, grace: timedelta) -> int:
        referenced = set()
        for snapshot in table.metadata.snapshots:
            referenced.add(self._path(snapshot.manifest_list))
            for manifest in snapshot.manifests(table.io):
                referenced.add(self._path(manifest.manifest_path))
                referenced.update(self._path(entry.data_file.file_path)
                                  for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True))
        cutoff = datetime.now(UTC) - grace
        location = self._path(table.location())
        deleted = 0
        for folder, suffix in (("data", ".parquet"), ("metadata", ".avro")):
            selector = pafs.FileSelector(f"{location}/{folder}", recursive=True, allow_not_found=True)
            for info in self.filesystem.get_file_info(selector):
                if (info.type == pafs.FileType.File and info.path.endswith(suffix) and info.path not in referenced
                        and info.mtime is not None and info.mtime.astimezone(UTC) < cutoff):
                    self.filesystem.delete_file(info.path)
                    deleted += 1
        return deleted

    # -- reading ---------------------------------------------------------------------------
    def dataset(self, name: str, start: date | None = None, end: date | None = None, *,
                snapshot_id: int | None = None) -> ds.Dataset:
        """The table's rows for days in [start, end] (all days if not given) as of a snapshot
        (default: the current one): a dataset DuckDB scans with projection and filter pushdown."""
        from pyiceberg.expressions import AlwaysTrue, And, GreaterThanOrEqual, LessThanOrEqual

        schema = table_schema(name)
        table = self.table(name, create=False)
        if table is None or (snapshot_id is None and table.current_snapshot() is None):
            return ds.dataset(schema.empty_table())
        condition = AlwaysTrue()
        if start is not None:
            condition = And(condition, GreaterThanOrEqual("date", start.isoformat()))
        if end is not None:
            condition = And(condition, LessThanOrEqual("date", end.isoformat()))
        if snapshot_id is not None and table.snapshot_by_id(snapshot_id) is None:
            raise StorageError(f"snapshot {snapshot_id} of the lake table {name} no longer exists (expired)")
        tasks = list(table.scan(row_filter=condition, snapshot_id=snapshot_id).plan_files())
        if any(task.delete_files for task in tasks):  # we only ever drop whole files
            raise RuntimeError(f"lake table {name} has row-level deletes, which this reader does not apply")
        if not tasks:
            return ds.dataset(schema.empty_table())
        return ds.dataset([self._path(task.file.file_path) for task in tasks], schema=schema, format="parquet",
                          filesystem=self.filesystem)

    def read(self, name: str, start: date | None = None, end: date | None = None, *,
             snapshot_id: int | None = None, columns: list[str] | None = None) -> pa.Table:
        return self.dataset(name, start, end, snapshot_id=snapshot_id).to_table(columns=columns)

    def days(self, name: str) -> list[date]:
        """The days the table holds rows for, from its metadata (no data file is read)."""
        table = self.table(name, create=False)
        if table is None or table.current_snapshot() is None:
            return []
        partitions = table.inspect.partitions()
        values = partitions.column("partition").combine_chunks().field("date").to_pylist()
        counts = partitions.column("record_count").to_pylist()
        return sorted(value for value, count in zip(values, counts, strict=True) if count)


def _serialise_sqlite_writers(engine) -> None:
    """Make the embedded catalog's concurrent committers wait for each other instead of failing.

    A commit reads the table's metadata pointer, then updates it. In SQLite's default (deferred)
    transactions, two processes doing that at once deadlock on the upgrade from read to write
    lock, and one gets "database is locked" at once, whatever the busy timeout. Taking the write
    lock at the start (BEGIN IMMEDIATE, SQLAlchemy's documented recipe for pysqlite) makes the
    second one wait its turn; WAL lets readers go on meanwhile."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # pysqlite's own implicit BEGIN off: ours below
        dbapi_connection.execute("pragma busy_timeout = 60000")
        dbapi_connection.execute("pragma journal_mode = wal")

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("begin immediate")

    engine.dispose()  # connections opened before the listeners (the catalog's own setup) go

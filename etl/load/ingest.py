"""Load one UTC day of exports into the lake: parse, validate, normalise, deduplicate.

Replaces the day in the lake's trace table (its records, as zstd Parquet), its quarantine table
(every rejected record with file, line, reason and raw text) and its loads table (the load
manifest: counts, reasons, warnings, and the exports read with their SHA-256). The files are
built in a local staging folder and committed by the storage; memory stays flat because records
go through in batches and DuckDB spills to disk past its limit.

Counts reconcile: rows_read = rows_loaded + rows_quarantined + duplicates_removed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl import sql
from etl.config import Settings
from etl.contract import DIRECTION_SPELLINGS, STATUSES, TLS_SPELLINGS
from etl.duck import connect, run
from etl.errors import ExportError
from etl.load.prefetch import prefetch
from etl.sources.detect import SourceOptions, open_readers
from etl.sources.files import Reject, SourceReader
from etl.storage import StagedDay, Storage

LAKE_SCHEMA_VERSION = 1
PART_FILE = "part-0.parquet"

# contract column -> column name in the batch table read by sql/load/record_checks.sql
BATCH_COLUMNS = {
    "Received": "received",
    "SenderAddress": "sender_address",
    "RecipientAddress": "recipient_address",
    "Direction": "direction",
    "ConnectorName": "connector_name",
    "TlsVersion": "tls_version",
    "TlsCipher": "tls_cipher",
    "Status": "status",
    "FromIP": "from_ip",
    "ToIP": "to_ip",
    "Size": "size",
    "MessageId": "message_id",
    "MessageTraceId": "message_trace_id",
    "Subject": "subject",
}

BATCH_SCHEMA = pa.schema(
    [("source_file", pa.string()), ("source_line", pa.int64())]
    + [(column, pa.string()) for column in BATCH_COLUMNS.values()]
)

# what sql/load/record_checks.sql read in an accepted record, staged beside its text
CHECKED_COLUMNS = pa.schema([
    ("received_at", pa.timestamp("us", tz="UTC")),
    ("direction_normalized", pa.string()),
    ("tls_bucket", pa.string()),
    ("row_hash", pa.uint64()),
])
STAGED_SCHEMA = pa.schema(list(BATCH_SCHEMA) + list(CHECKED_COLUMNS))

QUARANTINE_SCHEMA = pa.schema([
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
    ("reason", pa.string()),
    ("raw", pa.string()),
])


@dataclass
class LoadResult:
    date: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    duplicates_removed: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        keys = ("date", "rows_read", "rows_loaded", "rows_quarantined", "duplicates_removed", "quarantine_reasons")
        return {k: getattr(self, k) for k in keys}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def ingest_day(settings: Settings, day: date, files: list[Path] | None = None,
               options: SourceOptions | None = None) -> LoadResult:
    """Load `files` (default: the day's exports in the landing folder, fetched to this worker when
    it is an object store) as the lake's day; `options` say what the files are (default: from the
    settings, format detected per file)."""
    storage = Storage(settings)
    if files:
        files = [Path(f) for f in files]
        for path in files:
            if not path.is_file():
                raise ExportError(f"{path}: no such file")
    elif not storage.landing_files(day):
        raise ExportError(storage.no_export_message(day))

    load_id = uuid.uuid4().hex  # every table's rows of the day record it: all from one load, or visibly not
    with storage.staged_day() as staged:
        files = files or storage.fetch_landing(day, staged.exports)
        names = [p.name for p in files]
        if len(set(names)) != len(names):
            raise ExportError(f"two exports share a file name ({', '.join(names)}); provenance would be ambiguous")
        readers = open_readers(files, day, options or SourceOptions.from_settings(settings))
        result = _load_into(staged, settings, day, readers, load_id)
        storage.commit_load(day, staged, {
            **asdict(result),
            "load_id": load_id,
            "lake_schema_version": LAKE_SCHEMA_VERSION,
            "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        })
    return result


def _load_into(staged: StagedDay, settings: Settings, day: date, readers: list[SourceReader],
               load_id: str) -> LoadResult:
    result = LoadResult(date=day.isoformat())
    day_start, day_end = day_bounds(day)
    params = {
        "day_start": day_start,
        "day_end": day_end,
        "tls_spellings": list(TLS_SPELLINGS),
        "tls_buckets": list(TLS_SPELLINGS.values()),
        "statuses": list(STATUSES),
        "direction_spellings": list(DIRECTION_SPELLINGS),
        "directions": list(DIRECTION_SPELLINGS.values()),
    }
    warnings: Counter[str] = Counter()
    staged_file = staged.spill / "accepted.parquet"

    con = connect(memory_limit=settings.memory_limit, spill_dir=staged.spill)
    quarantine = _QuarantineWriter(staged.spill / "rejected.parquet")
    try:
        check = _RecordChecker(con, params)
        # Pass 1: every record once, in file order. Rejects are set aside; accepted records,
        # still as text, go to a staging file with a hash of their fields. Parquet, because
        # DuckDB scans it natively: in parallel, within its memory limit, joins and all.
        with pq.ParquetWriter(staged_file, STAGED_SCHEMA, compression="none", use_dictionary=False,
                              write_statistics=False) as accepted:
            for reader in readers:
                for batch in prefetch(reader.batches()):
                    quarantine.add(batch.rejects)
                    if batch.table.num_rows:
                        table, refused, flags = check(batch.table, reader.name, reader.raw_text)
                        accepted.write_table(table)
                        quarantine.add(refused)
                        warnings.update(flags)
                result.sources.append({"file": reader.name, "sha256": reader.sha256, "bytes": reader.size,
                                       "records": reader.records, **reader.source_stats()})
                result.rows_read += reader.records

        # Pass 2: find exact duplicates, then type, normalise and write the partition without them.
        accepted_rows = pq.ParquetFile(staged_file).metadata.num_rows
        # order is not part of the lake's contract; keeping it would make DuckDB buffer the whole day
        run(con, "set preserve_insertion_order = false")
        staged_files = {"staged_files": [str(staged_file)], "day": day, "load_id": load_id}
        run(con, "create temp table duplicate_rows as " + sql.load("load/duplicate_rows"),
            {"staged_files": staged_files["staged_files"]})
        trace_file = staged.trace / PART_FILE
        run(con, "copy (" + sql.load("load/lake_trace") + ") to $path (format parquet, compression zstd)",
            {**staged_files, "path": str(trace_file)})
        result.rows_loaded = pq.ParquetFile(trace_file).metadata.num_rows
        reasons = quarantine.finish(con, staged.quarantine / PART_FILE, day, load_id)
    finally:
        quarantine.close()
        con.close()

    result.duplicates_removed = accepted_rows - result.rows_loaded
    result.warnings = {k: v for k, v in sorted(warnings.items()) if v}
    result.rows_quarantined = sum(reasons.values())
    result.quarantine_reasons = dict(sorted(reasons.items()))
    if result.rows_read != result.rows_loaded + result.rows_quarantined + result.duplicates_removed:
        raise AssertionError(f"counts do not reconcile for {day}: {result.summary()}")  # a bug, never input
    return result


def _batch_table(table: pa.Table, source_file: str) -> pa.Table:
    """The reader's columns under the names the SQL reads; absent columns are null."""
    n = table.num_rows
    arrays = [pa.array([source_file] * n, pa.string()), table["source_line"]]
    for contract_name in BATCH_COLUMNS:
        present = contract_name in table.column_names
        arrays.append(table[contract_name] if present else pa.nulls(n, pa.string()))
    return pa.Table.from_arrays(arrays, schema=BATCH_SCHEMA)


class _RecordChecker:
    """Runs sql/load/record_checks.sql on one batch: accepted records (as text, with their hash),
    refused records as rejects, and warning counts."""

    FLAGS = {"tls_unrecognised": "unrecognised_tls_version", "status_unrecognised": "unrecognised_status"}

    def __init__(self, con, params: dict):
        self.con = con
        self.params = params
        self.query = sql.load("load/record_checks")

    def __call__(self, table: pa.Table, source_file: str,
                 raw_text: Callable[[pa.Table], list[str]]) -> tuple[pa.Table, list[Reject], Counter[str]]:
        batch = _batch_table(table, source_file)
        self.con.register("batch", batch)
        try:
            checks = self.con.sql(self.query, params=self.params).to_arrow_table()
        finally:
            self.con.unregister("batch")
        if not checks["source_line"].equals(batch["source_line"]):
            raise AssertionError("record checks do not line up with their batch")  # a bug, never input
        staged = pa.Table.from_arrays(
            batch.columns + [checks[f.name].cast(f.type) for f in CHECKED_COLUMNS], schema=STAGED_SCHEMA)
        refused_mask = pc.is_valid(checks["reject_reason"])
        if not pc.any(refused_mask).as_py():
            return staged, [], self._flags(checks)
        accepted_mask = pc.invert(refused_mask)
        reasons = checks.filter(refused_mask).select(["source_line", "reject_reason"]).to_pylist()
        refused = [Reject(source_file, r["source_line"], r["reject_reason"], raw)
                   for r, raw in zip(reasons, raw_text(table.filter(refused_mask)), strict=True)]
        return staged.filter(accepted_mask), refused, self._flags(checks.filter(accepted_mask))

    def _flags(self, checks: pa.Table) -> Counter[str]:
        """Warnings of the accepted records: values kept, but not ones the contract knows."""
        return Counter({name: pc.sum(checks[column]).as_py() or 0 for column, name in self.FLAGS.items()})


class _QuarantineWriter:
    """Every rejected record of the day, written as it comes (a file of millions of bad records
    must not be held in memory), then ordered by file and line into the quarantine partition."""

    FLUSH_BYTES = 16 * 1024 * 1024

    def __init__(self, path: Path):
        self.path = path
        self.pending: list[Reject] = []
        self.pending_bytes = 0
        self.reasons: Counter[str] = Counter()
        self.writer = pq.ParquetWriter(path, QUARANTINE_SCHEMA, compression="none")

    def add(self, rejects: list[Reject]) -> None:
        for reject in rejects:
            self.pending.append(reject)
            self.pending_bytes += len(reject.raw) + 64
            self.reasons[reject.reason] += 1
        if self.pending_bytes > self.FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.table({
                "source_file": [r.source_file for r in self.pending],
                "source_line": [r.source_line for r in self.pending],
                "reason": [r.reason for r in self.pending],
                "raw": [r.raw for r in self.pending],
            }, schema=QUARANTINE_SCHEMA))
        self.pending, self.pending_bytes = [], 0

    def finish(self, con, target: Path, day: date, load_id: str) -> Counter[str]:
        """Write the day's quarantine file, ordered by file and line (DuckDB sorts within its memory limit)."""
        self._flush()
        self.writer.close()
        run(con, "copy (select cast($day as date) as date, source_file, source_line, reason, raw, "
                 "cast($load_id as varchar) as load_id from read_parquet($path) order by source_file, source_line) "
                 "to $target (format parquet, compression zstd)",
            {"path": str(self.path), "target": str(target), "day": day, "load_id": load_id})
        return self.reasons

    def close(self) -> None:
        self.writer.close()

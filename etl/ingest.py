"""Load one UTC day of exports into the lake: parse, validate, normalise, deduplicate.

Writes `lake/trace/date=D/` (the day's records, zstd Parquet, plus `_load.json`) and
`lake/quarantine/date=D/` (every rejected record with file, line, reason and raw text).
Both are built aside and swapped in whole, under a per-day lock; memory stays flat
because records go through in batches and DuckDB spills to disk past its limit.

Counts reconcile: rows_read = rows_loaded + rows_quarantined + duplicates_removed.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from . import sql
from .config import Settings
from .contract import STATUSES, TLS_SPELLINGS
from .csv_source import ExportError, ExportReader, Reject, serialize_record
from .duck import connect, one, run
from .prefetch import prefetch
from .storage import LOAD_MANIFEST, QUARANTINE, TRACE, Lake, write_json_atomic

LAKE_SCHEMA_VERSION = 1
PART_FILE = "part-0.parquet"

# contract column -> column name in the batch table read by sql/trace_rows.sql
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


def ingest_day(settings: Settings, day: date, files: list[Path] | None = None) -> LoadResult:
    """Load `files` (default: the day's exports in the landing folder) as the partition for `day`."""
    lake = Lake(settings)
    files = [Path(f) for f in files] if files else lake.landing_files(day)
    if not files:
        raise ExportError(f"no export for {day} in {settings.landing} (expected trace_{day}.csv or .csv.gz)")
    for path in files:
        if not path.is_file():
            raise ExportError(f"{path}: no such file")
    names = [p.name for p in files]
    if len(set(names)) != len(names):
        raise ExportError(f"two exports share a file name ({', '.join(names)}); provenance would be ambiguous")

    with lake.lock(f"day-{day.isoformat()}"):
        staging = lake.staging_dir()
        try:
            result = _load_into(staging, settings, day, files)
            lake.publish(staging / QUARANTINE, lake.partition(QUARANTINE, day))
            lake.publish(staging / TRACE, lake.partition(TRACE, day))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return result


def _load_into(staging: Path, settings: Settings, day: date, files: list[Path]) -> LoadResult:
    for folder in (TRACE, QUARANTINE, "spill"):
        (staging / folder).mkdir()
    result = LoadResult(date=day.isoformat())
    day_start, day_end = day_bounds(day)
    params = {
        "day_start": day_start,
        "day_end": day_end,
        "tls_spellings": list(TLS_SPELLINGS),
        "tls_buckets": list(TLS_SPELLINGS.values()),
        "statuses": list(STATUSES),
    }
    structural: list[Reject] = []
    reader_failure: list[BaseException] = []

    def batches() -> Iterator[pa.RecordBatch]:
        """Every file's records, streamed into DuckDB; the rejected ones are set aside."""
        try:
            yield from _read_all()
        except BaseException as exc:  # DuckDB wraps it; keep the original to re-raise
            reader_failure.append(exc)
            raise

    def _read_all() -> Iterator[pa.RecordBatch]:
        for path in files:
            reader = ExportReader(path)
            for batch in reader.batches():
                structural.extend(batch.rejects)
                yield from _batch_table(batch.table, path.name).to_batches()
            result.sources.append({"file": path.name, "sha256": reader.sha256, "bytes": reader.size,
                                   "records": reader.records})
            result.rows_read += reader.records

    con = connect(memory_limit=settings.memory_limit, spill_dir=staging / "spill")
    try:
        con.register("batch", pa.RecordBatchReader.from_batches(BATCH_SCHEMA, prefetch(batches())))
        try:
            run(con, "create temp table normalised as " + sql.load("trace_rows"), params)
        except duckdb.Error:
            if reader_failure:
                raise reader_failure[0] from None
            raise
        con.unregister("batch")

        trace_file = staging / TRACE / PART_FILE
        run(con, "copy (" + sql.load("lake_trace") + ") to $path (format parquet, compression zstd)",
            {"path": str(trace_file)})
        result.rows_loaded = one(con, "select count(*) from read_parquet($path)", {"path": str(trace_file)})[0]
        accepted, tls_unrecognised, status_unrecognised = one(
            con, "select count(*), count(*) filter (tls_unrecognised), count(*) filter (status_unrecognised) "
                 "from normalised where reject_reason is null")
        reasons = _write_quarantine(con, structural, staging / QUARANTINE / PART_FILE)
    finally:
        con.close()

    result.rows_quarantined = sum(reasons.values())
    result.duplicates_removed = accepted - result.rows_loaded
    result.quarantine_reasons = dict(sorted(reasons.items()))
    warnings = {"unrecognised_tls_version": tls_unrecognised, "unrecognised_status": status_unrecognised}
    result.warnings = {k: v for k, v in warnings.items() if v}
    if result.rows_read != result.rows_loaded + result.rows_quarantined + result.duplicates_removed:
        raise AssertionError(f"counts do not reconcile for {day}: {result.summary()}")  # a bug, never input
    write_json_atomic(staging / TRACE / LOAD_MANIFEST, {
        **asdict(result),
        "lake_schema_version": LAKE_SCHEMA_VERSION,
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    })
    return result


def _batch_table(table: pa.Table, source_file: str) -> pa.Table:
    """The reader's columns under the names sql/trace_rows.sql reads; absent columns are null."""
    n = table.num_rows
    arrays = [pa.array([source_file] * n, pa.string()), table["source_line"]]
    for contract_name in BATCH_COLUMNS:
        present = contract_name in table.column_names
        arrays.append(table[contract_name] if present else pa.nulls(n, pa.string()))
    return pa.Table.from_arrays(arrays, schema=BATCH_SCHEMA)


def _write_quarantine(con, structural: list[Reject], path: Path) -> Counter[str]:
    """Every rejected record of the day, ordered by file and line: those the parser could not
    shape into the header's columns, and those the contract refused."""
    refused = con.execute("select source_file, source_line, reject_reason, raw_fields from normalised "
                          "where reject_reason is not null").fetchall()
    rejects = structural + [
        Reject(source_file, line, reason, serialize_record([f for f in fields if f is not None]))
        for source_file, line, reason, fields in refused
    ]
    rejects.sort(key=lambda r: (r.source_file, r.source_line))
    table = pa.table({
        "source_file": [r.source_file for r in rejects],
        "source_line": [r.source_line for r in rejects],
        "reason": [r.reason for r in rejects],
        "raw": [r.raw for r in rejects],
    }, schema=QUARANTINE_SCHEMA)
    pq.write_table(table, path, compression="zstd")
    return Counter(r.reason for r in rejects)

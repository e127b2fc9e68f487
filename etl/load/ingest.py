"""Load one UTC day of exports into the lake: parse, validate, normalise, deduplicate.

Replaces the day in the lake's trace table (its records, as zstd Parquet), its quarantine table
(every rejected record with file, line, reason and raw text) and its loads table (the load
manifest: counts, reasons, warnings, and the exports read with their SHA-256). The files are
built in a local staging folder and committed by the storage. The records are read once, in
batches: each batch is checked, typed and written before the next (etl/load/checks.py), so memory
stays flat; only suspected duplicates wait for the end of the day (etl/load/duplicates.py).

Counts reconcile: rows_read = rows_loaded + rows_quarantined + duplicates_removed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl.config import Settings
from etl.duck import connect, run
from etl.errors import ExportError
from etl.load.checks import BatchChecker, CheckedBatch
from etl.load.duplicates import DuplicateFilter
from etl.load.prefetch import WriteBehind, prefetch
from etl.sources.detect import SourceOptions, open_readers
from etl.sources.files import Reject, SourceReader
from etl.storage import StagedDay, Storage

LAKE_SCHEMA_VERSION = 1
PART_FILE = "part-0.parquet"

# The trace file: zstd; dictionaries only where a column repeats a few values (elsewhere they cost
# time and save nothing). No Arrow schema inside: readers see the lake's plain types, not the
# dictionaries the load wrote them from.
TRACE_FILE_OPTIONS = {
    "compression": "zstd",
    "use_dictionary": ["date", "direction", "connector_name", "tls_version", "tls_version_raw", "tls_cipher",
                       "status", "source_file", "load_id"],
    "store_schema": False,
}

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
    """One pass over the records, in file order: each batch is checked and typed, and its new
    records written to the day's trace file at once; suspected duplicates are decided at the end."""
    result = LoadResult(date=day.isoformat())
    warnings: Counter[str] = Counter()
    con = connect(memory_limit=settings.memory_limit, spill_dir=staged.spill)
    quarantine = _QuarantineWriter(staged.spill / "rejected.parquet")
    duplicates = None
    try:
        check = BatchChecker(con, day, *day_bounds(day), load_id)
        duplicates = DuplicateFilter(staged.spill, check.schema)
        trace_path = staged.trace / PART_FILE
        with pq.ParquetWriter(trace_path, check.schema, **TRACE_FILE_OPTIONS) as trace_file:
            def write_new(checked: CheckedBatch) -> None:
                new = duplicates.split(checked)
                if new.num_rows:  # an empty row group has no statistics, which the catalog needs
                    trace_file.write_table(new)

            # the split and the write run behind the checks, in a thread of their own
            with WriteBehind(write_new) as behind:
                for reader in readers:
                    for batch in prefetch(reader.batches()):
                        quarantine.add(batch.rejects)
                        if batch.table.num_rows:
                            checked = check(batch.table, reader.name, reader.raw_text)
                            quarantine.add(checked.refused)
                            warnings.update(checked.warnings)
                            behind.put(checked)
                    result.sources.append({"file": reader.name, "sha256": reader.sha256, "bytes": reader.size,
                                           "records": reader.records, **reader.source_stats()})
                    result.rows_read += reader.records
            kept, result.duplicates_removed = duplicates.resolve(con)
            for batch in kept:
                if batch.num_rows:
                    trace_file.write_table(pa.Table.from_batches([batch]).cast(check.schema))
        result.rows_loaded = pq.ParquetFile(trace_path).metadata.num_rows
        reasons = quarantine.finish(con, staged.quarantine / PART_FILE, day, load_id)
    finally:
        if duplicates is not None:
            duplicates.close()
        quarantine.close()
        con.close()

    result.warnings = {k: v for k, v in sorted(warnings.items()) if v}
    result.rows_quarantined = sum(reasons.values())
    result.quarantine_reasons = dict(sorted(reasons.items()))
    if result.rows_read != result.rows_loaded + result.rows_quarantined + result.duplicates_removed:
        raise AssertionError(f"counts do not reconcile for {day}: {result.summary()}")  # a bug, never input
    return result


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

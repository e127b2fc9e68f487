"""Check one batch of an export's records against the contract and type it as the lake stores it,
in one pass over the batch.

Where the work goes, so that it is paid once per record only where it must be:
- Direction, TlsVersion, Status, ConnectorName and TlsCipher hold a few dozen distinct texts in a
  day of millions of records: each distinct text is read once (sql/load/spellings.sql) and its
  meaning mapped back onto the records with Arrow.
- Times, sizes, the reject reason and a hash of the fields that tell records apart: one DuckDB
  statement per batch (sql/load/record_checks.sql), which returns only those small columns.
- The other fields are trimmed and emptied to null by Arrow, only where they hold a space or an
  empty value (most columns of most batches hold neither, and are kept as they are).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from etl import sql
from etl.contract import DIRECTION_SPELLINGS, STATUSES, TLS_SPELLINGS
from etl.sources.files import Reject
from etl.storage import TRACE
from etl.storage.lake import table_schema

# contract column -> column name in the batch table read by sql/load/record_checks.sql
TEXT_COLUMNS = {
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
# Accepted records as they were written, with the hash of their fields: what exact duplicates are
# compared on (etl/load/duplicates.py). Never stored in the lake: it holds Subject.
TEXT_SCHEMA = pa.schema(
    [("source_file", pa.string()), ("source_line", pa.int64())]
    + [(column, pa.string()) for column in TEXT_COLUMNS.values()]
    + [("row_hash", pa.uint64())]
)
_TEXT_WITHOUT_HASH = pa.schema(list(TEXT_SCHEMA)[:-1])  # as a batch is read, before its hash
# low-cardinality column -> what is read in it (columns of sql/load/spellings.sql)
LOW_CARDINALITY = {
    "direction": ("direction",),
    "connector_name": ("stored",),
    "tls_version": ("stored", "tls_bucket", "tls_unrecognised"),
    "tls_cipher": ("stored",),
    "status": ("stored", "status_unrecognised"),
}
# the trace's columns read by spelling, written as dictionaries over the distinct meanings
SPELLING_FIELDS = ("direction", "connector_name", "tls_version", "tls_version_raw", "tls_cipher", "status")
# what a field that is not there means (an optional column the export does not have)
ABSENT = {"stored": None, "direction": None, "tls_bucket": "unknown", "tls_unrecognised": False,
          "status_unrecognised": False}
MAX_SPELLINGS_KEPT = 10_000  # distinct texts remembered across batches (a column of garbage has millions)
SPELLING_TYPES = {"stored": pa.string(), "direction": pa.string(), "tls_bucket": pa.string(),
                  "tls_unrecognised": pa.bool_(), "status_unrecognised": pa.bool_()}
# C0 controls but tab, and DEL: in an address or a connector's name they would reach reports and logs
CONTROL_CHARACTER = "[\\x00-\\x08\\x0a-\\x1f\\x7f]"
# every byte that is a control character -> 0, any other -> 1: one translate and one find tell
# whether a column's bytes hold one (several times faster than a regular expression)
_CONTROL_TO_ZERO = bytes(0 if re.fullmatch(CONTROL_CHARACTER.encode(), bytes([b])) else 1 for b in range(256))
TIMESTAMP = pa.timestamp("us", tz="UTC")
FLAGS = {"tls_unrecognised": "unrecognised_tls_version", "status_unrecognised": "unrecognised_status"}


@dataclass
class CheckedBatch:
    trace: pa.Table  # accepted records, typed as the lake's trace table
    text: pa.Table  # the same records as written (TEXT_SCHEMA)
    refused: list[Reject]
    warnings: Counter[str]


class BatchChecker:
    """Checks and types the batches of one day's load (one DuckDB connection, the day's constants)."""

    def __init__(self, con, day: date, day_start, day_end, load_id: str):
        self.con = con
        self.day = day
        self.load_id = load_id
        # the lake's trace schema, the fields read by spelling as dictionaries (Parquet stores them
        # as the same strings, written without a second encoding)
        self.schema = pa.schema([
            field.with_type(pa.dictionary(pa.int32(), pa.string())) if field.name in SPELLING_FIELDS else field
            for field in table_schema(TRACE)])
        self.checks = sql.load("load/record_checks")
        self.checks_params = {"day_start": day_start, "day_end": day_end}
        self.spellings = sql.load("load/spellings")
        self.spellings_params = {
            "tls_spellings": list(TLS_SPELLINGS),
            "tls_buckets": list(TLS_SPELLINGS.values()),
            "statuses": list(STATUSES),
            "direction_spellings": list(DIRECTION_SPELLINGS),
            "directions": list(DIRECTION_SPELLINGS.values()),
        }
        self.meanings: dict[str, dict] = {}  # every distinct text read so far -> what it means

    def __call__(self, table: pa.Table, source_file: str,
                 raw_text: Callable[[pa.Table], list[str]]) -> CheckedBatch:
        """`table` is a reader's batch (contract columns of text and `source_line`)."""
        n = table.num_rows
        text = _text_table(table, source_file)
        read = {column: self._by_spelling(text[column], *fields) for column, fields in LOW_CARDINALITY.items()}
        recipient = _trimmed(text["recipient_address"])
        checks = self._record_checks(text, read["direction"]["direction"], recipient)
        trace = pa.Table.from_arrays([
            pa.repeat(pa.scalar(self.day, pa.date32()), n),
            checks["received_at"].cast(TIMESTAMP),
            _stored(text["sender_address"]),
            recipient,
            read["direction"]["direction"],
            read["connector_name"]["stored"],
            read["tls_version"]["tls_bucket"],
            read["tls_version"]["stored"],
            read["tls_cipher"]["stored"],
            read["status"]["stored"],
            _stored(text["from_ip"]),
            _stored(text["to_ip"]),
            checks["size_bytes"],
            _stored(text["message_id"]),
            _stored(text["message_trace_id"]),
            pa.repeat(pa.scalar(source_file), n),
            text["source_line"],
            pa.repeat(pa.scalar(self.load_id), n),
        ], schema=self.schema)
        text = text.append_column("row_hash", checks["row_hash"])
        flags = {"tls_unrecognised": read["tls_version"]["tls_unrecognised"],
                 "status_unrecognised": read["status"]["status_unrecognised"]}

        refused_mask = pc.is_valid(checks["reject_reason"])
        if not pc.any(refused_mask).as_py():
            return CheckedBatch(trace, text, [], _warnings(flags))
        accepted = pc.invert(refused_mask)
        reasons = checks.filter(refused_mask).select(["source_line", "reject_reason"]).to_pylist()
        refused = [Reject(source_file, r["source_line"], r["reject_reason"], raw)
                   for r, raw in zip(reasons, raw_text(table.filter(refused_mask)), strict=True)]
        return CheckedBatch(trace.filter(accepted), text.filter(accepted), refused,
                            _warnings({name: pc.filter(flag, accepted) for name, flag in flags.items()}))

    def _record_checks(self, text: pa.Table, direction: pa.Array, recipient: pa.ChunkedArray) -> pa.Table:
        batch = pa.Table.from_arrays([
            *text.columns, direction, _trimmed(text["received"]), recipient, _stored(text["size"]),
            _has_control_character([text["sender_address"], text["recipient_address"], text["connector_name"]]),
        ], names=[*text.column_names, "direction_normalized", "received_trimmed", "recipient_trimmed", "size_stored",
                  "has_control_character"])
        self.con.register("batch", batch)
        try:
            checks = self.con.sql(self.checks, params=self.checks_params).to_arrow_table()
        finally:
            self.con.unregister("batch")
        if not checks["source_line"].equals(text["source_line"]):
            raise AssertionError("record checks do not line up with their batch")  # a bug, never input
        return checks

    def _by_spelling(self, column: pa.ChunkedArray, *fields: str) -> dict[str, pa.Array]:
        """What each record's text in a low-cardinality column means (the columns of
        sql/load/spellings.sql), computed once per distinct text. Texts come back as dictionary
        arrays over the distinct meanings: no record's text is copied."""
        array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        encoded = pc.dictionary_encode(array, null_encoding="encode")
        distinct = encoded.dictionary.to_pylist()
        unread = [value for value in distinct if value is not None and value not in self.meanings]
        if unread:
            if len(self.meanings) + len(unread) > MAX_SPELLINGS_KEPT:
                self.meanings.clear()  # a column of garbage: each text is read once anyway
            self.con.register("spellings", pa.table({"value": pa.array(unread, pa.string())}))
            try:
                for row in self.con.sql(self.spellings, params=self.spellings_params).to_arrow_table().to_pylist():
                    self.meanings[row.pop("value")] = row
            finally:
                self.con.unregister("spellings")
        meanings = [ABSENT if value is None else self.meanings[value] for value in distinct]
        read = {}
        for name in fields:
            values = [m[name] for m in meanings]
            if SPELLING_TYPES[name] == pa.string():
                # a null is a null index (Parquet takes no null among a dictionary's values)
                indices = pc.take(pa.array([None if v is None else i for i, v in enumerate(values)], pa.int32()),
                                  encoded.indices)
                read[name] = pa.DictionaryArray.from_arrays(indices, pa.array([v or "" for v in values], pa.string()))
            else:
                read[name] = pc.take(pa.array(values, SPELLING_TYPES[name]), encoded.indices)
        return read


def _text_table(table: pa.Table, source_file: str) -> pa.Table:
    """The reader's columns under the names the SQL reads, absent ones null (TEXT_SCHEMA, no hash yet)."""
    n = table.num_rows
    arrays = [pa.repeat(pa.scalar(source_file), n), table["source_line"]]
    for contract_name in TEXT_COLUMNS:
        arrays.append(table[contract_name] if contract_name in table.column_names else pa.nulls(n, pa.string()))
    return pa.Table.from_arrays(arrays, schema=_TEXT_WITHOUT_HASH)


def _data_buffers(column: pa.ChunkedArray):
    return [chunk.buffers()[2] for chunk in column.chunks if chunk.buffers()[2] is not None]


def _has_control_character(columns: list[pa.ChunkedArray]) -> pa.Array:
    """Per record, whether any of `columns` holds a control character. Most batches hold none at
    all, which one scan of the columns' bytes tells without looking at records."""
    suspect = [c for c in columns
               if any(b.to_pybytes().translate(_CONTROL_TO_ZERO).find(0) >= 0 for b in _data_buffers(c))]
    n = len(columns[0])
    if not suspect:
        return pa.repeat(pa.scalar(False), n)
    found = pc.fill_null(pc.match_substring_regex(suspect[0], CONTROL_CHARACTER), False)
    for column in suspect[1:]:
        found = pc.or_(found, pc.fill_null(pc.match_substring_regex(column, CONTROL_CHARACTER), False))
    return found


def _trimmed(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Spaces trimmed from both ends (as DuckDB's trim), only if the column holds a space at all."""
    if any(b.to_pybytes().find(b" ") >= 0 for b in _data_buffers(column)):
        return pc.utf8_trim(column, " ")
    return column


def _stored(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A field as stored: trimmed, an empty text as null."""
    column = _trimmed(column)
    if column.null_count == len(column) or (pc.min(pc.binary_length(column)).as_py() or 0) > 0:
        return column
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def _warnings(flags: dict[str, pa.Array]) -> Counter[str]:
    """Warnings of the accepted records: values kept, but not ones the contract knows."""
    return Counter({FLAGS[name]: pc.sum(flag).as_py() or 0 for name, flag in flags.items()})

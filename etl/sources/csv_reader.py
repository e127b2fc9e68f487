"""Stream an export file as Arrow batches of records, keeping each record's line number.

The file is cut into chunks of whole records (a newline outside quotes ends a record).
Each chunk is parsed by Arrow's multi-threaded CSV reader; the line of each record is
the chunk's first line plus the newlines of the records before it. A chunk Arrow cannot
take whole (a ragged row, bytes that are not UTF-8, a blank line) is parsed again by the
standard library's csv module, record by record, which tells exactly which records are
bad: those come back as rejects with their line and raw text. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from etl.contract import ALL_COLUMNS, COLUMN_ALIASES, REQUIRED_COLUMNS, header_key
from etl.errors import ExportError
from etl.sources.files import (
    MAX_RECORD_BYTES,
    RAW_SAMPLE_BYTES,
    Batch,
    Reject,
    SourceReader,
    cut_raw,
    open_export,
)

# A 1 MB field is legal; the csv module's default limit (128 KiB) would reject it.
csv.field_size_limit(256 * 1024 * 1024)

CHUNK_BYTES = 16 * 1024 * 1024
EXACT_PATH_BYTES = 64 * 1024  # below this, a chunk Arrow refuses goes to the csv module whole
# Halving a chunk to isolate its bad records pays off for a few among many good ones, not for a file
# of them: past this many (or one in a thousand lines), the chunk is parsed record by record at once
HALVING_MAX_BAD = 64
UNQUOTED_WINDOW_BYTES = 512 * 1024
POWERSHELL_TYPE_LINE = b"#TYPE"  # Export-Csv's first line unless -NoTypeInformation


def serialize_record(fields: list[str], subject_index: int | None = None) -> str:
    """A record as one line of CSV text, for the quarantine: the Subject field (at
    `subject_index`) is emptied, since subjects are never stored; bytes that are not UTF-8
    become \\xNN escapes."""
    if subject_index is not None and subject_index < len(fields):
        fields = [*fields[:subject_index], "", *fields[subject_index + 1:]]
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue().encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _halving_limit(newlines: int) -> int:
    """How many bad records in a chunk are still worth isolating by halving it: a few, or one in a
    thousand lines; past that the chunk is parsed record by record (or in bulk, without quotes)."""
    return max(HALVING_MAX_BAD, newlines // 1000)


def _record_end(buffer: bytes) -> int:
    """Offset just past the last newline that ends a record (quotes balanced), or -1. Linear: the
    quotes after each newline are counted once, walking back (a quote never closed leaves every
    newline after it unbalanced)."""
    quotes = buffer.count(b'"')
    pos, end, after = buffer.rfind(b"\n"), len(buffer), 0
    while pos >= 0:
        after += buffer.count(b'"', pos, end)
        if (quotes - after) % 2 == 0:
            return pos + 1
        end = pos
        pos = buffer.rfind(b"\n", 0, pos)
    return -1


class CsvReader(SourceReader):
    """Reads one CSV export; `records` counts its data records, good or bad (blank lines are not
    records); once read, `columns` says which header name each contract column was read from."""

    format = "csv"

    def __init__(self, path: Path, chunk_bytes: int = CHUNK_BYTES):
        super().__init__(path)
        self.chunk_bytes = chunk_bytes
        self.header_map: dict[str, int] = {}
        self.columns: dict[str, str] = {}
        self.width = 0
        self.subject_index: int | None = None
        self._newline_columns: set[int] = set()  # columns where quoted newlines were found

    def source_stats(self) -> dict:
        return {**super().source_stats(), "columns": self.columns}

    def raw_text(self, table: pa.Table) -> list[str]:
        """Records of a batch's table as CSV lines in the file's column order, for the quarantine."""
        in_file_order = sorted(self.header_map, key=self.header_map.get)
        subject_index = in_file_order.index("Subject") if "Subject" in in_file_order else None
        return [serialize_record([record[name] for name in in_file_order], subject_index)
                for record in table.select(in_file_order).to_pylist()]

    def batches(self) -> Iterator[Batch]:
        with open_export(self.path) as stream:
            self._stream = stream
            yield from self._batches(stream)
            stream.finish()

    def _chunks(self, stream) -> Iterator[tuple[bytes, int, int] | Reject]:
        """(bytes of whole records, line number of the first, newlines in them) after the header;
        a record that runs past MAX_RECORD_BYTES comes as its Reject instead, never held whole."""
        carry, line = self._skip_header(stream)
        while True:
            data = stream.read(self.chunk_bytes)
            buffer = carry + data if carry else data
            if not data:
                yield from self._last_records(buffer, line)
                return
            cut = _record_end(buffer)
            if cut <= 0:
                if len(buffer) > MAX_RECORD_BYTES:
                    reject, carry, newlines = self._too_long(buffer, stream, line)
                    yield reject
                    line += newlines
                else:
                    carry = buffer
                continue
            # the chunk as a view: 16 MiB not copied again (the rare slow paths make bytes of it)
            chunk, carry = memoryview(buffer)[:cut], buffer[cut:]
            newlines = buffer.count(b"\n", 0, cut)
            yield chunk, line, newlines
            line += newlines

    def _last_records(self, buffer: bytes, line: int) -> Iterator[tuple[bytes, int, int] | Reject]:
        """What is left at the end of the file: whole records, and a last record that runs past
        MAX_RECORD_BYTES (a quote never closed near the end) cut at the limit like any other."""
        while buffer:
            cut = _record_end(buffer) if len(buffer) > MAX_RECORD_BYTES else len(buffer)
            if cut <= 0:
                reject, buffer, newlines = self._too_long(buffer, io.BytesIO(), line)  # the file has ended
                yield reject
                line += newlines
                continue
            chunk, buffer = buffer[:cut], buffer[cut:]
            newlines = chunk.count(b"\n")
            yield chunk, line, newlines
            line += newlines

    def _too_long(self, buffer: bytes, stream, line: int) -> tuple[Reject, bytes, int]:
        """The record at the start of `buffer` has no end within MAX_RECORD_BYTES (a huge field, or
        a quote never closed swallowing what follows): it ends at the first newline past the limit,
        quotes or not. Returns its reject, the bytes after it, and the newlines it spanned; what lies
        between the sample and that newline is read and counted, never kept."""
        sample, length, newlines, line_end = buffer[:RAW_SAMPLE_BYTES], 0, 0, 0
        while True:
            end = buffer.find(b"\n", max(0, MAX_RECORD_BYTES - length))
            if end >= 0:
                newlines += buffer.count(b"\n", 0, end + 1)
                line_end = 2 if end > 0 and buffer[end - 1:end] == b"\r" else 1
                length += end + 1
                rest = buffer[end + 1:]
                break
            newlines += buffer.count(b"\n")
            length += len(buffer)
            buffer = stream.read(self.chunk_bytes)
            if not buffer:
                rest = b""
                break
        raw = cut_raw(_sample_text(sample, self.subject_index), length - line_end)  # its line end not counted
        return Reject(self.name, line, "record_too_long", raw), rest, newlines

    def _skip_header(self, stream) -> tuple[bytes, int]:
        """Read the header (after PowerShell's `#TYPE ...` line, if any); return the bytes read
        past it and the line number of the first record."""
        buffer, needed = b"", 1
        while buffer.count(b"\n") < needed:
            data = stream.read(EXACT_PATH_BYTES)
            if not data:
                break
            buffer += data
            if buffer[:len(POWERSHELL_TYPE_LINE)].upper() == POWERSHELL_TYPE_LINE:
                needed = 2
            if len(buffer) > MAX_RECORD_BYTES and buffer.count(b"\n") < needed:
                raise ExportError(f"{self.name}: no header line within the first {MAX_RECORD_BYTES:,} bytes")
        if not buffer.strip():
            raise ExportError(f"{self.name}: empty file, expected a header line")
        line = 1
        if buffer[:len(POWERSHELL_TYPE_LINE)].upper() == POWERSHELL_TYPE_LINE:
            buffer = buffer[buffer.find(b"\n") + 1 if b"\n" in buffer else len(buffer):]
            line = 2
        header_end = buffer.find(b"\n") + 1 or len(buffer)
        self._read_header(buffer[:header_end])
        return buffer[header_end:], line + 1

    def _read_header(self, raw: bytes) -> None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ExportError(f"{self.name}: header is not valid UTF-8") from None
        try:
            header = next(csv.reader(io.StringIO(text.rstrip("\r\n"))), [])
        except csv.Error as exc:
            raise ExportError(f"{self.name}: not a recognised export: its header line is not CSV ({exc})") from None
        if not any(name.strip() for name in header):
            raise ExportError(f"{self.name}: empty header line, expected column names")
        positions: dict[str, int] = {}
        for index, name in enumerate(header):
            key = header_key(name)
            if key in positions:
                raise ExportError(f"{self.name}: column {name.strip()!r} appears twice in the header")
            positions[key] = index
        mapping: dict[str, int] = {}
        for column, aliases in COLUMN_ALIASES.items():
            found = next((alias for alias in aliases if header_key(alias) in positions), None)
            if found is not None:  # extra columns are allowed and ignored
                mapping[column] = positions[header_key(found)]
                self.columns[column] = header[mapping[column]].strip()
        missing = [name for name in REQUIRED_COLUMNS if name not in mapping]
        if missing:
            raise ExportError(f"{self.name}: missing required column {'; '.join(_expected(m) for m in missing)}")
        self.header_map = mapping
        self.width = len(header)
        self.subject_index = mapping.get("Subject")

    def _batches(self, stream) -> Iterator[Batch]:
        for piece in self._chunks(stream):
            if isinstance(piece, Reject):
                self.records += 1
                yield Batch(self._contract_table([pa.array([], pa.string())] * self.width, pa.array([], pa.int64())),
                            [piece])
                continue
            chunk, first_line, newlines = piece
            for batch in self._parse(chunk, first_line, newlines):
                self.records += batch.table.num_rows + len(batch.rejects)
                if batch.table.num_rows or batch.rejects:
                    yield batch

    def _parse(self, chunk: bytes, first_line: int, newlines: int) -> Iterator[Batch]:
        """Arrow's parser where it can; where it cannot, halve the chunk at a record boundary and
        try again, so that the slow exact path only ever sees a small piece around a bad record."""
        batch, bad = self._parse_fast(chunk, first_line, newlines)
        if batch is not None:
            yield batch
            return
        chunk = bytes(chunk)
        many_bad = bad > _halving_limit(newlines)
        if many_bad and b'"' not in chunk:
            yield from self._parse_unquoted(chunk, first_line)
            return
        cut = _record_end(chunk[: len(chunk) // 2]) if len(chunk) > EXACT_PATH_BYTES and not many_bad else -1
        if cut <= 0:
            yield self._parse_exact(chunk, first_line)
            return
        head, tail = chunk[:cut], chunk[cut:]
        head_newlines = head.count(b"\n")
        yield from self._parse(head, first_line, head_newlines)
        yield from self._parse(tail, first_line + head_newlines, newlines - head_newlines)

    # -- fast path: Arrow --------------------------------------------------------------
    def _parse_fast(self, chunk: bytes, first_line: int, newlines: int) -> tuple[Batch | None, int]:
        """Arrow's parser, or None when the chunk needs the exact path; and how many records Arrow
        refused (ragged ones), to choose how to find them."""
        ragged, limit = [], _halving_limit(newlines)

        def ragged_row(row) -> str:
            # a few are found by halving the chunk; past that, stop: the chunk is parsed record by record
            ragged.append(row)
            return "skip" if len(ragged) <= limit else "error"

        names = [f"c{i}" for i in range(self.width)]
        try:
            table = pa_csv.read_csv(
                pa.py_buffer(chunk),
                # one thread: parsing a chunk on two costs twice the CPU for no gain, since the
                # chunk's checks already run beside it (etl/load/prefetch.py)
                read_options=pa_csv.ReadOptions(column_names=names, block_size=self.chunk_bytes + (1 << 20),
                                                use_threads=False),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=ragged_row),
                convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                      strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None, len(ragged)  # e.g. bytes that are not UTF-8
        if ragged:
            return None, len(ragged)
        n = table.num_rows
        physical_lines = newlines + (0 if chunk[-1:] == b"\n" else 1)
        record_index = pa.array(np.arange(n, dtype=np.int64))
        if physical_lines == n:
            lines = pc.add(record_index, first_line)
        else:
            # newlines inside quoted fields push the following records down; count them in the
            # columns that hold any, those that held some before first, until all are accounted for
            unaccounted, extra = physical_lines - n, None
            order = sorted(range(table.num_columns), key=lambda i: i not in self._newline_columns)
            for index in order:
                if unaccounted <= 0:
                    break  # the other columns hold none (counts are never negative)
                column = table.column(index)
                if not any(chunk_.buffers()[2] is not None and chunk_.buffers()[2].to_pybytes().find(b"\n") >= 0
                           for chunk_ in column.chunks):
                    continue
                counted = pc.count_substring(column, "\n").cast(pa.int64())
                unaccounted -= pc.sum(counted).as_py()
                extra = counted if extra is None else pc.add(extra, counted)
                self._newline_columns.add(index)
            if extra is None or unaccounted != 0:
                return None, 0  # lines Arrow did not return as records (blank lines): the exact path decides
            before = pc.subtract(pc.cumulative_sum(extra), extra)
            lines = pc.add(pc.add(record_index, before), first_line)
        return self._without_long_records(table, lines), 0

    def _without_long_records(self, table: pa.Table, lines) -> Batch:
        """The batch, with any record longer than MAX_RECORD_BYTES (one whose fields all fit in a
        chunk) moved to the rejects as record_too_long."""
        longest = [pc.max(pc.binary_length(column)).as_py() or 0 for column in table.columns]
        if sum(longest) + len(longest) <= MAX_RECORD_BYTES:
            return Batch(self._contract_table(table.columns, lines))  # no record can be too long
        lengths = pc.binary_length(table.columns[0])
        for column in table.columns[1:]:
            lengths = pc.add(lengths, pc.binary_length(column))
        too_long = pc.greater(pc.add(lengths, len(table.columns)), MAX_RECORD_BYTES)
        rejects = []
        for index in pc.indices_nonzero(too_long).to_pylist():
            fields = [column[index].as_py() for column in table.columns]
            length = len(serialize_record(fields).encode("utf-8", "surrogateescape"))
            rejects.append(Reject(self.name, lines[index].as_py(), "record_too_long",
                                  cut_raw(serialize_record(fields, self.subject_index), length)))
        keep = pc.invert(too_long)
        return Batch(self._contract_table(table.filter(keep).columns, pc.filter(lines, keep)), rejects)

    def _contract_table(self, columns: list, lines) -> pa.Table:
        arrays, names = [], []
        for name in ALL_COLUMNS:
            index = self.header_map.get(name)
            if index is not None:
                arrays.append(columns[index])
                names.append(name)
        arrays.append(lines)
        names.append("source_line")
        return pa.Table.from_arrays(arrays, names=names)

    # -- many bad records and no quotes: one record per line, split in bulk -----------
    def _parse_unquoted(self, chunk: bytes, first_line: int) -> Iterator[Batch]:
        """A chunk without a single quote: each line is one record and each comma splits a field,
        so its records are told apart by counting commas, without a parser (a file of garbage lines
        is quarantined nearly as fast as a good one loads). A window of UNQUOTED_WINDOW_BYTES at a
        time, cut at a line end: 16 MiB of two-byte lines would be eight million records at once."""
        start, line = 0, first_line
        while start < len(chunk):
            end = chunk.find(b"\n", start + UNQUOTED_WINDOW_BYTES)
            end = len(chunk) if end < 0 else end + 1
            lines = chunk[start:end].split(b"\n")
            yield self._unquoted_batch(lines, line)
            line += len(lines) - 1
            start = end

    def _unquoted_batch(self, physical_lines: list[bytes], first_line: int) -> Batch:
        good, good_lines, rejects = [], [], []
        commas = self.width - 1
        for number, line in enumerate(physical_lines, start=first_line):
            line = line.removesuffix(b"\r")
            if not line:
                continue  # a blank line is not a record (nor the end of the last line)
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                fields = line.decode("utf-8", "surrogateescape").split(",")
                raw = cut_raw(serialize_record(fields, self.subject_index))
                rejects.append(Reject(self.name, number, "invalid_utf8", raw))
                continue
            if line.count(b",") != commas:
                reason = "record_too_long" if len(line) > MAX_RECORD_BYTES else "ragged_row"
                fields = text.split(",")
                raw = text if self.subject_index is None or self.subject_index >= len(fields) else \
                    serialize_record(fields, self.subject_index)
                rejects.append(Reject(self.name, number, reason, cut_raw(raw)))
            else:
                good.append(text.split(","))
                good_lines.append(number)
        columns = [pa.array(values, pa.string()) for values in zip(*good, strict=True)] if good else [
            pa.array([], pa.string()) for _ in range(self.width)]
        return Batch(self._contract_table(columns, pa.array(good_lines, pa.int64())), rejects)

    # -- exact path: the csv module, record by record ---------------------------------
    def _parse_exact(self, chunk: bytes, first_line: int) -> Batch:
        text = chunk.decode("utf-8", "surrogateescape")
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        rows: list[list[str]] = []
        lines: list[int] = []
        rejects: list[Reject] = []
        previous = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error:
                # e.g. a quote never closed: keep the text from the record's start as a lenient
                # parser splits it, so that the Subject field can still be emptied
                swallowed = "\n".join(text.split("\n")[previous:reader.line_num])
                lenient = csv.reader(io.StringIO(swallowed[:RAW_SAMPLE_BYTES], newline=""), strict=False)
                raw = "\n".join(serialize_record(fields, self.subject_index) for fields in lenient)
                if len(swallowed) > RAW_SAMPLE_BYTES:
                    raw = cut_raw(raw, len(swallowed.encode("utf-8", "surrogateescape")))
                rejects.append(Reject(self.name, first_line + previous, "unparseable_record", raw))
                previous = reader.line_num
                continue
            start = first_line + previous
            previous = reader.line_num
            if not row:
                continue  # a blank line is not a record
            if sum(map(len, row)) + len(row) > MAX_RECORD_BYTES:
                length = len(serialize_record(row).encode("utf-8", "surrogateescape"))
                rejects.append(Reject(self.name, start, "record_too_long",
                                      cut_raw(serialize_record(row, self.subject_index), length)))
            elif len(row) != self.width:
                reason = "invalid_utf8" if _has_bad_bytes(row) else "ragged_row"
                rejects.append(Reject(self.name, start, reason, cut_raw(serialize_record(row, self.subject_index))))
            elif _has_bad_bytes(row):
                rejects.append(Reject(self.name, start, "invalid_utf8", serialize_record(row, self.subject_index)))
            else:
                rows.append(row)
                lines.append(start)
        columns = [pa.array(list(values), pa.string()) for values in zip(*rows, strict=True)] if rows else [
            pa.array([], pa.string()) for _ in range(self.width)]
        return Batch(self._contract_table(columns, pa.array(lines, pa.int64())), rejects)


def _sample_text(sample: bytes, subject_index: int | None) -> str:
    """The start of an oversized record as quarantine text, its Subject field emptied if it is there."""
    text = sample.decode("utf-8", "surrogateescape")
    fields = next(csv.reader(io.StringIO(text, newline=""), strict=False), [])
    return serialize_record(fields, subject_index)


def _expected(column: str) -> str:
    """A required column and the other header names it is read from, for an error message."""
    others = COLUMN_ALIASES[column][1:]
    return repr(column) + (f" (or {', '.join(others)})" if others else "")


def _has_bad_bytes(fields: list[str]) -> bool:
    try:
        "\x1f".join(fields).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False

"""Read a Postfix log file as batches of trace records, for the same ingest as CSV exports.

The readers of one load share one PostfixTracker and are read oldest file first, so that a
message received in `mail.log.1` and delivered in `mail.log` is followed across the two.
"""

from __future__ import annotations

import gc
import operator
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from etl.errors import ExportError
from etl.sources.files import (
    MAX_RECORD_BYTES,
    RAW_SAMPLE_BYTES,
    Batch,
    ExportStream,
    Reject,
    SourceReader,
    cut_raw,
    open_export,
)
from etl.sources.postfix_log import RECORD_COLUMNS, Delivery, PostfixTracker

READ_BYTES = 8 * 1024 * 1024
GC_EVERY_ALLOCATIONS = 100_000
BATCH_ROWS = 100_000


class PostfixReader(SourceReader):
    """Reads one Postfix log; `records` counts its deliveries turned into records and rejected lines."""

    format = "postfix"

    def __init__(self, path: Path, tracker: PostfixTracker):
        super().__init__(path)
        self.tracker = tracker
        self.stats: Counter[str] = Counter()  # how the file's lines were used
        self._unparseable = 0

    def source_stats(self) -> dict:
        return {**super().source_stats(), "lines": dict(sorted(self.stats.items()))}

    def raw_text(self, table: pa.Table) -> list[str]:
        """The log lines of a batch's records, for the quarantine."""
        return table["raw"].to_pylist()

    def batches(self) -> Iterator[Batch]:
        # A log makes millions of small objects (matches, tuples, records) that live only until
        # their batch is built: CPython's cyclic collector, run every 700 allocations, scanned them
        # over and over for a sixth of a load's time (measured on 1.5 million lines)
        thresholds = gc.get_threshold()
        gc.set_threshold(GC_EVERY_ALLOCATIONS, *thresholds[1:])
        try:
            yield from self._batches()
        finally:
            gc.set_threshold(*thresholds)

    def _batches(self) -> Iterator[Batch]:
        before = Counter(self.tracker.stats)
        feed, name = self.tracker.feed_line, self.name
        with open_export(self.path) as stream:
            self._stream = stream
            deliveries: list[Delivery] = []
            rejects: list[Reject] = []
            for first, lines, overlong in _line_blocks(stream):
                self.tracker.stats["lines"] += len(lines)
                for number, line in enumerate(lines, first):
                    if overlong and number in overlong:  # no syslog line is this long: not fed to the tracker
                        rejects.append(Reject(name, number, "record_too_long", cut_raw(line, overlong[number])))
                        continue
                    item = feed(number, line, name)
                    if item is None:
                        continue
                    if isinstance(item, Reject):
                        rejects.append(item)
                        self._unparseable += item.reason == "unparseable_line"
                    else:
                        deliveries.append(item)
                if len(deliveries) + len(rejects) >= BATCH_ROWS:
                    yield self._batch(deliveries, rejects)
                    deliveries, rejects = [], []
            if deliveries or rejects:
                yield self._batch(deliveries, rejects)
            stream.finish()
        self.stats = Counter(self.tracker.stats)
        self.stats.subtract(before)  # this file's share of the shared tracker's counts
        self.stats = +self.stats  # without the counts this file did not add to
        self.stats.pop("records", None)
        if self._unparseable and self._unparseable == self.stats["lines"] - self.stats["lines_blank"]:
            raise ExportError(f"{self.name}: no line is a syslog line: not a Postfix mail log "
                              "(a CSV export loads with --source csv or auto)")

    def _batch(self, deliveries: list[Delivery], rejects: list[Reject]) -> Batch:
        self.records += len(deliveries) + len(rejects)
        # records -> columns without a Python loop per field: a tuple per record, read by Arrow as a struct
        records = pa.array(map(_VALUES, deliveries), _RECORD, size=len(deliveries))
        columns = dict(zip(RECORD_COLUMNS, records.flatten(), strict=True))
        columns["source_line"] = pa.array(map(_LINE, deliveries), pa.int64(), size=len(deliveries))
        columns["raw"] = pa.array(map(_RAW, deliveries), pa.string(), size=len(deliveries))
        return Batch(pa.table(columns), rejects)


_VALUES = operator.attrgetter("values")
_RECORD = pa.struct([(name, pa.string()) for name in RECORD_COLUMNS])
_LINE = operator.attrgetter("line")
_RAW = operator.attrgetter("raw")


def _line_blocks(stream: ExportStream) -> Iterator[tuple[int, list[str], dict[int, int]]]:
    """The file's lines a block at a time: (number of the first, their text without line endings,
    {number: length in bytes} of those longer than MAX_RECORD_BYTES). Bytes that are not UTF-8 become
    \\xNN. A line longer than MAX_RECORD_BYTES comes as its first RAW_SAMPLE_BYTES only, never held
    whole. A block of ordinary lines is decoded and split in one go, not line by line."""
    number = 0
    carry = b""
    skipping = None  # (sample, length so far) of an overlong line being read past
    while True:
        data = stream.read(READ_BYTES)
        if not data:
            break
        if skipping is not None:
            end = data.find(b"\n")
            if end < 0:
                skipping = (skipping[0], skipping[1] + len(data))
                continue
            number += 1
            yield number, [_text(skipping[0])], {number: skipping[1] + len(data[:end].rstrip(b"\r"))}
            skipping, data = None, data[end + 1:]
        data = carry + data
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        text = data[:cut].decode("utf-8", "backslashreplace")  # a newline is never inside a bad sequence
        lines = text.split("\n")[:-1]
        # a character is at most 4 bytes: lines this short in characters are short enough in bytes
        if lines and max(map(len, lines)) <= MAX_RECORD_BYTES // 4:
            yield number + 1, [line.rstrip("\r") for line in lines] if "\r" in text else lines, {}
        elif lines:
            raw_lines = data[:cut].split(b"\n")[:-1]
            lines, overlong = [], {}
            for at, raw in enumerate(raw_lines, number + 1):
                raw = raw.rstrip(b"\r")
                if len(raw) > MAX_RECORD_BYTES:
                    overlong[at] = len(raw)
                    raw = raw[:RAW_SAMPLE_BYTES]
                lines.append(_text(raw))
            yield number + 1, lines, overlong
        number += len(lines)
        if len(carry) > MAX_RECORD_BYTES:
            skipping, carry = (carry[:RAW_SAMPLE_BYTES], len(carry)), b""
    if skipping is not None:
        yield number + 1, [_text(skipping[0])], {number + 1: skipping[1]}
    elif carry:
        raw = carry.rstrip(b"\r")
        long = len(raw) > MAX_RECORD_BYTES
        yield number + 1, [_text(raw[:RAW_SAMPLE_BYTES] if long else raw)], {number + 1: len(raw)} if long else {}


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")

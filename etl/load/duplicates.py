"""Exact duplicates in a day's load, found in the pass that writes the day.

A record whose hash of its fields was not seen before in the day repeats no earlier record, for
sure: it goes to the lake at once. One whose hash may have been seen is a suspect (a repeat, or
another record whose hash looks alike to the filter): it is held back. At the end, every field of
the suspects is compared with those of the records sharing their hash
(sql/load/duplicate_rows.sql); the ones that repeat an earlier record are dropped, the rest written
after all. The comparison needs every record's text, which the lake never holds (Subject): it goes
to a staging file as it comes, and is read again only for the hashes of the suspects.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from etl import sql
from etl.duck import one, run
from etl.load.checks import TEXT_SCHEMA, CheckedBatch

# The filter: 2^30 bits (128 MiB, of which a load touches only the pages its hashes fall in), two
# bits per hash. At 20 million records, fewer than one record in a thousand is a suspect for nothing.
FILTER_BITS_LOG2 = 30
# The text is staged as it is up to this many bytes, then compressed (LZ4): past a GiB or two of
# writes the kernel's flushing and reclaiming of the page cache costs more than compressing
# (measured at 20 million records: 12.8 system CPU-s plain, 5.1 compressed; 1.4 at 5 million).
PLAIN_STAGING_BYTES = 1 << 30


class SeenHashes:
    """Which row hashes the day may have seen: a Bloom filter, two bits per hash (two slices of its
    64 bits). A record whose bits are not both set repeats no earlier record, for sure; one whose
    bits are set is a suspect: a repeat, or a record whose hash looks like earlier ones' to the
    filter, which the comparison at the end keeps. Constant time and memory per record, however
    large the day."""

    def __init__(self, bits_log2: int = FILTER_BITS_LOG2):
        self.slices = [np.uint64(64 - bits_log2), np.uint64(4)]  # the top bits, and bits 4 and up
        self.mask = np.uint64((1 << bits_log2) - 1)
        self.bitmap = np.zeros(1 << (bits_log2 - 3), dtype=np.uint8)  # calloc: pages cost only once touched

    def suspects(self, hashes: np.ndarray) -> np.ndarray:
        """Per record of a batch, whether it may repeat an earlier one: its bits were set by an
        earlier batch, or an earlier record of this batch has its very hash. Its bits are set afterwards."""
        order = np.argsort(hashes, kind="stable")  # stable: the first of equal hashes stays first
        ordered = hashes[order]
        repeated = np.zeros(len(hashes), dtype=bool)
        repeated[1:] = ordered[1:] == ordered[:-1]
        marked = np.empty(len(hashes), dtype=bool)
        marked[order] = repeated
        seen = np.ones(len(hashes), dtype=bool)
        for shift in self.slices:
            slot = (hashes >> shift) & self.mask
            byte, bit = slot >> np.uint64(3), np.left_shift(1, (slot & np.uint64(7)).astype(np.uint8)).astype(np.uint8)
            seen &= (self.bitmap[byte] & bit) != 0
            np.bitwise_or.at(self.bitmap, byte, bit)
        return marked | seen


class DuplicateFilter:
    """Splits a day's accepted records into those that go to the lake at once and the suspects;
    at the end, gives back the suspects that repeat nothing. Its files go in `spill`."""

    def __init__(self, spill: Path, trace_schema: pa.Schema):
        self.seen = SeenHashes()
        self.spill = spill
        self.text_paths: list[Path] = []
        self.text = self._staging_file(compressed=False)
        self.text_bytes = 0
        self.held_schema = trace_schema.append(pa.field("row_hash", pa.uint64()))
        self.held_path = spill / "suspects.parquet"
        self.held = pq.ParquetWriter(self.held_path, self.held_schema, compression="none")
        self.held_rows = 0

    def split(self, checked: CheckedBatch) -> pa.Table:
        """The batch's records that repeat no earlier record, for sure; the others are held back."""
        self.text.write_table(checked.text)
        self.text_bytes += checked.text.nbytes
        if self.text_bytes > PLAIN_STAGING_BYTES and len(self.text_paths) == 1:
            self.text.close()
            self.text = self._staging_file(compressed=True)
        hashes = checked.text["row_hash"]
        repeats = np.flatnonzero(self.seen.suspects(hashes.to_numpy()))
        if not len(repeats):
            return checked.trace
        self.held.write_table(checked.trace.take(repeats).append_column("row_hash", hashes.take(repeats)))
        self.held_rows += len(repeats)
        # the stretches between the suspects, as slices: no record is copied (a filter would copy them all)
        bounds = [-1, *repeats.tolist(), checked.trace.num_rows]
        stretches = [checked.trace.slice(start + 1, end - start - 1) for start, end in itertools.pairwise(bounds)]
        return pa.concat_tables([stretch for stretch in stretches if stretch.num_rows] or [checked.trace.slice(0, 0)])

    def _staging_file(self, compressed: bool) -> pa.ipc.RecordBatchFileWriter:
        self.text_paths.append(self.spill / f"accepted-text-{len(self.text_paths)}.arrow")
        options = pa.ipc.IpcWriteOptions(compression="lz4" if compressed else None)
        return pa.ipc.new_file(self.text_paths[-1], TEXT_SCHEMA, options=options)

    def _staged_batches(self) -> Iterator[pa.RecordBatch]:
        """The staged text, in the order written; read, not mapped: RSS stays one batch."""
        for path in self.text_paths:
            with pa.OSFile(str(path)) as source:
                staged = pa.ipc.open_file(source)
                for i in range(staged.num_record_batches):
                    yield staged.get_batch(i)

    def resolve(self, con) -> tuple[Iterator[pa.RecordBatch], int]:
        """The held records that repeat no earlier one (to be written after all), and how many
        records were exact duplicates."""
        self.text.close()
        self.held.close()
        if not self.held_rows:
            return iter(()), 0
        held = np.unique(pq.read_table(self.held_path, columns=["row_hash"])["row_hash"].to_numpy())  # sorted
        suspects = self.spill / "suspects-text.parquet"
        with pq.ParquetWriter(suspects, TEXT_SCHEMA, compression="none") as writer:
            for batch in self._staged_batches():
                hashes = batch["row_hash"].to_numpy()
                at = np.minimum(np.searchsorted(held, hashes), len(held) - 1)
                sharing = held[at] == hashes  # a binary search per record: no hash set built per batch
                if sharing.any():
                    writer.write_batch(batch.filter(pa.array(sharing)))
        run(con, "create or replace temp table duplicate_rows as " + sql.load("load/duplicate_rows"),
            {"suspects": str(suspects)})
        (duplicates,) = one(con, "select count(*) from duplicate_rows")
        kept = con.sql("select * exclude (row_hash) from read_parquet($held) "
                       "anti join duplicate_rows using (source_file, source_line)",
                       params={"held": str(self.held_path)})
        return kept.to_arrow_reader(), duplicates

    def close(self) -> None:
        for writer in (self.text, self.held):
            try:
                writer.close()
            except (pa.ArrowInvalid, OSError):
                pass  # already closed

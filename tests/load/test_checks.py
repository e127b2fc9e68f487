"""The one-pass check and typing of a batch (etl/load/checks.py), and the duplicate filter beside it
(etl/load/duplicates.py), on hand-made batches."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest

from etl.duck import connect
from etl.load import duplicates as duplicates_module
from etl.load.checks import TEXT_SCHEMA, BatchChecker, CheckedBatch
from etl.load.duplicates import DuplicateFilter, SeenHashes
from etl.load.ingest import day_bounds

DAY = date(2026, 11, 9)
COLUMNS = ("Received", "SenderAddress", "RecipientAddress", "Direction", "ConnectorName", "TlsVersion", "Status",
           "Size", "Subject")


def reader_batch(*records: dict, columns=COLUMNS) -> pa.Table:
    """A batch as a reader gives it: contract columns of text, and each record's line."""
    base = {"Received": "2026-11-09T10:00:00Z", "SenderAddress": "a@x.com", "RecipientAddress": "b@y.com",
            "Direction": "Inbound", "ConnectorName": "", "TlsVersion": "TLS1.2", "Status": "Delivered",
            "Size": "10", "Subject": "hello"}
    rows = [{**base, **r} for r in records]
    table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in columns})
    return table.append_column("source_line", pa.array(range(2, 2 + len(rows)), pa.int64()))


@pytest.fixture
def check():
    con = connect()
    yield BatchChecker(con, DAY, *day_bounds(DAY), "load-1")
    con.close()


def raw_text(table: pa.Table) -> list[str]:
    return [f"line {line}" for line in table["source_line"].to_pylist()]


def test_a_batch_is_typed_as_the_lake_stores_it(check):
    checked = check(reader_batch(
        {"SenderAddress": " a@x.com ", "ConnectorName": " Partner A ", "TlsVersion": "No TLS", "Size": ""},
        {"SenderAddress": "", "TlsVersion": "", "Direction": "Originating", "Status": "New", "Size": " 7 "},
        {"TlsVersion": "weird", "Direction": " INBOUND "},
    ), "f.csv", raw_text)
    rows = checked.trace.to_pylist()
    first, second, third = rows
    assert first["received_at"] == datetime(2026, 11, 9, 10, tzinfo=UTC)
    assert (first["sender_address"], first["connector_name"], first["size_bytes"]) == ("a@x.com", "Partner A", None)
    assert (first["tls_version"], first["tls_version_raw"]) == ("none", "No TLS")
    assert (second["sender_address"], second["direction"], second["tls_version"], second["tls_version_raw"],
            second["connector_name"], second["status"], second["size_bytes"]) == (
        None, "outbound", "unknown", None, None, "New", 7)
    assert (third["direction"], third["tls_version"], third["tls_version_raw"]) == ("inbound", "unknown", "weird")
    assert [(r["date"], r["source_file"], r["source_line"], r["load_id"]) for r in rows] == [
        (DAY, "f.csv", 2, "load-1"), (DAY, "f.csv", 3, "load-1"), (DAY, "f.csv", 4, "load-1")]
    assert "subject" not in checked.trace.column_names
    assert checked.warnings == {"unrecognised_tls_version": 1, "unrecognised_status": 1}
    assert checked.text["subject"].to_pylist() == ["hello"] * 3  # compared for duplicates, never stored
    # every field as written: the hash tells the first two records apart, and the text keeps the spaces
    assert checked.text["sender_address"].to_pylist()[0] == " a@x.com "


def test_refused_records_come_back_as_rejects_with_their_reason_and_text(check):
    checked = check(reader_batch(
        {},
        {"Received": "yesterday"},
        {"Direction": "Sideways"},
        {"RecipientAddress": "b@y.com\n"},  # a control character in an address
        {"TlsVersion": "weird"},
    ), "f.csv", raw_text)
    assert [(r.source_line, r.reason, r.raw) for r in checked.refused] == [
        (3, "bad_timestamp", "line 3"), (4, "unknown_direction", "line 4"), (5, "control_character", "line 5")]
    assert checked.trace["source_line"].to_pylist() == checked.text["source_line"].to_pylist() == [2, 6]
    assert checked.warnings["unrecognised_tls_version"] == 1  # counted on what is loaded


def test_absent_optional_columns_load_as_null(check):
    checked = check(reader_batch({}, columns=COLUMNS[:4]), "f.csv", raw_text)
    (row,) = checked.trace.to_pylist()
    assert (row["tls_version"], row["tls_version_raw"], row["connector_name"], row["status"], row["size_bytes"]) == (
        "unknown", None, None, None, None)
    assert checked.warnings == {"unrecognised_tls_version": 0, "unrecognised_status": 0}


def test_spellings_read_in_one_batch_are_remembered_for_the_next(check):
    check(reader_batch({"Direction": "Incoming"}), "f.csv", raw_text)
    assert "Incoming" in check.meanings
    checked = check(reader_batch({"Direction": "Incoming"}, {"Direction": "Outbound"}), "f.csv", raw_text)
    assert checked.trace["direction"].to_pylist() == ["inbound", "outbound"]


def test_the_hash_filter_suspects_every_repeat_and_few_others():
    rng = random.Random(5)
    seen, reference = SeenHashes(bits_log2=20), set()
    missed = needless = 0
    for size in [0, 1, 7, 100, 1000, 3, 2000, 50, 5000]:
        hashes = [rng.randrange(3000) * 0x9E3779B97F4A7C15 % 2**64 for _ in range(size)]  # spread over 64 bits
        for h, suspect in zip(hashes, seen.suspects(np.array(hashes, dtype=np.uint64)).tolist(), strict=True):
            missed += h in reference and not suspect
            needless += suspect and h not in reference
            reference.add(h)
    assert missed == 0  # never a repeat let through
    assert needless < 10  # 3,000 hashes in a million bits: hardly any alike


def test_a_full_filter_suspects_everything_and_still_lets_no_repeat_through():
    seen = SeenHashes(bits_log2=3)  # 8 bits
    distinct = np.array(range(8), dtype=np.uint64) << np.uint64(61)  # one per bit
    repeat = np.array([3 << 61], dtype=np.uint64)
    # within a batch only equal hashes are suspects: the filter is asked about the batches before
    assert seen.suspects(np.concatenate([distinct, repeat])).tolist() == [False] * 8 + [True]
    assert seen.suspects(np.array([5, 2**63 + 5], dtype=np.uint64)).tolist() == [True, True]  # new, but alike


def _checked(records: list[tuple[int, int, str]]) -> CheckedBatch:
    """A checked batch of (line, key of its hash, subject) records."""
    lines, keys, subjects = (list(column) for column in zip(*records, strict=True))
    hashes = [key * 0x9E3779B97F4A7C15 % 2**64 for key in keys]  # small keys spread over 64 bits
    text = pa.table({"source_file": ["f.csv"] * len(lines), "source_line": pa.array(lines, pa.int64()),
                     **{c: [None] * len(lines) for c in ("received", "sender_address", "recipient_address",
                                                          "direction", "connector_name", "tls_version", "tls_cipher",
                                                          "status", "from_ip", "to_ip", "size", "message_id",
                                                          "message_trace_id")},
                     "subject": subjects, "row_hash": pa.array(hashes, pa.uint64())})
    trace = pa.table({"source_file": ["f.csv"] * len(lines), "source_line": pa.array(lines, pa.int64())})
    return CheckedBatch(trace, text.cast(TEXT_SCHEMA), [], {})


@pytest.mark.parametrize("plain_bytes", [1 << 30, 1], ids=["plain", "compressed after the first batch"])
def test_the_duplicate_filter_drops_repeats_and_keeps_hash_collisions(tmp_path, monkeypatch, plain_bytes):
    monkeypatch.setattr(duplicates_module, "PLAIN_STAGING_BYTES", plain_bytes)
    con = connect()
    schema = pa.schema([("source_file", pa.string()), ("source_line", pa.int64())])
    dedup = DuplicateFilter(tmp_path, schema)
    written = [dedup.split(_checked([(2, 1, "a"), (3, 2, "b"), (4, 1, "a")])),  # 4 repeats 2
               dedup.split(_checked([(5, 2, "other"), (6, 3, "c"), (7, 2, "other"), (8, 1, "a")]))]
    # 5 shares 3's hash but not its subject: kept; 7 repeats 5; 8 repeats 2
    assert [t["source_line"].to_pylist() for t in written] == [[2, 3], [6]]
    kept, duplicates = dedup.resolve(con)
    assert [line for batch in kept for line in batch["source_line"].to_pylist()] == [5]
    assert (dedup.held_rows, duplicates) == (4, 3)
    assert len(dedup.text_paths) == (1 if plain_bytes > 1 else 2)
    dedup.close()
    con.close()

"""Each file in sql/ on a tiny fixture, against rows computed by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl import sql
from etl.contract import DIRECTION_SPELLINGS, NOT_COUNTED_STATUSES, STATUSES, TLS_SPELLINGS
from etl.duck import connect, run

DAY = date(2026, 11, 9)

LAKE_FIXTURE = [
    # direction, connector, tls, status, sender, recipient, size
    ("inbound", None, "TLS1.2", "Delivered", "a@Gmail.com", "x@contoso.com", 100),
    ("inbound", None, "TLS1.2", "Delivered", "b@gmail.com", "y@contoso.com", 50),
    ("inbound", None, "none", "Failed", "c@old.example", "x@contoso.com", None),
    ("inbound", None, "TLS1.2", "Expanded", "a@gmail.com", "dl@contoso.com", 100),  # not a message
    ("outbound", "Partner A", "TLS1.0", "Delivered", "x@contoso.com", "p@partner-a.example", 10),
    ("outbound", "Partner A", "TLS1.0", "Delivered", "y@contoso.com", "q@Partner-A.example", 20),
    ("outbound", "Partner A", "TLS1.2", "Pending", "x@contoso.com", "r@partner-a.example", 30),
    ("internal", None, "unknown", None, "x@contoso.com", "y@contoso.com", 5),
    ("inbound", None, "unknown", "Delivered", None, "x@contoso.com", 1),  # null sender (bounce)
]


@pytest.fixture
def trace(con):
    """The day's trace rows, as the aggregate models read them (relation `trace_rows`)."""
    columns = list(zip(*LAKE_FIXTURE, strict=True))
    table = pa.table({
        "direction": pa.array(columns[0], pa.string()),
        "connector_name": pa.array(columns[1], pa.string()),
        "tls_version": pa.array(columns[2], pa.string()),
        "status": pa.array(columns[3], pa.string()),
        "sender_address": pa.array(columns[4], pa.string()),
        "recipient_address": pa.array(columns[5], pa.string()),
        "size_bytes": pa.array(columns[6], pa.int64()),
    })
    con.register("trace_rows", table)
    return table


@pytest.fixture
def con():
    con = connect()
    yield con
    con.close()


MODEL_PARAMS = {"day": DAY, "load_id": "abc123", "not_counted_statuses": list(NOT_COUNTED_STATUSES)}


def test_daily_connector_tls(con, trace):
    rows = con.execute(sql.load("load/daily_connector_tls"), MODEL_PARAMS).fetchall()
    assert rows == [
        (DAY, "inbound", None, "TLS1.2", 2, 150, "abc123"),
        (DAY, "inbound", None, "none", 1, 0, "abc123"),
        (DAY, "inbound", None, "unknown", 1, 1, "abc123"),
        (DAY, "internal", None, "unknown", 1, 5, "abc123"),
        (DAY, "outbound", "Partner A", "TLS1.0", 2, 30, "abc123"),
        (DAY, "outbound", "Partner A", "TLS1.2", 1, 30, "abc123"),
    ]


def test_daily_remote_domain_tls(con, trace):
    rows = [r[:-1] for r in con.execute(sql.load("load/daily_remote_domain_tls"), MODEL_PARAMS).fetchall()]
    assert rows == [
        (DAY, "inbound", None, "TLS1.2", "gmail.com", 2, 150),  # domains fold to lowercase
        (DAY, "inbound", None, "none", "old.example", 1, 0),
        (DAY, "inbound", None, "unknown", None, 1, 1),  # no sender, no domain
        (DAY, "internal", None, "unknown", None, 1, 5),  # internal mail has no remote side
        (DAY, "outbound", "Partner A", "TLS1.0", "partner-a.example", 2, 30),
        (DAY, "outbound", "Partner A", "TLS1.2", "partner-a.example", 1, 30),
    ]


def test_daily_load_counts_messages_from_the_aggregates(con, trace):
    run(con, "create temp table daily_connector_tls as " + sql.load("load/daily_connector_tls"), MODEL_PARAMS)
    row = con.execute(sql.load("load/daily_load"), {
        "day": DAY, "rows_read": 12, "rows_loaded": 9, "rows_quarantined": 2, "duplicates_removed": 1,
        "quarantine_reasons": json.dumps({"bad_timestamp": 2}), "sources": "[]",
        "loaded_at": "2026-11-10T02:05:00+00:00", "load_id": "abc123"}).fetchall()[0]
    assert row[:7] == (DAY, 12, 9, 2, 1, 1, 8)  # 9 loaded = 8 messages + 1 Expanded not counted
    assert row[-1] == "abc123"


TEXT_COLUMNS = ["received", "sender_address", "recipient_address", "direction", "connector_name", "tls_version",
                "tls_cipher", "status", "from_ip", "to_ip", "size", "message_id", "message_trace_id", "subject"]


def _text_table(records):
    names = ["source_file", "source_line", *TEXT_COLUMNS]
    return pa.table({n: pa.array([r.get(n) for r in records], pa.int64() if n == "source_line" else pa.string())
                     for n in names})


def _dicts(cur):
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


BASE = {"source_file": "f.csv", "sender_address": " a@x.com ", "recipient_address": "b@y.com",
        "direction": " INBOUND ", "tls_version": "Tls12", "status": "Delivered", "size": "10"}


def _checks_batch(records):
    """A batch as sql/load/record_checks.sql reads it: the text, and what etl/load/checks.py read in it."""
    text = _text_table(records)
    read = {
        "direction_normalized": [r.get("direction_normalized", "inbound") for r in records],
        "received_trimmed": [r["received"].strip(" ") for r in records],
        "recipient_trimmed": [r["recipient_address"].strip(" ") for r in records],
        "size_stored": [r["size"].strip(" ") or None for r in records],
        "has_control_character": [r.get("has_control_character", False) for r in records],
    }
    for name, values in read.items():
        text = text.append_column(name, pa.array(values))
    return text


def test_record_checks(con):
    con.register("batch", _checks_batch([
        {**BASE, "source_line": 2, "received": "2026-11-09T00:00:00Z"},
        {**BASE, "source_line": 3, "received": "2026-11-09T10:00:00.1234567Z"},
        {**BASE, "source_line": 4, "received": "2026-11-09 10:00:00", "size": " 12 "},
        {**BASE, "source_line": 5, "received": "2026-11-09T10:00:00Z", "direction_normalized": None},
        {**BASE, "source_line": 6, "received": "2026-11-10T00:00:00+00:00"},
        {**BASE, "source_line": 7, "received": "2026-11-09T10:00:00Z", "recipient_address": " "},
        {**BASE, "source_line": 8, "received": "2026-11-09T10:00:00Z", "size": "ten"},
        {**BASE, "source_line": 9, "received": "09/11/2026 10:00"},
        {**BASE, "source_line": 10, "received": "2026-11-09T00:00:00Z"},  # same fields as line 2
        # en-US times as PowerShell writes them
        {**BASE, "source_line": 11, "received": "11/9/2026 8:15:02 AM"},
        {**BASE, "source_line": 12, "received": "11/09/2026 12:05:11 AM"},
        {**BASE, "source_line": 13, "received": "11/9/2026 12:05:11 PM"},
        {**BASE, "source_line": 14, "received": "11/9/2026 13:05:11 PM"},
        {**BASE, "source_line": 15, "received": "11/10/2026 12:00:00 AM"},
        {**BASE, "source_line": 16, "received": "2026-11-09T10:00:00Z", "has_control_character": True},
        {**BASE, "source_line": 17, "received": "2026-11-09T10:00:00+25:00"},
        {**BASE, "source_line": 18, "received": " 2026-11-09T10:00:00Z ", "size": "-1"},
        {**BASE, "source_line": 19, "received": "2026-11-09T10:00:00Z", "size": ""},
        {**BASE, "source_line": 20, "received": "2026-11-09T00:00:00Z", "tls_version": "TLS1.3"},
    ]))
    out = _dicts(con.execute(sql.load("load/record_checks"), record_check_params()))
    assert [r["source_line"] for r in out] == list(range(2, 21))  # lines up with the batch
    assert [r["reject_reason"] for r in out] == [
        None, None, None, "unknown_direction", "outside_day", "missing_recipient", "bad_size", "bad_timestamp", None,
        None, None, None, "bad_timestamp", "outside_day", "control_character", "bad_timestamp", "bad_size", None, None]
    assert [r["received_at"] for r in out][9:12] == [
        datetime(2026, 11, 9, 8, 15, 2, tzinfo=UTC), datetime(2026, 11, 9, 0, 5, 11, tzinfo=UTC),
        datetime(2026, 11, 9, 12, 5, 11, tzinfo=UTC)]
    assert out[1]["received_at"] == datetime(2026, 11, 9, 10, 0, 0, 123456, tzinfo=UTC)
    assert [r["size_bytes"] for r in out][:3] == [10, 10, 12] and out[-2]["size_bytes"] is None
    assert out[0]["row_hash"] == out[8]["row_hash"] != out[1]["row_hash"]
    # the hash leaves out the TLS version: the two are suspects, which the comparison tells apart
    assert out[0]["row_hash"] == out[-1]["row_hash"]


def test_spellings_fold_directions_tls_versions_and_statuses(con):
    values = [" INBOUND ", "Originating", "2", "IntraOrg", "1", "3", "up",
              "No TLS", "", " TLSv1 ", "TLS 1.2", "Tls12", "SP_PROT_TLS1_3_CLIENT", "weird", "Delivered", "New"]
    con.register("spellings", pa.table({"value": pa.array(values)}))
    out = {r["value"]: r for r in _dicts(con.execute(sql.load("load/spellings"), spelling_params()))}
    assert [out[v]["direction"] for v in values[:7]] == [
        "inbound", "outbound", "outbound", "internal", "inbound", None, None]
    assert [out[v]["tls_bucket"] for v in values[7:14]] == [
        "none", "unknown", "TLS1.0", "TLS1.2", "TLS1.2", "TLS1.3", "unknown"]
    assert [out[v]["tls_unrecognised"] for v in values[7:14]] == [False, False, False, False, False, False, True]
    assert [out[v]["stored"] for v in (" INBOUND ", "", " TLSv1 ")] == ["INBOUND", None, "TLSv1"]
    assert [out[v]["status_unrecognised"] for v in ("Delivered", "New", "")] == [False, True, False]


def record_check_params():
    return {"day_start": datetime(2026, 11, 9, tzinfo=UTC), "day_end": datetime(2026, 11, 10, tzinfo=UTC)}


def spelling_params():
    return {"tls_spellings": list(TLS_SPELLINGS), "tls_buckets": list(TLS_SPELLINGS.values()),
            "statuses": list(STATUSES),
            "direction_spellings": list(DIRECTION_SPELLINGS), "directions": list(DIRECTION_SPELLINGS.values())}


def test_duplicate_rows_keeps_the_earliest_occurrence_and_compares_every_field(con, tmp_path):
    row = {**BASE, "received": "2026-11-09T00:00:00Z"}
    suspects = _text_table([  # in the order read: mail.log.1, the older log, before mail.log
        {**row, "source_file": "mail.log.1", "source_line": 9},
        {**row, "source_file": "mail.log", "source_line": 3, "subject": "other"},
        {**row, "source_file": "mail.log", "source_line": 7},
        {**row, "source_file": "mail.log", "source_line": 8},
    ])
    # the same hash for all four: a collision must not make line 3 a duplicate
    path = tmp_path / "suspects.parquet"
    pq.write_table(suspects.append_column("row_hash", pa.array([42] * 4, pa.uint64())), path)
    rows = con.execute(sql.load("load/duplicate_rows") + " order by all", {"suspects": str(path)}).fetchall()
    # mail.log.1:9 is the first of its kind, though its name sorts last; mail.log:3 differs
    assert rows == [("mail.log", 7), ("mail.log", 8)]

"""Each file in sql/ on a tiny fixture, against rows computed by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl import sql
from etl.contract import STATUSES, TLS_SPELLINGS
from etl.duck import connect, run
from etl.warehouse import ensure_schema

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
def trace_files(tmp_path):
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
    path = tmp_path / "part-0.parquet"
    pq.write_table(table, path)
    return [str(path)]


@pytest.fixture
def con():
    con = connect()
    yield con
    con.close()


def test_daily_connector_tls(con, trace_files):
    rows = con.execute(sql.load("daily_connector_tls"), {"trace_files": trace_files, "day": DAY}).fetchall()
    assert rows == [
        (DAY, "inbound", None, "TLS1.2", 2, 150),
        (DAY, "inbound", None, "none", 1, 0),
        (DAY, "inbound", None, "unknown", 1, 1),
        (DAY, "internal", None, "unknown", 1, 5),
        (DAY, "outbound", "Partner A", "TLS1.0", 2, 30),
        (DAY, "outbound", "Partner A", "TLS1.2", 1, 30),
    ]


def test_daily_remote_domain_tls(con, trace_files):
    rows = con.execute(sql.load("daily_remote_domain_tls"), {"trace_files": trace_files, "day": DAY}).fetchall()
    assert rows == [
        (DAY, "inbound", None, "TLS1.2", "gmail.com", 2, 150),  # domains fold to lowercase
        (DAY, "inbound", None, "none", "old.example", 1, 0),
        (DAY, "inbound", None, "unknown", None, 1, 1),  # no sender, no domain
        (DAY, "internal", None, "unknown", None, 1, 5),  # internal mail has no remote side
        (DAY, "outbound", "Partner A", "TLS1.0", "partner-a.example", 2, 30),
        (DAY, "outbound", "Partner A", "TLS1.2", "partner-a.example", 1, 30),
    ]


def test_daily_load_counts_messages_from_the_aggregates(con, trace_files):
    ensure_schema(con)
    run(con, "insert into daily_connector_tls " + sql.load("daily_connector_tls"),
        {"trace_files": trace_files, "day": DAY})
    row = con.execute(sql.load("daily_load"), {
        "day": DAY, "rows_read": 12, "rows_loaded": 9, "rows_quarantined": 2, "duplicates_removed": 1,
        "quarantine_reasons": json.dumps({"bad_timestamp": 2}), "sources": "[]",
        "loaded_at": "2026-11-10T02:05:00+00:00"}).fetchall()[0]
    assert row[:7] == (DAY, 12, 9, 2, 1, 1, 8)  # 9 loaded = 8 messages + 1 Expanded not counted


def _trace_rows(con, records):
    names = ["source_file", "source_line", "received", "sender_address", "recipient_address", "direction",
             "connector_name", "tls_version", "tls_cipher", "status", "from_ip", "to_ip", "size", "message_id",
             "message_trace_id", "subject"]
    batch = pa.table({n: pa.array([r.get(n) for r in records],
                                  pa.int64() if n == "source_line" else pa.string()) for n in names})
    con.register("batch", batch)
    params = {"day_start": datetime(2026, 11, 9, tzinfo=UTC), "day_end": datetime(2026, 11, 10, tzinfo=UTC),
              "tls_spellings": list(TLS_SPELLINGS), "tls_buckets": list(TLS_SPELLINGS.values()),
              "statuses": list(STATUSES)}
    cur = con.execute(sql.load("trace_rows"), params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def test_trace_rows_normalises_and_flags(con):
    base = {"source_file": "f.csv", "sender_address": " a@x.com ", "recipient_address": "b@y.com",
            "direction": " INBOUND ", "tls_version": "Tls12", "status": "Delivered", "size": "10"}
    out = _trace_rows(con, [
        {**base, "source_line": 2, "received": "2026-11-09T00:00:00Z"},
        {**base, "source_line": 3, "received": "2026-11-09T10:00:00.1234567Z", "tls_version": "TLS v1.3"},
        {**base, "source_line": 4, "received": "2026-11-09 10:00:00", "tls_version": "weird", "status": "New"},
        {**base, "source_line": 5, "received": "2026-11-09T10:00:00Z", "direction": "up"},
        {**base, "source_line": 6, "received": "2026-11-09T10:00:00Z", "connector_name": "  ", "size": ""},
    ])
    assert [r["reject_reason"] for r in out] == [None, None, None, "unknown_direction", None]
    assert [r["tls_version"] for r in out] == ["TLS1.2", "TLS1.3", "unknown", "TLS1.2", "TLS1.2"]
    assert [r["tls_unrecognised"] for r in out] == [False, False, True, False, False]
    assert [r["status_unrecognised"] for r in out] == [False, False, True, False, False]
    assert out[0]["sender_address"] == "a@x.com" and out[0]["direction"] == "inbound"
    assert out[4]["connector_name"] is None and out[4]["size_bytes"] is None
    assert out[0]["raw_fields"] is None
    assert out[3]["raw_fields"][:4] == ["2026-11-09T10:00:00Z", " a@x.com ", "b@y.com", "up"]  # as written


def test_lake_trace_collapses_exact_duplicates_onto_the_first(con):
    run(con, "create temp table normalised as select * from (values "
             "('b.csv', 9, null, 'x', 's1'), ('a.csv', 7, null, 'x', 's1'), ('a.csv', 3, null, 'x', 's2'), "
             "('a.csv', 4, 'bad_timestamp', 'x', 's1')) "
             "as t(source_file, source_line, reject_reason, message_id, subject)")
    for column in ("received_at", "sender_address", "recipient_address", "direction", "connector_name",
                   "tls_version", "tls_version_raw", "tls_cipher", "status", "from_ip", "to_ip",
                   "message_trace_id"):
        run(con, f"alter table normalised add column {column} varchar")
    run(con, "alter table normalised add column size_bytes bigint")
    rows = con.execute("select source_file, source_line, message_id from (" + sql.load("lake_trace") + ") "
                       "order by source_line").fetchall()
    assert rows == [("a.csv", 3, "x"), ("a.csv", 7, "x")]  # s1 twice -> first seen (a.csv:7); s2 stays

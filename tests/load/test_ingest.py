"""Ingest: one day of exports into the lake's trace and quarantine tables, counts that reconcile."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from etl.errors import ExportError
from etl.load.ingest import ingest_day
from etl.sources.csv_reader import CsvReader
from etl.storage import QUARANTINE, TRACE, Storage
from tests.conftest import HEADER, csv_bytes, row
from tests.conftest import lake_rows as shared_lake_rows

DAY = date(2026, 11, 9)


def lake_rows(cfg, dataset=TRACE, order="source_line", day=DAY):
    return shared_lake_rows(cfg, dataset, day, order=(order,))


def data_files(cfg, dataset=TRACE, day=DAY) -> list[str]:
    """The files a lake table's current snapshot holds for the day."""
    found = Storage(cfg).lake.dataset(dataset, day, day)
    return getattr(found, "files", [])  # an empty day is an in-memory empty dataset


def staging_left(cfg) -> list[str]:
    staging = Storage(cfg).root / ".staging"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


def assert_reconciles(result):
    assert result.rows_read == result.rows_loaded + result.rows_quarantined + result.duplicates_removed


def test_clean_export_loads_every_row_normalised(cfg, export):
    path = export([
        row(tls="TLSv1.2", connector="Partner A"),
        row(received="2026-11-09 23:59:59", direction="outbound", tls="TLS 1.3", sender="x@contoso.com",
            recipient="y@partner.example"),
        row(received="2026-11-09T01:30:00+01:00", tls="No TLS", status="Expanded", size=""),
    ])
    result = ingest_day(cfg, DAY, [path])
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined, result.duplicates_removed) == (3, 3, 0, 0)
    rows = lake_rows(cfg)
    assert [r["source_line"] for r in rows] == [2, 3, 4]
    assert [r["tls_version"] for r in rows] == ["TLS1.2", "TLS1.3", "none"]
    assert [r["tls_version_raw"] for r in rows] == ["TLSv1.2", "TLS 1.3", "No TLS"]
    assert [r["direction"] for r in rows] == ["inbound", "outbound", "inbound"]
    assert [r["connector_name"] for r in rows] == ["Partner A", None, None]
    assert rows[2]["received_at"].isoformat() == "2026-11-09T00:30:00+00:00"  # offset honoured
    assert rows[1]["received_at"].isoformat() == "2026-11-09T23:59:59+00:00"  # no offset means UTC
    assert rows[2]["status"] == "Expanded"  # kept in the lake; the aggregates skip it
    assert rows[2]["size_bytes"] is None


def test_subject_is_never_stored_not_even_in_quarantine(cfg, export):
    data = csv_bytes([row(subject="Top secret merger"), row(subject="Top secret merger", received="bad"),
                      row(subject="Top secret merger")[:5]])
    ingest_day(cfg, DAY, [export(raw=data + "2026-11-09T10:00:00Z,a,b,Top secret merger\xff,x\r\n".encode(
        "utf-8", "surrogateescape"))])
    assert "subject" not in lake_rows(cfg)[0]
    quarantined = lake_rows(cfg, QUARANTINE)
    assert len(quarantined) == 3
    assert quarantined[0]["raw"].startswith("bad,a@fabrikam.com,b@contoso.com,,Delivered")  # field kept, emptied
    for dataset in (TRACE, QUARANTINE):
        for file in data_files(cfg, dataset):
            assert b"Top secret" not in Path(file).read_bytes()


def test_exact_duplicates_are_removed_and_counted(cfg, export):
    same = row(message_id="<dup@x>")
    other_subject = row(message_id="<dup@x>", subject="different")
    result = ingest_day(cfg, DAY, [export([same, same, other_subject, same])])
    assert (result.rows_read, result.rows_loaded, result.duplicates_removed) == (4, 2, 2)
    assert [r["source_line"] for r in lake_rows(cfg)] == [2, 4]  # first occurrences keep their lines
    assert_reconciles(result)


def test_of_two_equal_records_in_two_files_the_first_read_is_kept(cfg, export):
    """Postfix logs are read oldest first (mail.log.1 before mail.log), whatever their names say."""
    later = export([row(), row(message_id="<2@x>")], name="trace_2026-11-09_b.csv")
    earlier = export([row()], name="trace_2026-11-09_a.csv")
    result = ingest_day(cfg, DAY, [later, earlier])
    assert (result.rows_loaded, result.duplicates_removed) == (2, 1)
    assert {(r["source_file"], r["source_line"]) for r in lake_rows(cfg)} == {
        ("trace_2026-11-09_b.csv", 2), ("trace_2026-11-09_b.csv", 3)}


def test_records_alike_but_for_a_field_the_hash_leaves_out_are_both_kept(cfg, export):
    first, tls13, spaced = row(), row(tls="TLS1.3"), row(connector=" ")  # the same hash, other fields
    result = ingest_day(cfg, DAY, [export([first, tls13, spaced, first, tls13])])
    assert (result.rows_read, result.rows_loaded, result.duplicates_removed) == (5, 3, 2)
    assert [(r["source_line"], r["tls_version"]) for r in lake_rows(cfg)] == [
        (2, "TLS1.2"), (3, "TLS1.3"), (4, "TLS1.2")]


def test_quoted_fields_with_commas_quotes_and_newlines_keep_line_numbers(cfg, export):
    path = export([
        row(subject='multi\nline, "quoted"\nsubject'),
        row(received="bad"),
        row(connector="Conn, with comma"),
    ])
    result = ingest_day(cfg, DAY, [path])
    assert [r["source_line"] for r in lake_rows(cfg)] == [2, 6]
    assert lake_rows(cfg)[1]["connector_name"] == "Conn, with comma"
    quarantined = lake_rows(cfg, QUARANTINE)
    assert [(q["source_line"], q["reason"]) for q in quarantined] == [(5, "bad_timestamp")]
    assert_reconciles(result)


def test_bom_gzip_and_case_insensitive_headers(cfg, export):
    header = [h.lower() if i % 2 else h.upper() for i, h in enumerate(HEADER)]
    path = export([row(), row(message_id="<2@x>")], name="trace_2026-11-09.csv.gz", header=header, gz=True, bom=True)
    result = ingest_day(cfg, DAY, [path])
    assert result.rows_loaded == 2
    assert result.sources[0]["file"] == "trace_2026-11-09.csv.gz"


def test_optional_columns_may_be_missing(cfg, export):
    path = export([["2026-11-09T10:00:00Z", "a@x.com", "b@y.com", "Outbound"]],
                  header=["received", "senderaddress", "recipientaddress", "direction"])
    ingest_day(cfg, DAY, [path])
    (r,) = lake_rows(cfg)
    assert (r["connector_name"], r["tls_version"], r["status"]) == (None, "unknown", None)


def test_unknown_tls_becomes_unknown_with_a_warning(cfg, export):
    result = ingest_day(cfg, DAY, [export([row(tls="SSLv3-ish"), row(tls="", message_id="<2@x>")])])
    assert [r["tls_version"] for r in lake_rows(cfg)] == ["unknown", "unknown"]
    assert result.warnings == {"unrecognised_tls_version": 1}  # empty is "not recorded", not a warning


@pytest.mark.parametrize("fields, reason", [
    (row(received="yesterday"), "bad_timestamp"),
    (row(received="2026-11-09"), "bad_timestamp"),  # a date alone is not a time
    (row(received="2026-13-09T10:00:00Z"), "bad_timestamp"),
    (row(received="2026-11-08T23:59:59Z"), "outside_day"),
    (row(received="2026-11-10T00:00:00Z"), "outside_day"),
    (row(received="2026-11-10T00:30:00+01:00"), None),  # 23:30 UTC on the 9th
    (row(direction="Sideways"), "unknown_direction"),
    (row(recipient=""), "missing_recipient"),
    (row(size="12kB"), "bad_size"),
    (row(size="-5"), "bad_size"),
    (row(received="2026-11-09T10:00:00+25:00"), "bad_timestamp"),  # no such offset
    (row(received="2026-11-09T10:00:00+05:99"), "bad_timestamp"),
    (row(received="2026-11-09T10:00:00-23:59"), "outside_day"),  # the widest offset there is: the 10th in UTC
    (row(sender="a\x00@fabrikam.com"), "control_character"),
    (row(recipient="b@contoso.com\x1b[2J"), "control_character"),  # a terminal escape
    (row(connector="Relay\nInbound"), "control_character"),
    (row(connector="Relay\tInbound"), None),  # a tab is not a control character here
])
def test_records_that_break_the_contract_are_quarantined(cfg, export, fields, reason):
    result = ingest_day(cfg, DAY, [export([row(message_id="<ok@x>"), fields])])
    assert_reconciles(result)
    if reason is None:
        assert result.rows_loaded == 2 and result.rows_quarantined == 0
        return
    assert result.rows_loaded == 1 and result.quarantine_reasons == {reason: 1}
    (q,) = lake_rows(cfg, QUARANTINE)
    assert (q["source_file"], q["source_line"], q["reason"]) == ("trace_2026-11-09.csv", 3, reason)
    assert q["raw"].split(",")[0] == fields[0]


def test_ragged_rows_and_invalid_utf8_are_quarantined_with_raw_text(cfg, export):
    data = (csv_bytes([row(), row(connector="cafX", message_id="<2@x>")]).replace(b"cafX", b"caf\xe9")
            + b"2026-11-09T10:00:00Z,short,row\r\n"
            + b"2026-11-09T10:00:00Z,a,b,c,d,e,Inbound,g,h,i,j,1,l,m,EXTRA\r\n")
    result = ingest_day(cfg, DAY, [export(raw=data)])
    quarantined = {q["source_line"]: q for q in lake_rows(cfg, QUARANTINE)}
    assert {line: q["reason"] for line, q in quarantined.items()} == {
        3: "invalid_utf8", 4: "ragged_row", 5: "ragged_row"}
    assert quarantined[4]["raw"] == "2026-11-09T10:00:00Z,short,row"
    assert "caf\\xe9" in quarantined[3]["raw"]  # the offending byte, visible
    assert result.rows_loaded == 1
    assert_reconciles(result)


def test_a_one_megabyte_field_loads(cfg, export):
    result = ingest_day(cfg, DAY, [export([row(subject="x" * 1_048_576), row(message_id="<2@x>")])])
    assert result.rows_loaded == 2


def test_header_only_gives_an_empty_partition(cfg, export):
    result = ingest_day(cfg, DAY, [export([])])
    assert (result.rows_read, result.rows_loaded) == (0, 0)
    assert lake_rows(cfg) == []


@pytest.mark.parametrize("make, message", [
    (lambda export: export(raw=b""), "empty file"),
    (lambda export: export([row()], header=[h for h in HEADER if h != "Direction"]),
     "missing required column 'Direction'"),
    (lambda export: export(raw=b"Received,Sender\xffAddress\r\n"), "header is not valid UTF-8"),
    (lambda export: export(raw="Received,SenderAddress\r\n".encode("utf-16-le")[:-1]), "inside a UTF-16 character"),
    (lambda export: export(raw=b"#TYPE System.Management.Automation.PSCustomObject\r\n"), "empty header line"),
    (lambda export: export(raw=b"Date,Sender,To\r\n"),
     "missing required column 'SenderAddress'; 'RecipientAddress'; 'Direction' [(]or Directionality[)]$"),
    (lambda export: export(raw=__import__("gzip").compress(csv_bytes([row()] * 2000))[:-200],
                           name="trace_2026-11-09.csv.gz"), "truncated or corrupt gzip"),
])
def test_unloadable_files_fail_with_one_line_and_write_nothing(cfg, export, make, message):
    path = make(export)
    with pytest.raises(ExportError, match=message) as info:
        ingest_day(cfg, DAY, [path])
    assert "\n" not in str(info.value) and path.name in str(info.value)
    assert not Storage(cfg).is_loaded(DAY) and data_files(cfg) == []
    assert staging_left(cfg) == []


def test_an_export_for_the_wrong_day_is_quarantined_whole(cfg, export):
    rows = [row(received=f"2026-11-10T0{i}:00:00Z", message_id=f"<{i}@x>") for i in range(3)]
    result = ingest_day(cfg, DAY, [export(rows)])
    assert result.rows_loaded == 0 and result.quarantine_reasons == {"outside_day": 3}


def test_rerun_replaces_the_partition_and_leaves_nothing_stale(cfg, export):
    ingest_day(cfg, DAY, [export([row(), row(message_id="<2@x>")])])
    first = Storage(cfg).read_load_manifest(DAY)
    ingest_day(cfg, DAY, [export([row()], name="trace_2026-11-09.csv")])
    assert len(lake_rows(cfg)) == 1 and len(data_files(cfg)) == 1
    assert first["rows_loaded"] == 2 and Storage(cfg).read_load_manifest(DAY)["rows_loaded"] == 1
    assert staging_left(cfg) == []


def test_landing_folder_is_the_default_source(cfg, home):
    landing = home / "landing"
    landing.mkdir(parents=True)
    (landing / "trace_2026-11-09.csv").write_bytes(csv_bytes([row()]))
    (landing / "trace_2026-11-10.csv").write_bytes(csv_bytes([row(received="2026-11-10T01:00:00Z")]))
    assert ingest_day(cfg, DAY).sources[0]["file"] == "trace_2026-11-09.csv"
    with pytest.raises(ExportError, match=r"no export for 2026-11-11 in .*landing"):
        ingest_day(cfg, date(2026, 11, 11))


@pytest.mark.parametrize("chunk_bytes", [4096, 100_000, 16 * 1024 * 1024])
def test_line_numbers_hold_whatever_the_chunking(cfg, export, monkeypatch, chunk_bytes):
    """Chunk boundaries, the halving around a bad record and the exact path all agree on lines."""
    n, ragged = 3000, 1500
    rows = [row(message_id=f"<{i}@x>", subject="a\nb" if i % 7 == 0 else "s") for i in range(n)]
    rows[ragged] = rows[ragged][:5]
    path = export(rows)
    monkeypatch.setattr("etl.sources.detect.CsvReader", lambda p: CsvReader(p, chunk_bytes=chunk_bytes))
    result = ingest_day(cfg, DAY, [path])
    # row i starts on line 2 + i + (rows before it whose subject spans two lines)
    expected = {i: 2 + i + sum(1 for j in range(i) if j % 7 == 0) for i in range(n)}
    assert [r["source_line"] for r in lake_rows(cfg)] == [expected[i] for i in range(n) if i != ragged]
    (q,) = lake_rows(cfg, QUARANTINE)
    assert (q["source_line"], q["reason"]) == (expected[ragged], "ragged_row")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (n, n - 1, 1)


def test_blank_lines_are_not_records_and_do_not_shift_lines(cfg, export):
    body = csv_bytes([row(), row(message_id="<2@x>", subject="two\nlines"), row(message_id="<3@x>")])
    first, second, third = body.split(b"\r\n2026")[1:]
    data = body.split(b"\r\n")[0] + b"\r\n2026" + first + b"\r\n\r\n2026" + second + b"\r\n\r\n\r\n2026" + third
    result = ingest_day(cfg, DAY, [export(raw=data)])
    assert [r["source_line"] for r in lake_rows(cfg)] == [2, 4, 8]
    assert (result.rows_read, result.rows_loaded) == (3, 3)


def test_a_quote_never_closed_is_quarantined_with_its_text(cfg, export):
    data = csv_bytes([row()]) + b'2026-11-09T11:00:00Z,a@x.com,b@y.com,Secret,Delivered,"never closed\r\nmore\r\n'
    result = ingest_day(cfg, DAY, [export(raw=data)])
    (q,) = lake_rows(cfg, QUARANTINE)
    assert (q["source_line"], q["reason"]) == (3, "unparseable_record")
    assert q["raw"].startswith("2026-11-09T11:00:00Z,a@x.com,b@y.com,,Delivered,")  # Subject emptied
    assert "never closed" in q["raw"] and "Secret" not in q["raw"]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)


def test_several_files_for_one_day_load_together(cfg, home, export):
    landing = home / "landing"
    landing.mkdir(parents=True)
    shared = row(message_id="<same@x>")
    (landing / "trace_2026-11-09_part1.csv").write_bytes(csv_bytes([row(), shared]))
    (landing / "trace_2026-11-09_part2.csv.gz").write_bytes(
        __import__("gzip").compress(csv_bytes([shared, row(message_id="<3@x>", received="bad")])))
    (landing / "trace_2026-11-09_part3.csv.part").write_bytes(b"still being written")
    result = ingest_day(cfg, DAY)
    assert [s["file"] for s in result.sources] == ["trace_2026-11-09_part1.csv", "trace_2026-11-09_part2.csv.gz"]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined, result.duplicates_removed) == (4, 2, 1, 1)
    assert {(r["source_file"], r["source_line"]) for r in lake_rows(cfg)} == {
        ("trace_2026-11-09_part1.csv", 2), ("trace_2026-11-09_part1.csv", 3)}  # the repeat in part2 goes
    assert all(len(s["sha256"]) == 64 for s in result.sources)


def test_two_loads_of_one_day_at_once_leave_one_whole_day(cfg, export):
    """Two loads of one day at once: the catalog lets one commit at a time; a load whose day was
    replaced under it fails cleanly (ConcurrentWriteError) rather than mixing; nothing half is seen."""
    import multiprocessing

    path = export([row(message_id=f"<{i}@x>") for i in range(2000)])
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_ingest_in_child, [(str(cfg.home), str(path))] * 2)
    assert 2000 in results and set(results) <= {2000, "ConcurrentWriteError"}
    assert len(lake_rows(cfg)) == 2000 and len(data_files(cfg)) == 1
    assert staging_left(cfg) == []


def _ingest_in_child(home: str, path: str) -> int | str:
    import os

    from etl.config import settings
    from etl.errors import ConcurrentWriteError

    os.environ["MAILFLOW_HOME"] = home
    try:
        return ingest_day(settings(), DAY, [Path(path)]).rows_loaded
    except ConcurrentWriteError as exc:
        return type(exc).__name__

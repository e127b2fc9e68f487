"""Exports as Exchange tooling writes them: PowerShell Export-Csv, historical-search reports,
every encoding they come in; loaded through the same ingest and counted by hand."""

from __future__ import annotations

import codecs
import gzip
import json
from datetime import UTC, date, datetime

import pytest

from etl.contract import COLUMN_ALIASES
from etl.load.ingest import ingest_day
from etl.load.warehouse import rebuild_day
from etl.sources.files import detect_encoding
from etl.storage import QUARANTINE, TRACE, Storage
from tests.conftest import connector_tls
from tests.conftest import lake_rows as shared_lake_rows

DAY = date(2026, 11, 21)

# Get-MessageTrace | Export-Csv (Windows PowerShell): a #TYPE line, every value quoted,
# en-US times, SChannel protocol names, columns we do not read.
POWERSHELL = (
    '#TYPE Deserialized.Microsoft.Exchange.Management.FfoReporting.MessageTrace\r\n'
    '"PSComputerName","Organization","MessageId","Received","SenderAddress","RecipientAddress","Subject",'
    '"Status","ToIP","FromIP","Size","MessageTraceId","Direction","ConnectorName","TlsVersion"\r\n'
    '"outlook.office365.com","contoso.example","<a1@contoso.example>","11/21/2026 8:15:02 AM",'
    '"anna@contoso.example","bob@fabrikam.example","Q4 numbers","Delivered","10.0.0.5","203.0.113.7",'
    '"1000","7c1e","Inbound","Partner-Contoso","SP_PROT_TLS1_2_SERVER"\r\n'
    '"outlook.office365.com","contoso.example","<a2@contoso.example>","11/21/2026 12:05:11 AM",'
    '"zoë@contoso.example","bob@fabrikam.example","Re: ""plan"", v2\r\nsecond line","Delivered","10.0.0.5",'
    '"203.0.113.8","2000","7c1f","Incoming","Partner-Contoso","Tls10"\r\n'
    '"outlook.office365.com","contoso.example","<b1@fabrikam.example>","11/21/2026 12:30:00 PM",'
    '"bob@fabrikam.example","carol@tailspin.example","Hello","Delivered","198.51.100.9","10.0.0.6",'
    '"3000","7c20","Outbound","Outbound-Relay","SP_PROT_TLS1_3_CLIENT"\r\n'
    '"outlook.office365.com","contoso.example","<b2@fabrikam.example>","11/21/2026 11:59:59 PM",'
    '"bob@fabrikam.example","dave@tailspin.example","Hello","Failed","198.51.100.9","10.0.0.6",'
    '"4000","7c21","Originating","Outbound-Relay","TLS 1.0"\r\n'
    '"outlook.office365.com","contoso.example","<c1@fabrikam.example>","11/21/2026 1:00:00 PM",'
    '"bob@fabrikam.example","erin@fabrikam.example","Lunch","Delivered","","",'
    '"500","7c22","IntraOrg","",""\r\n'
    '"outlook.office365.com","contoso.example","<c2@fabrikam.example>","11/22/2026 12:00:00 AM",'
    '"bob@fabrikam.example","erin@fabrikam.example","Tomorrow","Delivered","","",'
    '"500","7c23","IntraOrg","",""\r\n'
)

# day x direction x connector x TLS bucket -> (messages, bytes), counted by hand from the rows above
POWERSHELL_AGGREGATES = [
    ("inbound", "Partner-Contoso", "TLS1.0", 1, 2000),
    ("inbound", "Partner-Contoso", "TLS1.2", 1, 1000),
    ("internal", None, "unknown", 1, 500),
    ("outbound", "Outbound-Relay", "TLS1.0", 1, 4000),
    ("outbound", "Outbound-Relay", "TLS1.3", 1, 3000),
]


def encode(text: str, encoding: str) -> bytes:
    """`encoding` as a file would have it: a codec name plus '+bom' or not."""
    codec, _, bom = encoding.partition("+")
    marks = {"utf-8": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
    return (marks[codec] if bom else b"") + text.encode(codec)


def load(cfg, tmp_path, data: bytes, name="trace_2026-11-21.csv"):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    result = ingest_day(cfg, DAY, [path])
    rebuild_day(cfg, DAY)
    return result


def lake_rows(cfg, dataset=TRACE):
    return shared_lake_rows(cfg, dataset, DAY, order=("source_line",), drop=("date", "load_id", "source_file"))


ENCODINGS = ["utf-8", "utf-8+bom", "utf-16-le+bom", "utf-16-be+bom", "utf-16-le", "utf-16-be"]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_powershell_export_loads_alike_in_every_encoding(cfg, tmp_path, encoding, gz):
    name = "trace_2026-11-21.csv" + (".gz" if gz else "")
    result = load(cfg, tmp_path, encode(POWERSHELL, encoding), name)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (6, 5, 1)
    assert result.quarantine_reasons == {"outside_day": 1}
    assert connector_tls(cfg, DAY) == POWERSHELL_AGGREGATES
    rows = lake_rows(cfg)
    # the #TYPE line is line 1 and the header line 2; a quoted newline pushes the next records down
    assert [r["source_line"] for r in rows] == [3, 4, 6, 7, 8]
    assert [r["received_at"] for r in rows][:2] == [datetime(2026, 11, 21, 8, 15, 2, tzinfo=UTC),
                                                     datetime(2026, 11, 21, 0, 5, 11, tzinfo=UTC)]
    assert rows[1]["sender_address"] == "zoë@contoso.example"
    assert (rows[0]["from_ip"], rows[0]["message_trace_id"], rows[0]["size_bytes"]) == ("203.0.113.7", "7c1e", 1000)
    assert rows[0]["tls_version_raw"] == "SP_PROT_TLS1_2_SERVER"
    manifest = Storage(cfg).read_load_manifest(DAY)
    source = manifest["sources"][0]
    assert source["encoding"] == encoding.partition("+")[0] and source["format"] == "csv"
    assert source["columns"]["Received"] == "Received"
    quarantined = lake_rows(cfg, QUARANTINE)
    assert [(q["source_line"], q["reason"]) for q in quarantined] == [(9, "outside_day")]
    assert "Tomorrow" not in quarantined[0]["raw"]  # subjects are never stored


def test_lf_line_endings_load_like_crlf(cfg, tmp_path):
    load(cfg, tmp_path, POWERSHELL.replace("\r\n", "\n").encode())
    assert connector_tls(cfg, DAY) == POWERSHELL_AGGREGATES
    assert [r["source_line"] for r in lake_rows(cfg)] == [3, 4, 6, 7, 8]


# A historical-search "details" report: snake_case headers, ISO times with 7 decimals, both
# client_ip and original_client_ip (the first alias in the contract's order wins), UTF-16 LE
# without a byte-order mark, gzipped.
HISTORICAL = (
    "date_time_utc,client_ip,client_hostname,server_ip,connector_id,event_id,message_id,network_message_id,"
    "recipient_address,total_bytes,message_subject,sender_address,directionality,original_client_ip,tls_version\r\n"
    "2026-11-21T09:00:00.1234567Z,10.1.1.1,edge01,40.92.0.1,Partner-Contoso,RECEIVE,<h1@x>,n1,"
    "ops@contoso.example,2048,Wire transfer,billing@fabrikam.example,Incoming,198.51.100.77,TLS1.2\r\n"
    "2026-11-21T10:00:00Z,10.1.1.1,edge01,40.92.0.1,,SEND,<h2@x>,n2,"
    "partner@tailspin.example,512,Invoice,ops@contoso.example,Originating,10.1.1.9,\r\n"
    "2026-11-21T11:00:00Z,10.1.1.1,edge01,40.92.0.1,Legacy-Northwind,RECEIVE,<h3@x>,n3,"
    "ops@contoso.example,100,Hi,old@northwind.example,1,192.0.2.200,None\r\n"
    "2026-11-21T12:00:00Z,10.1.1.1,edge01,40.92.0.1,Legacy-Northwind,RECEIVE,<h4@x>,n4,"
    "ops@contoso.example,100,Hi,old@northwind.example,Sideways,192.0.2.200,None\r\n"
)


def test_historical_search_report_in_utf16_without_bom(cfg, tmp_path):
    data = HISTORICAL.encode("utf-16-le")
    assert detect_encoding(data) == ("utf-16-le", 0)
    result = load(cfg, tmp_path, data, "trace_2026-11-21.csv.gz")
    assert (result.rows_read, result.rows_loaded, result.quarantine_reasons) == (4, 3, {"unknown_direction": 1})
    assert connector_tls(cfg, DAY) == [
        ("inbound", "Legacy-Northwind", "none", 1, 100),
        ("inbound", "Partner-Contoso", "TLS1.2", 1, 2048),
        ("outbound", None, "unknown", 1, 512),
    ]
    first = lake_rows(cfg)[0]
    assert first["from_ip"] == "198.51.100.77"  # original_client_ip, preferred to client_ip
    assert (first["to_ip"], first["message_trace_id"]) == ("40.92.0.1", "n1")
    assert first["received_at"] == datetime(2026, 11, 21, 9, 0, 0, 123456, tzinfo=UTC)
    manifest = Storage(cfg).read_load_manifest(DAY)
    assert manifest["sources"][0]["columns"] == {
        "Received": "date_time_utc", "SenderAddress": "sender_address", "RecipientAddress": "recipient_address",
        "Direction": "directionality", "ConnectorName": "connector_id", "TlsVersion": "tls_version",
        "FromIP": "original_client_ip", "ToIP": "server_ip", "Size": "total_bytes", "MessageId": "message_id",
        "MessageTraceId": "network_message_id", "Subject": "message_subject"}
    assert manifest["sources"][0]["encoding"] == "utf-16-le"


@pytest.mark.parametrize("header", [
    "Date,Sender Address,Recipient_Address,DIRECTION,Connector,TLS",
    "origin_timestamp,sender_address,recipient_address,Directionality,ConnectorName,TlsVersion",
    "origin_timestamp_utc,SenderAddress,RecipientAddress,direction,connector_id,tls_version",
])
def test_header_aliases_ignore_case_spaces_and_underscores(cfg, tmp_path, header):
    body = "2026-11-21 07:00:00,a@fabrikam.example,b@contoso.example,Inbound,Partner-Contoso,TLSv1.3\n"
    result = load(cfg, tmp_path, (header + "\n" + body).encode())
    assert result.rows_loaded == 1
    assert connector_tls(cfg, DAY) == [("inbound", "Partner-Contoso", "TLS1.3", 1, 0)]


def test_a_bad_utf16_code_unit_quarantines_its_record_only(cfg, tmp_path):
    lines = POWERSHELL.split("\r\n")
    data = "\r\n".join(lines[:3]).encode("utf-16-le") + "\r\n".encode("utf-16-le")
    data += lines[5].replace("Hello", "Hel\ud800lo").encode("utf-16-le", "surrogatepass") + b"\r\x00\n\x00"
    result = load(cfg, tmp_path, data)
    assert (result.rows_loaded, result.quarantine_reasons) == (1, {"invalid_utf8": 1})


# each contract column under each of its other names, alone: the value lands in the lake column
LAKE_COLUMN = {"Received": "received_at", "SenderAddress": "sender_address", "RecipientAddress": "recipient_address",
               "Direction": "direction", "ConnectorName": "connector_name", "TlsVersion": "tls_version_raw",
               "TlsCipher": "tls_cipher", "Status": "status", "FromIP": "from_ip", "ToIP": "to_ip",
               "Size": "size_bytes", "MessageId": "message_id", "MessageTraceId": "message_trace_id"}
VALUES = {"Received": "2026-11-21T07:00:00Z", "SenderAddress": "a@fabrikam.example",
          "RecipientAddress": "b@contoso.example", "Direction": "Inbound", "ConnectorName": "Partner-Contoso",
          "TlsVersion": "TLSv1.3", "TlsCipher": "TLS_AES_256_GCM_SHA384", "Status": "Delivered",
          "FromIP": "203.0.113.1", "ToIP": "198.51.100.1", "Size": "42", "MessageId": "<m@x>",
          "MessageTraceId": "t-1", "Subject": "secret plans"}
EXPECTED_VALUE = {**VALUES, "Received": datetime(2026, 11, 21, 7, tzinfo=UTC), "Direction": "inbound", "Size": 42}


@pytest.mark.parametrize("column, alias", [
    (column, alias) for column, aliases in COLUMN_ALIASES.items() for alias in aliases[1:]])
def test_each_exchange_name_of_a_column_is_read_as_that_column(cfg, tmp_path, column, alias):
    header = [alias if name == column else name for name in VALUES]
    body = ",".join(VALUES.values())
    result = load(cfg, tmp_path, (",".join(header) + "\r\n" + body + "\r\n").encode())
    assert result.rows_loaded == 1
    (loaded,) = lake_rows(cfg)
    if column == "Subject":
        assert "secret plans" not in json.dumps(loaded, default=str)  # read for duplicates, never stored
    else:
        assert loaded[LAKE_COLUMN[column]] == EXPECTED_VALUE[column]
    assert Storage(cfg).read_load_manifest(DAY)["sources"][0]["columns"][column] == alias


def test_utf16_without_bom_is_told_by_its_header_even_when_the_data_is_not_ascii(cfg, tmp_path):
    header = "Received,SenderAddress,RecipientAddress,Direction,ConnectorName,TlsVersion,Subject\r\n"
    body = "".join(f"2026-11-21T0{i}:00:00Z,销售@例子.example,李@contoso.example,Inbound,合作伙伴,TLS1.2,"
                   f"{'季度报告与预算审查' * 20}\r\n" for i in range(5))
    data = (header + body).encode("utf-16-le")
    assert detect_encoding(data) == ("utf-16-le", 0)
    assert detect_encoding((header + body).encode("utf-16-be")) == ("utf-16-be", 0)
    assert detect_encoding((header + body).encode("utf-8")) == ("utf-8", 0)
    result = load(cfg, tmp_path, data)
    assert result.rows_loaded == 5
    assert connector_tls(cfg, DAY) == [("inbound", "合作伙伴", "TLS1.2", 5, 0)]

"""Postfix mail logs through the same ingest: sessions, queue ids, TLS, direction, connectors.

The logs in tests/sources/fixtures/postfix/ were written by hand after Postfix's documented log
formats; the expected aggregates below were counted by hand from them (see each comment).
"""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from etl.contract import ALL_COLUMNS, UNSTORED_COLUMNS
from etl.errors import ConfigError, ExportError
from etl.load.ingest import ingest_day
from etl.load.warehouse import rebuild_day
from etl.sources.connectors import load_rules
from etl.sources.detect import SourceOptions, detect_format
from etl.sources.postfix_log import RECORD_COLUMNS, SYSLOG_LINE, PostfixTracker, line_time
from etl.storage import QUARANTINE, TRACE, Storage
from tests.conftest import connector_tls
from tests.conftest import lake_rows as shared_lake_rows

DAY = date(2026, 11, 20)
FIXTURES = Path(__file__).parent / "fixtures" / "postfix"

# direction, connector, TLS bucket, messages, bytes
EXPECTED = [
    # 1A2B3C4D01 received 23:59:51 the day before (mail.log.1.gz), delivered 00:00:01: 1500
    ("inbound", "Partner-Contoso", "TLS1.2", 1, 1500),
    # 2B3C4D5E02 to bob and dan (an alias), over TLS 1.3 from smtpd[1001]'s first session: 2 x 2000
    ("inbound", "Partner-Contoso", "TLS1.3", 2, 4000),
    # 0D1E2F3A01 from unknown[2001:db8:c0::25], matched on the IPv6 block: 1000
    ("inbound", "Partner-Contoso-v6", "TLS1.2", 1, 1000),
    # 1A2B3C4D02 (received in mail.log.1.gz, delivered in mail.log) 800; 2B3C4D5E01 smtpd[1002] without
    # TLS 3000; 2B3C4D5E03 smtpd[1001]'s second session, no TLS this time 500
    ("inbound", None, "none", 3, 4300),
    # 3C4D5E6F01 to carol by lmtp: submitted by a SASL-authenticated client: 4000
    ("internal", None, "TLS1.3", 1, 4000),
    # 9C0D1E2F01, the bounce of 8B9C0D1E01 (2500), and 2F3A4B5C01 from pickup by pipe (400)
    ("internal", None, "unknown", 2, 2900),
    # 5E6F7A8B01 by postfix-out/smtp[2002], TLSv1 to 192.0.2.25: 900
    ("outbound", "Legacy-Northwind", "TLS1.0", 1, 900),
    # 6F7A8B9C01 deferred at 11:00:30 (not counted), sent at 11:10:02 over TLS 1.3: 1200
    ("outbound", "Smarthost-Out", "TLS1.3", 1, 1200),
    # 3C4D5E6F01 to fred and gina on one TLS 1.2 connection (2 x 4000), 4D5E6F7A01 reusing it with
    # conn_use=2 (700), 8B9C0D1E01 bounced by the same relay after a new TLS 1.2 handshake (650)
    ("outbound", None, "TLS1.2", 4, 9350),
    # 7A8B9C0D01: smtp[2004] to another relay than its TLS connection's, so in clear: 300
    ("outbound", None, "none", 1, 300),
]


@pytest.fixture
def logs(tmp_path) -> list[Path]:
    """mail.log and its rotated predecessor, gzipped; given newest first on purpose."""
    rotated = tmp_path / "mail.log.1.gz"
    rotated.write_bytes(gzip.compress((FIXTURES / "mail.log.1").read_bytes(), mtime=0))
    current = tmp_path / "mail.log"
    shutil.copy(FIXTURES / "mail.log", current)
    return [current, rotated]


def options(**overrides) -> SourceOptions:
    return SourceOptions(**{"format": "postfix", "connectors": FIXTURES / "connectors.toml", **overrides})


def lake_rows(cfg, dataset=TRACE):
    return shared_lake_rows(cfg, dataset, DAY)


def test_postfix_logs_load_into_the_expected_aggregates(cfg, logs):
    result = ingest_day(cfg, DAY, logs, options())
    rebuild_day(cfg, DAY)
    assert connector_tls(cfg, DAY) == EXPECTED
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (19, 17, 2)
    assert result.quarantine_reasons == {"unknown_origin": 1, "unparseable_line": 1}
    # the rotated file is read first whatever the order given, so the message it began is followed
    assert [s["file"] for s in result.sources] == ["mail.log.1.gz", "mail.log"]
    rotated, current = result.sources
    assert rotated["lines"] == {"lines": 13, "lines_other_days": 7}
    assert current["lines"] == {"deferred": 1, "lines": 74, "lines_other_days": 1, "lines_other_programs": 3}
    assert (rotated["records"], current["records"]) == (1, 18)


def test_a_record_carries_what_the_queue_id_lines_said(cfg, logs):
    ingest_day(cfg, DAY, logs, options())
    by_recipient = {(r["message_trace_id"], r["recipient_address"]): r for r in lake_rows(cfg)}
    first = by_recipient[("1A2B3C4D01", "bob@example.org")]
    assert first["received_at"] == datetime(2026, 11, 20, 0, 0, 1, 500000, tzinfo=UTC)  # the delivery's time
    assert (first["sender_address"], first["size_bytes"], first["message_id"]) == (
        "alice@contoso.example", 1500, "<n1@contoso.example>")
    assert (first["from_ip"], first["tls_version_raw"], first["tls_cipher"]) == (
        "203.0.113.10", "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")
    assert (first["source_file"], first["source_line"], first["status"]) == ("mail.log.1.gz", 8, "Delivered")
    bounced = by_recipient[("8B9C0D1E01", "nobody@fabrikam.example")]
    assert (bounced["status"], bounced["direction"], bounced["to_ip"]) == ("Failed", "outbound", "198.51.100.7")
    notification = by_recipient[("9C0D1E2F01", "bob@example.org")]
    assert (notification["sender_address"], notification["direction"]) == (None, "internal")  # from=<>
    quarantined = lake_rows(cfg, QUARANTINE)
    assert [(q["source_line"], q["reason"]) for q in quarantined] == [(68, "unknown_origin"),
                                                                        (73, "unparseable_line")]
    assert quarantined[0]["raw"].startswith("Nov 20 14:00:00 mx1 postfix/local[1601]: 1E2F3A4B01: to=<bob@")


def test_without_tls_logging_a_missing_tls_line_means_unknown(cfg, logs):
    ingest_day(cfg, DAY, logs, options(tls_logging=False))
    rebuild_day(cfg, DAY)
    got = connector_tls(cfg, DAY)
    assert ("inbound", None, "unknown", 3, 4300) in got and ("outbound", None, "unknown", 1, 300) in got
    assert not [row for row in got if row[2] == "none"]


def test_format_is_detected_and_the_config_default_connectors_file_is_used(cfg, logs, monkeypatch):
    monkeypatch.setenv("MAILFLOW_CONNECTORS", str(FIXTURES / "connectors.toml"))
    assert detect_format(logs[0]) == detect_format(logs[1]) == "postfix"
    from etl.config import settings

    ingest_day(settings(), DAY, logs)  # --source auto, connectors from the configuration
    rebuild_day(cfg, DAY)
    assert connector_tls(cfg, DAY) == EXPECTED


def test_a_file_that_is_neither_format_is_one_clear_line(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("dear operator,\nplease load this\n")
    with pytest.raises(ExportError, match=r"^notes.txt: not a recognised export: expected a CSV trace export.*Postfix"):
        detect_format(path)
    syslog = tmp_path / "syslog"
    syslog.write_text("Nov 20 06:25:01 mx1 CRON[4000]: (root) CMD (true)\n")
    with pytest.raises(ExportError, match="no Postfix line in its first 64 KiB; .* load it with --source postfix"):
        detect_format(syslog)


def _tracker(**kwargs) -> PostfixTracker:
    return PostfixTracker(kwargs.pop("day", DAY), load_rules(FIXTURES / "connectors.toml"), **kwargs)


def test_classic_timestamps_take_the_year_of_the_day_and_the_configured_zone():
    new_year = date(2027, 1, 1)
    match = SYSLOG_LINE.fullmatch("Dec 31 23:59:59 mx1 postfix/qmgr[900]: 1A2B3C4D01: removed")
    assert line_time(match, new_year) == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    match = SYSLOG_LINE.fullmatch("Nov  2 00:30:00 mx1 postfix/qmgr[900]: 1A2B3C4D01: removed")  # space-padded
    berlin = line_time(match, date(2026, 11, 2), ZoneInfo("Europe/Berlin"))
    assert berlin.astimezone(UTC) == datetime(2026, 11, 1, 23, 30, tzinfo=UTC)


def test_deliveries_are_counted_on_the_utc_day_of_their_line_in_the_log_time_zone():
    lines = [
        "Nov 20 00:30:00 mx1 postfix/pickup[1]: AAAAAA0001: uid=0 from=<root>",
        "Nov 20 00:30:01 mx1 postfix/local[2]: AAAAAA0001: to=<a@example.org>, relay=local, delay=1, "
        "delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
    ]
    in_utc, in_berlin = _tracker(), _tracker(timezone=ZoneInfo("Europe/Berlin"))
    assert [in_utc.feed(n, line, "f") for n, line in enumerate(lines, 1)][1].fields["Direction"] == "Internal"
    assert [in_berlin.feed(n, line, "f") for n, line in enumerate(lines, 1)][1] is None  # Nov 19, 23:30 UTC
    assert in_berlin.stats["lines_other_days"] == 2


def test_a_fresh_connection_without_a_tls_line_is_in_clear_even_to_the_same_relay():
    tracker = _tracker()
    lines = [
        "Nov 20 09:00:00 mx1 postfix/smtp[9]: Untrusted TLS connection established to mx.a.example[198.51.100.1]:25:"
        " TLSv1.2 with cipher X",
        "Nov 20 09:00:01 mx1 postfix/smtp[9]: BBBBBB0001: to=<a@a.example>, relay=mx.a.example[198.51.100.1]:25, "
        "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
        # the next message, no conn_use: a new connection, and no TLS line came before it
        "Nov 20 09:00:05 mx1 postfix/smtp[9]: BBBBBB0002: to=<b@a.example>, relay=mx.a.example[198.51.100.1]:25, "
        "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
    ]
    records = [tracker.feed(n, line, "f") for n, line in enumerate(lines, 1)]
    assert [r.fields["TlsVersion"] for r in records[1:]] == ["TLSv1.2", "none"]


@pytest.mark.parametrize("text, message", [
    ("[[connector]]\nname = 'A'\ndirection = 'sideways'\nips = ['10.0.0.0/8']\n",
     r"connector 1 \(A\): 'direction' must be"),
    ("[[connector]]\nname = 'A'\ndirection = 'inbound'\nips = ['10.0.0.0/33']\n",
     r"connector 1 \(A\): 'ips' entry '10.0.0.0/33' is not an address or CIDR block"),
    ("[[connector]]\nname = 'A'\ndirection = 'inbound'\nhosts = ['*.a']\nport = 25\n", "unknown key 'port'"),
    ("[[connector]]\nname = 'A'\ndirection = 'inbound'\n", "give 'hosts' or 'ips'"),
    ("[[connector]\nname = 'A'\n", "not valid TOML"),
])
def test_a_mistake_in_the_connectors_file_is_one_line_naming_the_rule(tmp_path, text, message):
    path = tmp_path / "connectors.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_rules(path)
    assert "\n" not in str(info.value) and "connectors.toml" in str(info.value)


def test_cli_ingest_with_source_postfix(cfg, logs, tmp_path):
    from tests.test_cli import etl

    done = etl("ingest", "--date", DAY.isoformat(), "--no-gate", "--source", "postfix", "--connectors",
               FIXTURES / "connectors.toml", *logs, home=cfg.home)
    assert done.returncode == 0, done.stderr
    assert "loaded 17, quarantined 2" in done.stdout
    assert "mail.log: 74 lines; 1 of other days, 3 of other programs, 1 deferred" in done.stdout
    manifest = Storage(cfg).read_load_manifest(DAY)
    assert manifest["sources"][1]["format"] == "postfix"


def test_the_benchmark_log_loads_whole(cfg, tmp_path):
    from etl.devtools.postfix_sample import write_log

    log = tmp_path / "mail.log"
    lines = write_log(log, DAY, 300)
    text = log.read_text()
    inbound, relayed = text.count("relay=local"), text.count("status=sent (250")
    result = ingest_day(cfg, DAY, [log], options())
    assert (result.rows_read, result.rows_quarantined) == (inbound + relayed, 0)
    assert result.sources[0]["lines"]["lines"] == lines
    assert result.sources[0]["lines"]["deferred"] == text.count("status=deferred")


def test_a_csv_export_given_as_a_postfix_log_is_one_clear_line(cfg, tmp_path):
    path = tmp_path / "trace_2026-11-20.csv"
    path.write_text("Received,SenderAddress,RecipientAddress,Direction\n2026-11-20T01:00:00Z,a@x,b@y,Inbound\n")
    with pytest.raises(ExportError, match="trace_2026-11-20.csv: no line is a syslog line: not a Postfix mail log"):
        ingest_day(cfg, DAY, [path], options())
    assert not Storage(cfg).is_loaded(DAY) and lake_rows(cfg) == []


def test_words_before_a_colon_are_not_queue_ids():
    tracker = _tracker()
    lines = [
        "Nov 20 09:00:00 mx1 postfix/smtpd[7]: warning: hostname x.example does not resolve to address 192.0.2.1",
        "Nov 20 09:00:00 mx1 postfix/smtpd[7]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 relay denied",
        "Nov 20 09:00:01 mx1 postfix/qmgr[900]: 4LmXyZ1bcdz2Kq: from=<a@example.org>, size=10, nrcpt=1 (queue active)",
    ]
    assert [tracker.feed(n, line, "f") for n, line in enumerate(lines, 1)] == [None, None, None]
    assert list(tracker._messages) == [("mx1", "4LmXyZ1bcdz2Kq")]  # a long queue id


def test_a_delivery_gives_every_contract_column_but_subject():
    assert sorted(RECORD_COLUMNS) == sorted(name for name in ALL_COLUMNS if name not in UNSTORED_COLUMNS)

"""Shared fixtures: a throw-away MAILFLOW_HOME, small exports, report helpers, a real SMTP server."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import socket
import ssl
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from etl.config import settings
from etl.storage import Storage

HEADER = ["Received", "SenderAddress", "RecipientAddress", "Subject", "Status", "ConnectorName", "Direction",
          "TlsVersion", "TlsCipher", "FromIP", "ToIP", "Size", "MessageId", "MessageTraceId"]


def row(received="2026-11-09T10:00:00Z", sender="a@fabrikam.com", recipient="b@contoso.com", subject="hi",
        status="Delivered", connector="", direction="Inbound", tls="TLS1.2", cipher="", from_ip="203.0.113.1",
        to_ip="198.51.100.1", size="1000", message_id="<1@x>", trace_id="t1") -> list[str]:
    return [received, sender, recipient, subject, status, connector, direction, tls, cipher, from_ip, to_ip, size,
            message_id, trace_id]


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER, bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MAILFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAILFLOW_LANDING", raising=False)
    monkeypatch.delenv("MAILFLOW_MAX_QUARANTINED_PCT", raising=False)
    return tmp_path / "home"


@pytest.fixture
def cfg(home):
    return settings()


@pytest.fixture
def export(tmp_path):
    """write an export: export(rows, name=..., gz=False, raw=None) -> path"""

    def write(rows=(), name="trace_2026-11-09.csv", header=HEADER, gz=False, raw: bytes | None = None, bom=False):
        data = raw if raw is not None else csv_bytes(list(rows), header, bom)
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        return path

    return write


def connector_tls(cfg, day) -> list[tuple]:
    """The warehouse's daily_connector_tls rows of `day`: direction, connector, TLS bucket, messages, bytes."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("daily_connector_tls", Storage(cfg).lake.dataset("daily_connector_tls", day, day))
        return con.execute("select direction, connector, tls_version, messages, bytes from daily_connector_tls "
                           "order by all").fetchall()
    finally:
        con.close()


def lake_rows(cfg, table, day, *, order=("source_file", "source_line"), drop=("date", "load_id")) -> list[dict]:
    """A day's rows of a lake table, ordered, without the columns every row of the day shares."""
    rows = Storage(cfg).lake.read(table, day, day).drop_columns(list(drop)).to_pylist()
    return sorted(rows, key=lambda r: tuple(r[k] for k in order))


def storage_at(home) -> Storage:
    """The storage a process with MAILFLOW_HOME=home uses (for tests that ran one: a DAG, a scheduler)."""
    import os

    from etl.config import settings

    saved = os.environ.get("MAILFLOW_HOME")
    os.environ["MAILFLOW_HOME"] = str(home)
    try:
        return Storage(settings())
    finally:
        if saved is None:
            del os.environ["MAILFLOW_HOME"]
        else:
            os.environ["MAILFLOW_HOME"] = saved


def free_port() -> int:
    """A loopback port nothing listens on, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compute(cfg, start, end, *, connector=None, direction=None, connectors=(), subscription=None, generated_at,
            thresholds=None):
    """The report for a window, straight from the warehouse (views -> model), nothing written."""
    from etl.report.model import Thresholds, build_report
    from etl.report.queries import query_views
    from etl.report.request import ReportRequest

    request = ReportRequest(start, end, connector, direction, tuple(connectors), subscription)
    request.check()
    views = query_views(Storage(cfg), request)["views"]
    return build_report(start=start, end=end, connector=connector, direction=direction, connectors=tuple(connectors),
                        subscription=subscription, thresholds=thresholds or Thresholds.from_settings(cfg),
                        generated_at=generated_at, **views)


def commit_aggregates(cfg, connector_tls, remote_domains=(), loads=()) -> None:
    """Hand-made warehouse rows committed to the lake's aggregate tables day by day, as rebuilds do:
    connector_tls (date, direction, connector, bucket, messages), remote_domains (... remote domain,
    messages) and loads (date, rows read, rows quarantined), all from the load 'L'."""
    import pyarrow.compute as pc

    from etl import sql
    from etl.duck import connect, run
    from etl.load.warehouse import TABLES

    con = connect()
    for table in TABLES:
        run(con, sql.load(f"load/schema/{table}"))
    for r in connector_tls:
        run(con, "insert into daily_connector_tls values ($1, $2, $3, $4, $5, 0, 'L')", list(r))
    for r in remote_domains:
        run(con, "insert into daily_remote_domain_tls values ($1, $2, $3, $4, $5, $6, 0, 'L')", list(r))
    for day, read, quarantined in loads:
        run(con, "insert into daily_load values ($1, $2, $2, $3, 0, 0, 0, '{}', '[]', now(), 'L')",
            [day, read, quarantined])
    lake = Storage(cfg).lake
    for table in TABLES:
        rows = con.sql(f"select * from {table}").to_arrow_table()
        for day in sorted(set(rows["date"].to_pylist())):
            lake.replace_day(table, day, rows.filter(pc.equal(rows["date"], day)))
    con.close()


def write_outputs(report, out: Path, formats=("html", "email", "txt", "json")) -> list[Path]:
    from etl.report.render import OUTPUT_NAMES, render

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        (out / OUTPUT_NAMES[fmt]).write_bytes(render(report, fmt))
        paths.append(out / OUTPUT_NAMES[fmt])
    return paths


def archive_report(cfg, report, smtp, *, reason, now):
    """Archive a report document as the pipeline's publish step does."""
    from etl.delivery.publish import archive_report as archive
    from etl.pipeline import request_of
    from etl.report.render import render_all

    return archive(Storage(cfg), request_of(report), report, render_all(report), smtp, snapshots={}, reason=reason,
                   now=now)


def report_schema_validator():
    import json

    import jsonschema

    from etl.report.document import SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="session", autouse=True)
def every_report_matches_the_schema(tmp_path_factory):
    """After the whole run: every report.json that any test made (in this process, the CLI or an
    Airflow task, in report folders and archive revisions alike) validates against the schema."""
    yield
    import json

    validator = report_schema_validator()
    reports = [path for path in sorted(tmp_path_factory.getbasetemp().rglob("report.json")) if not _tampered(path)]
    problems = [f"{path}: {error.message}" for path in reports
                for error in validator.iter_errors(json.loads(path.read_text(encoding="utf-8")))]
    assert not problems, "\n".join(problems[:20])


def _tampered(path: Path) -> bool:
    """An archived report.json that a test changed on purpose (its manifest says other bytes)."""
    import hashlib
    import json

    manifest = path.with_name("manifest.json")
    if not manifest.exists():
        return False
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8"))["files"]["report.json"]["sha256"]
    except (ValueError, KeyError):
        return True  # the manifest itself was edited: archive verify's case, not the schema's
    return hashlib.sha256(path.read_bytes()).hexdigest() != listed


# -- a real SMTP server (aiosmtpd) with STARTTLS, for the mail and the operator-alert tests --

@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
            .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


class Inbox:
    """An aiosmtpd handler that keeps what it receives and how it was received."""

    def __init__(self, refuse=()):
        self.messages = []
        self.refuse = set(refuse)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"data": envelope.content, "rcpt": list(envelope.rcpt_tos),
                              "tls": session.ssl is not None})
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(certificate):
    started = []

    def start(*, starttls=True, refuse=()):
        cert, key = certificate
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        inbox = Inbox(refuse)
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), server_hostname="localhost",
                                tls_context=context if starttls else None, require_starttls=starttls)
        controller.start()
        started.append(controller)
        return inbox, controller.port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory):
    """A real S3-compatible store (SeaweedFS) on loopback for the whole session."""
    from etl.devtools.servers import seaweedfs

    process, store = seaweedfs.start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield store
    finally:
        seaweedfs.stop(process)

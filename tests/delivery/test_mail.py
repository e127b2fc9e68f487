"""Delivery against a real SMTP server (aiosmtpd on loopback) with STARTTLS and a test certificate."""

from __future__ import annotations

import datetime as dt
import email
from email import policy

import pytest

from etl.delivery.mail import SmtpSettings
from etl.delivery.witness import ChainHead, with_witness
from etl.errors import DeliveryError
from etl.pipeline import send_report
from etl.storage import Storage
from tests.conftest import archive_report, free_port
from tests.report.test_report_html import evil_report

NOW = dt.datetime(2026, 11, 23, 6, tzinfo=dt.UTC)


def settings_for(port, certificate, **extra) -> SmtpSettings:
    return SmtpSettings(host="localhost", port=port, sender="reports@contoso.example",
                        recipients=("ciso@contoso.example", "auditor@contoso.example"),
                        ca_file=str(certificate[0]), attempts=2, backoff=0.01, timeout=10, **extra)


def archived(cfg, smtp):
    return archive_report(cfg, evil_report(), smtp, reason=None, now=NOW)


def test_the_report_arrives_encrypted_with_its_parts(cfg, smtp_server, certificate):
    inbox, port = smtp_server()
    smtp = settings_for(port, certificate)
    revision = archived(cfg, smtp)
    receipt = send_report(cfg, revision.report_id, revision.number, smtp)

    (received,) = inbox.messages
    assert received["tls"] is True and receipt["tls"] in ("TLSv1.2", "TLSv1.3")
    assert received["rcpt"] == ["ciso@contoso.example", "auditor@contoso.example"]
    # the exact archived message, with the archive's chain head it witnesses
    sent = with_witness((revision.path / "message.eml").read_bytes(), ChainHead(**receipt["witness"]))
    assert received["data"].replace(b"\r\n", b"\n") == sent.replace(b"\r\n", b"\n")
    message = email.message_from_bytes(received["data"], policy=policy.default)
    assert message["Subject"] == ("Mail flow & TLS report 2026-11-16 to 2026-11-17: "
                                  "2 connectors need attention; incomplete: 1 day missing")
    assert message["From"] == "reports@contoso.example" and message["Message-ID"] == receipt["message_id"]
    assert message["Date"]
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(preferencelist=("related", "html", "plain"))
    alternative = next(part for part in message.iter_parts() if part.get_content_type() == "multipart/alternative")
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert "No TLS is over 25%" in alternative.get_body(preferencelist=("plain",)).get_content()
    assert body.get_content_type() == "text/html" and "<svg" not in body.get_content()
    attachments = [(a.get_filename(), a.get_content_type()) for a in message.iter_attachments()]
    assert attachments == [("insights.csv", "text/csv"), ("mail_flow_daily.csv", "text/csv"),
                           ("protected_in_transit.csv", "text/csv"), ("tls_usage.csv", "text/csv"),
                           ("trend.csv", "text/csv"), ("report.pdf", "application/pdf")]  # the PDF after the CSVs
    assert receipt["server_reply"].startswith("250")


def test_a_second_send_of_a_revision_sends_nothing(cfg, smtp_server, certificate):
    inbox, port = smtp_server()
    smtp = settings_for(port, certificate)
    revision = archived(cfg, smtp)
    first = send_report(cfg, revision.report_id, revision.number, smtp)
    again = send_report(cfg, revision.report_id, revision.number, smtp)
    assert len(inbox.messages) == 1
    assert again["already_sent"] is True and again["message_id"] == first["message_id"]


def test_a_server_without_starttls_is_refused(cfg, smtp_server, certificate):
    inbox, port = smtp_server(starttls=False)
    smtp = settings_for(port, certificate)
    revision = archived(cfg, smtp)
    with pytest.raises(DeliveryError, match=f"localhost:{port} does not offer STARTTLS; refusing"):
        send_report(cfg, revision.report_id, revision.number, smtp)
    assert inbox.messages == []
    assert not (revision.path / "receipt.json").exists()


def test_a_server_that_is_down_fails_naming_it_and_keeps_the_archive(cfg, certificate):
    port = free_port()
    smtp = settings_for(port, certificate)
    revision = archived(cfg, smtp)
    with pytest.raises(DeliveryError, match=f"SMTP server localhost:{port} unreachable"):
        send_report(cfg, revision.report_id, revision.number, smtp)
    from etl.delivery.archive import Archive

    assert Archive(Storage(cfg)).verify() == []


def test_a_refused_recipient_is_reported_and_the_others_get_the_mail(cfg, smtp_server, certificate):
    inbox, port = smtp_server(refuse={"auditor@contoso.example"})
    smtp = settings_for(port, certificate)
    revision = archived(cfg, smtp)
    receipt = send_report(cfg, revision.report_id, revision.number, smtp)
    assert [m["rcpt"] for m in inbox.messages] == [["ciso@contoso.example"]]
    assert receipt["recipients"] == ["ciso@contoso.example"]
    assert receipt["refused"] == {"auditor@contoso.example": "550 5.1.1 mailbox unavailable"}


def test_without_a_server_the_message_goes_to_the_outbox(cfg):
    smtp = SmtpSettings(host=None, recipients=("ciso@contoso.example",))
    revision = archived(cfg, smtp)
    receipt = send_report(cfg, revision.report_id, revision.number, smtp)
    assert receipt["delivered_to"] == "outbox"
    outbox_file = cfg.home / "outbox" / receipt["outbox_file"].rsplit("/", 1)[1]
    assert outbox_file.read_bytes() == with_witness((revision.path / "message.eml").read_bytes(),
                                                    ChainHead(**receipt["witness"]))


def test_a_resend_after_a_crash_keeps_the_first_message_id(cfg, smtp_server, certificate, monkeypatch):
    """The server accepted the mail, then the process died before the receipt was written: the rerun
    (a new revision saying the same) goes out again, as the same message for recipients' clients."""
    from etl.delivery.archive import Archive

    inbox, port = smtp_server()
    smtp = settings_for(port, certificate)
    first = archived(cfg, smtp)
    with monkeypatch.context() as crashed:
        def die(*args, **kwargs):
            raise SystemExit("killed")

        crashed.setattr(Archive, "record_receipt", die)
        with pytest.raises(SystemExit):
            send_report(cfg, first.report_id, first.number, smtp)
    rerun = archive_report(cfg, evil_report(), smtp, reason="rerun", now=NOW.replace(minute=5))
    receipt = send_report(cfg, rerun.report_id, rerun.number, smtp)
    ids = [email.message_from_bytes(m["data"], policy=policy.default)["Message-ID"] for m in inbox.messages]
    assert len(ids) == 2 and ids[0] == ids[1] == receipt["message_id"]
    changed = evil_report()
    changed["headline"] = "something else happened"
    assert archive_report(cfg, changed, smtp, reason="late data", now=NOW).number == 3
    assert Archive(Storage(cfg)).manifest(Archive(Storage(cfg)).revision(rerun.report_id))["message_id"] != ids[0]

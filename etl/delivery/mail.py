"""The compliance email: built with the standard library, sent over SMTP with STARTTLS.

A TLS compliance report must not itself travel in clear: STARTTLS (TLS 1.2 or newer) is required
unless `allow_plaintext` is set explicitly. Passwords are never logged or stored.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from etl.errors import DeliveryError

# CRLF line ends; headers left unfolded up to RFC 5322's 998 characters, so that a long subject
# reads the same in every client (bodies are quoted-printable or base64 and wrap on their own)
MESSAGE_POLICY = SMTP.clone(max_line_length=998)




@dataclass(frozen=True)
class SmtpSettings:
    host: str | None
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "mailflow-reports@localhost"
    recipients: tuple[str, ...] = ()
    allow_plaintext: bool = False
    ca_file: str | None = None  # trust this CA too (a private relay's certificate)
    timeout: float = 30.0
    attempts: int = 3  # tries when the server is down or answers with an error
    backoff: float = 5.0  # seconds before the second try; doubled each time

    @classmethod
    def from_connection(cls, host: str | None, port: int | None, login: str | None, password: str | None,
                        extra: dict) -> SmtpSettings:
        """From an Airflow connection's fields (the DAG reads `smtp_default`); recipients, sender,
        allow_plaintext and ca_file come from its extra."""
        fallback = cls.from_env()
        recipients = extra.get("recipients") or fallback.recipients
        if isinstance(recipients, str):
            recipients = [r.strip() for r in recipients.split(",") if r.strip()]
        return cls(host=host or None, port=int(port or 587), user=login or None, password=password or None,
                   sender=extra.get("from") or fallback.sender, recipients=tuple(recipients),
                   allow_plaintext=bool(extra.get("allow_plaintext", False)), ca_file=extra.get("ca_file"))

    @classmethod
    def from_env(cls) -> SmtpSettings:
        """MAILFLOW_SMTP_HOST, _PORT, _USER, _PASSWORD, _CA_FILE, _ALLOW_PLAINTEXT, MAILFLOW_MAIL_FROM,
        MAILFLOW_MAIL_TO (comma-separated)."""
        env = os.environ
        return cls(
            host=env.get("MAILFLOW_SMTP_HOST") or None,
            port=int(env.get("MAILFLOW_SMTP_PORT") or 587),
            user=env.get("MAILFLOW_SMTP_USER") or None,
            password=env.get("MAILFLOW_SMTP_PASSWORD") or None,
            sender=env.get("MAILFLOW_MAIL_FROM") or cls.sender,
            recipients=tuple(r.strip() for r in (env.get("MAILFLOW_MAIL_TO") or "").split(",") if r.strip()),
            allow_plaintext=(env.get("MAILFLOW_SMTP_ALLOW_PLAINTEXT") or "").lower() in ("1", "true", "yes"),
            ca_file=env.get("MAILFLOW_SMTP_CA_FILE") or None,
        )


def subject_for(report: dict, rid: str) -> str:
    """`... 2026-W47: <headline>`, `... 2026-W47 (partners): ...` for a subscription, or the dates."""
    if rid.startswith("adhoc/"):
        label = f"{report['window']['start']} to {report['window']['end']}"
    else:
        period, _, subscription = rid.partition("/")
        label = f"{period} ({subscription})" if subscription else period
    return f"{report['title']} {label}: {report['headline']}"


def new_message_id(sender: str) -> str:
    return make_msgid(idstring="mailflow", domain=sender.rpartition("@")[2] or "localhost")


def build_message(report: dict, rid: str, *, text: bytes, html: bytes, attachments: dict[str, bytes],
                  sender: str, recipients: tuple[str, ...], now: datetime,
                  message_id: str | None = None) -> EmailMessage:
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["Subject"] = subject_for(report, rid)
    message["From"] = sender
    message["To"] = ", ".join(recipients) if recipients else "undisclosed-recipients:;"
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = message_id or new_message_id(sender)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text.decode("utf-8"), subtype="plain", cte="quoted-printable")
    message.add_alternative(html.decode("utf-8"), subtype="html", cte="quoted-printable")
    for name, data in attachments.items():  # in the order given
        maintype, subtype = ("application", "pdf") if name.endswith(".pdf") else ("text", "csv")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def deliver(message_bytes: bytes, message_id: str, smtp: SmtpSettings) -> dict:
    """Send the exact bytes; the receipt says where they went. Retries with backoff, then fails."""
    if not smtp.recipients:
        raise DeliveryError("no recipients configured (MAILFLOW_MAIL_TO or the DAG's recipients)")
    last: Exception | None = None
    for attempt in range(1, smtp.attempts + 1):
        try:
            return _send_once(message_bytes, message_id, smtp)
        except DeliveryError as exc:
            if exc.__cause__ is None or attempt == smtp.attempts:  # a refusal not worth retrying, or the last try
                raise
            last = exc
        time.sleep(smtp.backoff * 2 ** (attempt - 1))
    raise DeliveryError(str(last))  # pragma: no cover - the loop returns or raises


def _send_once(message_bytes: bytes, message_id: str, smtp: SmtpSettings) -> dict:
    server = f"{smtp.host}:{smtp.port}"
    try:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    except OSError as exc:
        raise DeliveryError(f"SMTP server {server} unreachable: {exc}") from exc
    try:
        client.ehlo()
        encrypted = False
        if client.has_extn("starttls"):
            context = ssl.create_default_context(cafile=smtp.ca_file)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            client.starttls(context=context)
            client.ehlo()
            encrypted = True
        elif not smtp.allow_plaintext:
            raise DeliveryError(f"SMTP server {server} does not offer STARTTLS; refusing to send the report "
                                "in clear (set MAILFLOW_SMTP_ALLOW_PLAINTEXT=1 to allow it)")
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        refused = client.sendmail(smtp.sender, list(smtp.recipients), message_bytes)
        code, reply = client.noop()
        tls_version = client.sock.version() if encrypted else None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"SMTP server {server} refused every recipient: "
                            f"{_replies(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP server {server} answered {exc.smtp_code} "
                            f"{exc.smtp_error.decode(errors='replace')}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP server {server}: {exc}") from exc
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
    return {
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "message_id": message_id,
        "delivered_to": server,
        "tls": tls_version,
        "recipients": [r for r in smtp.recipients if r not in refused],
        "refused": {r: f"{c} {m.decode(errors='replace')}" for r, (c, m) in refused.items()},
        "server_reply": f"{code} {reply.decode(errors='replace')}",
    }


def _replies(recipients: dict) -> str:
    return "; ".join(f"{r}: {c} {m.decode(errors='replace')}" for r, (c, m) in recipients.items())

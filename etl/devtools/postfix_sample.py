"""A synthetic Postfix mail log for one day, for the benchmark: the line mix of a busy MTA.

Inbound mail from remote clients (most over TLS, some in clear) delivered locally, mail
submitted by authenticated users or local programs relayed out over pooled smtp connections
(some deferred first), and lines of other programs. Same seed -> the same file.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

CLIENTS = [("mail.contoso.example", "203.0.113.10"), ("mx.fabrikam.example", "198.51.100.7"),
           ("unknown", "192.0.2.77"), ("smtp.tailspin.example", "2001:db8:c0::25")]
RELAYS = [("mx.fabrikam.example", "198.51.100.7", "25"), ("mx.northwind.example", "192.0.2.25", "25"),
          ("relay.tailspin.example", "198.51.100.50", "587")]
TLS = ["TLSv1.3", "TLSv1.2", "TLSv1.2", "TLSv1"]


def write_log(path: Path, day: date, messages: int, seed: int = 7) -> int:
    """Write `messages` messages' worth of log lines; returns the number of lines."""
    rng = random.Random(f"{seed}:{day.isoformat()}")  # noqa: S311 - sample data, reproducible by design
    start = datetime(day.year, day.month, day.day)
    lines = 0
    with open(path, "w", encoding="utf-8") as out:
        for n in range(messages):
            stamp = (start + timedelta(seconds=n * 86_000 // max(messages, 1))).strftime("%b %d %H:%M:%S")
            prefix = f"{stamp} mx1 "
            qid = f"{n:010X}"
            pid = 1000 + n % 50
            block: list[str] = []
            kind = rng.random()
            if kind < 0.5:  # inbound from a remote client
                host, ip = rng.choice(CLIENTS)
                block.append(f"postfix/smtpd[{pid}]: connect from {host}[{ip}]")
                if rng.random() < 0.8:
                    block.append(f"postfix/smtpd[{pid}]: Anonymous TLS connection established from {host}[{ip}]: "
                                 f"{rng.choice(TLS)} with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)")
                block.append(f"postfix/smtpd[{pid}]: {qid}: client={host}[{ip}]")
                block.append(f"postfix/cleanup[{pid + 100}]: {qid}: message-id=<{qid}@{host}>")
                block.append(f"postfix/qmgr[900]: {qid}: from=<someone@{host}>, size={rng.randrange(500, 90_000)}, "
                             "nrcpt=1 (queue active)")
                block.append(f"postfix/smtpd[{pid}]: disconnect from {host}[{ip}] ehlo=2 starttls=1 mail=1 rcpt=1 "
                             "data=1 quit=1 commands=7")
                block.append(f"postfix/local[{pid + 200}]: {qid}: to=<user{n % 300}@example.org>, relay=local, "
                             "delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)")
            else:  # submitted here, relayed out
                if kind < 0.8:
                    block.append(f"postfix/submission/smtpd[{pid}]: {qid}: client=laptop.example.org[10.0.0.5], "
                                 "sasl_method=PLAIN, sasl_username=user@example.org")
                else:
                    block.append(f"postfix/pickup[950]: {qid}: uid=1000 from=<user>")
                block.append(f"postfix/cleanup[{pid + 100}]: {qid}: message-id=<{qid}@example.org>")
                block.append(f"postfix/qmgr[900]: {qid}: from=<user@example.org>, size={rng.randrange(500, 90_000)}, "
                             "nrcpt=2 (queue active)")
                host, ip, port = rng.choice(RELAYS)
                relay = f"relay={host}[{ip}]:{port}"
                if rng.random() < 0.05:
                    block.append(f"postfix/smtp[{pid + 300}]: {qid}: to=<a@{host}>, relay=none, delay=30, "
                                 "delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to host: Connection timed out)")
                if rng.random() < 0.85:
                    block.append(f"postfix/smtp[{pid + 300}]: Untrusted TLS connection established to {host}[{ip}]:"
                                 f"{port}: {rng.choice(TLS)} with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)")
                for rcpt in ("a", "b"):
                    block.append(f"postfix/smtp[{pid + 300}]: {qid}: to=<{rcpt}@{host}>, {relay}, delay=1, "
                                 "delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)")
            block.append(f"postfix/qmgr[900]: {qid}: removed")
            if rng.random() < 0.2:
                block.append("dovecot: imap-login: Login: user=<user@example.org>, method=PLAIN, rip=10.0.0.5")
            out.write("".join(prefix + line + "\n" for line in block))
            lines += len(block)
    return lines

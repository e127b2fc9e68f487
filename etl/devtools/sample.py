"""Realistic sample trace exports in the contract format.

Deterministic: the same seed gives byte-identical files (only `random.Random`,
whose sequence Python keeps stable, and no clock). The mix is chosen so that the
weekly report's insights fire: one connector sends over 25% of its mail in clear,
another uses TLS 1.0 for over half of it. From 2026-11-16 on (the demo's second week)
two connectors change, so that the report has something to say about what changed.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from etl.contract import normalize_tls

HEADER = (
    "Received",
    "SenderAddress",
    "RecipientAddress",
    "Subject",
    "Status",
    "ConnectorName",
    "Direction",
    "TlsVersion",
    "TlsCipher",
    "FromIP",
    "ToIP",
    "Size",
    "MessageId",
    "MessageTraceId",
)

ORG_DOMAINS = ("contoso.com", "contoso.co.uk")
INTERNET_DOMAINS = (
    "gmail.com", "outlook.com", "yahoo.com", "icloud.com", "gmx.de", "web.de",
    "orange.fr", "libero.it", "protonmail.com", "zoho.com", "mailchimp.com", "sendgrid.net",
)


@dataclass(frozen=True)
class Flow:
    """One stream of mail: a connector (or none) in one direction with its TLS mix."""

    connector: str
    direction: str
    weight: float
    tls_mix: tuple[tuple[str, float], ...]  # (spelling as exported, weight)
    remote_domains: tuple[str, ...]


FLOWS = (
    Flow("", "Inbound", 34, (("TLS1.2", 68), ("TLS1.3", 22), ("None", 5), ("TLS1.0", 2), ("TLS1.1", 1), ("", 2)),
         INTERNET_DOMAINS),
    Flow("", "Outbound", 22, (("TLS1.2", 64), ("TLS1.3", 28), ("No TLS", 4), ("TLSv1", 2), ("", 2)),
         INTERNET_DOMAINS),
    Flow("", "Internal", 14, (("TLS1.2", 90), ("", 10)), ORG_DOMAINS),
    Flow("Inbound from On-Premises Relay", "Inbound", 9,
         (("TLSv1", 58), ("TLS 1.2", 40), ("", 2)), ORG_DOMAINS + ("scanners.contoso.com", "erp.contoso.com")),
    Flow("Outbound to On-Premises", "Outbound", 5, (("TLS1.2", 97), ("Tls12", 3)), ORG_DOMAINS),
    Flow("Partner Fabrikam Inbound", "Inbound", 4, (("TLSv1.3", 55), ("TLSv1.2", 45)),
         ("fabrikam.com", "mail.fabrikam.com")),
    Flow("Partner Fabrikam Outbound", "Outbound", 4, (("TLS1.3", 60), ("TLS1.2", 40)), ("fabrikam.com",)),
    Flow("Partner Northwind Legacy", "Outbound", 3, (("No TLS", 38), ("TLS1.2", 50), ("TLS1.1", 12)),
         ("northwindtraders.com", "nwt-logistics.com", "northwind-eu.com")),
    Flow("Partner Tailspin Bank", "Inbound", 2, (("TLS1.3", 80), ("TLS1.2", 20)), ("tailspinbank.com",)),
    Flow("Outbound via Secure Gateway", "Outbound", 3, (("TLS1.2", 85), ("TLS1.3", 15)),
         INTERNET_DOMAINS + ("adatum.com",)),
)

# From the demo's second week on: the on-premises relay was upgraded (its TLS 1.0 insight is resolved,
# the partner's clear text persists), and the secure gateway's certificate expired, so a third of its
# mail goes out in clear (a new No TLS insight and a regression of its encrypted share).
CHANGED_FROM = date(2026, 11, 16)
CHANGED_MIX = {
    ("Inbound from On-Premises Relay", "Inbound"): (("TLSv1", 20), ("TLS 1.2", 78), ("", 2)),
    ("Outbound via Secure Gateway", "Outbound"): (("TLS1.2", 55), ("TLS1.3", 10), ("No TLS", 35)),
}


def tls_mix(flow: Flow, day: date) -> tuple[tuple[str, float], ...]:
    """The flow's TLS mix on `day`."""
    if day >= CHANGED_FROM:
        return CHANGED_MIX.get((flow.connector, flow.direction), flow.tls_mix)
    return flow.tls_mix


CIPHERS = {
    "TLS1.3": "TLS_AES_256_GCM_SHA384",
    "TLS1.2": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS1.1": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS1.0": "TLS_RSA_WITH_AES_128_CBC_SHA",
}
STATUS_MIX = (("Delivered", 90), ("FilteredAsSpam", 3), ("Failed", 2), ("Quarantined", 1.5),
              ("Pending", 1), ("GettingStatus", 0.5), ("Expanded", 2))
SUBJECTS = ("Quarterly results", "Invoice 4711", 'Re: "urgent" request, please read', "Meeting notes",
            "Lunch?", "Shipment update", "Password expiry notice", "Weekly status\nsecond line", "")
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
         "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "noreply", "billing")

WEEKEND_SHARE = 0.3
DUPLICATE_SHARE = 0.001


def _mix_to_cum(mix):
    values, weights = zip(*mix, strict=True)
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    return values, cum


def rows_for_day(day: date, rows_per_day: int) -> int:
    """Weekday volume is `rows_per_day`; weekends are quieter."""
    return rows_per_day if day.weekday() < 5 else max(1, round(rows_per_day * WEEKEND_SHARE))


def _malformed_rows(day: date, rng: random.Random) -> list[list[str]]:
    """A handful of rows every real export eventually contains."""
    stamp = f"{day.isoformat()}T12:00:00Z"
    yesterday = (day - timedelta(days=1)).isoformat()
    tail = ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "203.0.113.9", "198.51.100.9", "1234", "<m@x>", "t-1"]
    return [
        ["not-a-timestamp", "a@fabrikam.com", "b@contoso.com", "x", "Delivered", "", "Inbound", "TLS1.2", *tail],
        [stamp, "c@contoso.com", "d@gmail.com", "x", "Delivered", "", "Sideways", "TLS1.2", *tail],
        [f"{yesterday}T23:59:{rng.randrange(10, 60)}Z", "e@gmail.com", "f@contoso.com", "late", "Delivered", "",
         "Inbound", "TLS1.2", *tail],
        [stamp, "g@contoso.com"],  # ragged: cut short
    ]


def write_day(path: Path, day: date, rows_per_day: int, seed: int) -> int:
    """Write one export; returns the number of data records written."""
    rng = random.Random(f"{seed}:{day.isoformat()}")  # noqa: S311 - sample data, reproducible by design
    n = rows_for_day(day, rows_per_day)
    flows_cum = _mix_to_cum([(f, f.weight) for f in FLOWS])
    tls_cum = {f: _mix_to_cum(tls_mix(f, day)) for f in FLOWS}
    status_cum = _mix_to_cum(STATUS_MIX)
    day_start = day.isoformat()
    choices = rng.choices
    randrange = rng.randrange
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(HEADER)
        batch: list[list[str]] = []
        for i in range(n):
            flow = choices(flows_cum[0], cum_weights=flows_cum[1])[0]
            tls_values, tls_weights = tls_cum[flow]
            tls = choices(tls_values, cum_weights=tls_weights)[0]
            org = ORG_DOMAINS[i % 2]
            remote = flow.remote_domains[randrange(len(flow.remote_domains))]
            local = f"{NAMES[randrange(len(NAMES))]}{randrange(100)}"
            peer = f"{NAMES[randrange(len(NAMES))]}{randrange(100)}"
            if flow.direction == "Inbound":
                sender, recipient = f"{peer}@{remote}", f"{local}@{org}"
            elif flow.direction == "Outbound":
                sender, recipient = f"{local}@{org}", f"{peer}@{remote}"
            else:
                sender, recipient = f"{local}@{org}", f"{peer}@{ORG_DOMAINS[0]}"
            secs = randrange(86400)
            received = f"{day_start}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}Z"
            msg_id = f"<{randrange(1 << 48):012x}@{sender.rsplit('@', 1)[1]}>"
            row = [
                received,
                sender,
                recipient,
                SUBJECTS[randrange(len(SUBJECTS))],
                choices(status_cum[0], cum_weights=status_cum[1])[0],
                flow.connector,
                flow.direction,
                tls,
                CIPHERS.get(normalize_tls(tls), ""),
                f"203.0.113.{randrange(1, 255)}",
                f"198.51.100.{randrange(1, 255)}",
                str(int(rng.lognormvariate(10.5, 1.2))),
                msg_id,
                f"{randrange(1 << 32):08x}-{randrange(1 << 16):04x}-{randrange(1 << 16):04x}",
            ]
            batch.append(row)
            if rng.random() < DUPLICATE_SHARE:
                batch.append(row)  # exporters repeat rows when pages overlap
            if len(batch) >= 10_000:
                writer.writerows(batch)
                written += len(batch)
                batch.clear()
        batch.extend(_malformed_rows(day, rng))
        writer.writerows(batch)
        written += len(batch)
    return written


def generate(start: date, days: int, out: Path, rows_per_day: int = 2000, seed: int = 42) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        path = out / f"trace_{day.isoformat()}.csv"
        tmp = path.with_name(path.name + ".part")
        write_day(tmp, day, rows_per_day, seed)
        tmp.replace(path)  # never leave a half-written export where the sensor looks
        paths.append(path)
    return paths

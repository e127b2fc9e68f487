"""Realistic sample SMTP TLS reports (RFC 8460) for the sample's domains, a few per day.

Deterministic like the trace sample (`random.Random(seed)`, no clock). Each day:
- Google about contoso.com (inbound), a gzip file named as RFC 8460 section 5.3 says; the first
  day's report also arrives by mail, as a duplicate to be counted once;
- Microsoft about contoso.com, in a mail (.eml) with an application/tlsrpt+gzip part, in its own
  style: no sending-mta-ip, counts as strings, a field of its own;
- the partners' and the internet's receiving domains about our outbound mail: fabrikam.com (all
  well, a zip), northwindtraders.com (a third of the sessions without STARTTLS), and adatum.com,
  whose certificate expires on CHANGED_FROM (the demo's second week: a new finding).
"""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path

from etl.devtools.sample import CHANGED_FROM

OWN_DOMAIN = "contoso.com"


def _report(org: str, contact: str | None, report_id: str, day: date, policies: list[dict], **extra) -> dict:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    document = {"organization-name": org,
                "date-range": {"start-datetime": f"{start:%Y-%m-%dT%H:%M:%SZ}",
                               "end-datetime": f"{start + timedelta(days=1, seconds=-1):%Y-%m-%dT%H:%M:%SZ}"},
                "report-id": report_id, "policies": policies, **extra}
    if contact:
        document["contact-info"] = contact
    return document


def _policy(policy_type: str, domain: str, mx: str, ok: int, failures: list[tuple[str, int]], mode="enforce",
            sending_ip: str | None = "198.51.100.10") -> dict:
    policy = {"policy-type": policy_type, "policy-domain": domain, "mx-host": [mx]}
    if policy_type == "sts":
        policy["policy-string"] = ["version: STSv1", f"mode: {mode}", f"mx: {mx}", "max_age: 604800"]
    details = []
    for kind, count in failures:
        if count:
            detail = {"result-type": kind, "receiving-mx-hostname": mx, "failed-session-count": count}
            if sending_ip:
                detail["sending-mta-ip"] = sending_ip
            details.append(detail)
    return {"policy": policy,
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": sum(count for _, count in failures)},
            "failure-details": details}


def _mail(document: dict, file_name: str, sender: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = f"tlsrpt@{OWN_DOMAIN}"
    message["Subject"] = f"Report Domain: {OWN_DOMAIN} Submitter: {sender.split('@')[1]}"
    message["TLS-Report-Domain"] = OWN_DOMAIN
    message.set_content("This is an aggregate TLS report.")
    message.add_attachment(gzip.compress(json.dumps(document).encode(), mtime=0), maintype="application",
                           subtype="tlsrpt+gzip", filename=file_name)
    message.set_boundary("=-tlsrpt-sample-=")  # not a random one: the same seed, the same bytes
    return message.as_bytes()


def _name(sender: str, domain: str, day: date, suffix: str) -> str:
    start = int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())
    return f"{sender}!{domain}!{start}!{start + 86399}!{suffix}"


def reports_for_day(day: date, rng: random.Random) -> dict[str, bytes]:
    """File name -> bytes of the day's reports."""
    files: dict[str, bytes] = {}
    weekend = day.weekday() >= 5
    scale = 0.4 if weekend else 1.0

    google = _report("Google Inc.", "smtp-tls-reporting@google.com", f"{day}T00:00:00Z_{OWN_DOMAIN}", day,
                     [_policy("sts", OWN_DOMAIN, "mx1.contoso.com", int(rng.randint(520, 640) * scale), [])])
    google_name = _name("google.com", OWN_DOMAIN, day, "001.json.gz")
    files[google_name] = gzip.compress(json.dumps(google, indent=1).encode(), mtime=0)
    if day.day == 9:  # the same report again, by mail: counted once
        files[f"google-{day}.eml"] = _mail(google, google_name, "noreply-smtp-tls-reporting@google.com")

    expired = rng.randint(0, 2)
    microsoft = _report("Microsoft Corporation", None, f"{rng.getrandbits(60)}+{OWN_DOMAIN}", day,
                        [_policy("sts", OWN_DOMAIN, "mx1.contoso.com", int(rng.randint(300, 380) * scale),
                                 [("certificate-host-mismatch", expired)], sending_ip=None)],
                        **{"x-ms-report-version": "1.0"})
    for entry in microsoft["policies"]:  # Microsoft writes its counts as text
        entry["summary"] = {k: str(v) for k, v in entry["summary"].items()}
        for detail in entry["failure-details"]:
            detail["failed-session-count"] = str(detail["failed-session-count"])
    files[f"microsoft-{day}.eml"] = _mail(microsoft, _name("microsoft.com", OWN_DOMAIN, day, "ms.json.gz"),
                                          "tlsrpt-noreply@microsoft.com")

    fabrikam = _report("Fabrikam, Inc.", "mailto:tls-reports@fabrikam.com", f"fabrikam-{day}", day,
                       [_policy("sts", "fabrikam.com", "mail.fabrikam.com", int(rng.randint(20, 30) * scale), [])])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("report.json", (2026, 1, 1, 0, 0, 0)), json.dumps(fabrikam))
    files[_name("fabrikam.com", "fabrikam.com", day, "1.zip")] = buffer.getvalue()

    sessions = int(rng.randint(12, 18) * scale) + 1
    refused = round(sessions * rng.uniform(0.28, 0.38))
    northwind = _report("Northwind Traders", "postmaster@northwindtraders.com", f"nwt-{day}", day,
                        [_policy("sts", "northwindtraders.com", "mx.northwindtraders.com", sessions - refused,
                                 [("starttls-not-supported", refused)], mode="testing")])
    files[_name("northwindtraders.com", "northwindtraders.com", day, "1.json")] = json.dumps(northwind).encode()

    sessions = int(rng.randint(3, 5) * scale) + 1
    failed = round(sessions * rng.uniform(0.35, 0.5)) if day >= CHANGED_FROM else 0
    adatum = _report("Adatum Corporation", "tlsrpt@adatum.com", f"adatum-{day}", day,
                     [_policy("sts", "adatum.com", "mx.adatum.com", sessions - failed,
                              [("certificate-expired", failed)])])
    files[_name("adatum.com", "adatum.com", day, "1.json.gz")] = gzip.compress(json.dumps(adatum).encode(), mtime=0)
    return files


def generate_reports(start: date, days: int, out: Path, seed: int = 42) -> list[Path]:
    """Write `days` days of reports from `start` into `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(days):
        day = start + timedelta(days=i)
        rng = random.Random(f"{seed}-tlsrpt-{day}")  # noqa: S311 - sample data, reproducible by design
        for name, data in reports_for_day(day, rng).items():
            (out / name).write_bytes(data)
            written.append(out / name)
    return written

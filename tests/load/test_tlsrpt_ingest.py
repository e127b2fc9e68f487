"""Loading SMTP TLS reports: days, duplicates, quarantine, reconciled counts, hand-computed aggregates."""

from __future__ import annotations

import dataclasses
import gzip
import json
import mailbox
import os
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

from etl.load.tlsrpt_ingest import ingest_tlsrpt
from etl.storage import Storage

DAY, NEXT = date(2026, 11, 16), date(2026, 11, 17)


def report(org: str, report_id: str, start: str, end: str, *policies: dict, **extra) -> dict:
    return {"organization-name": org, "date-range": {"start-datetime": start, "end-datetime": end},
            "contact-info": f"tlsrpt@{org.split()[0].lower()}.example", "report-id": report_id,
            "policies": list(policies), **extra}


def policy(domain: str, ok, failed, *failures: tuple, policy_type="sts") -> dict:
    return {"policy": {"policy-type": policy_type, "policy-domain": domain, "mx-host": [f"mx.{domain}"]},
            "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
            "failure-details": [{"result-type": kind, "failed-session-count": count, "sending-mta-ip": "192.0.2.1"}
                                for kind, count in failures]}


GOOGLE = report("Google Inc.", "2026-11-16T00:00:00Z_example.com", "2026-11-16T00:00:00Z", "2026-11-16T23:59:59Z",
                policy("example.com", 100, 5, ("certificate-expired", 3), ("starttls-not-supported", 2)),
                policy("northwind.example", 40, 0, policy_type="no-policy-found"))
# Microsoft's style: counts as text, no sending-mta-ip, its own field; 14:00 to 14:00 -> the 17th
MICROSOFT = report("Microsoft Corporation", "1337+example.com", "2026-11-16T14:00:00Z", "2026-11-17T14:00:00Z",
                   {"policy": {"policy-type": "sts", "policy-domain": "Example.com.", "mx-host": "mx.example.com"},
                    "summary": {"total-successful-session-count": "50", "total-failure-session-count": "7"},
                    "failure-details": [{"result-type": "certificate-expired", "failed-session-count": "7"}]},
                   **{"x-ms-version": "2"})
NEGATIVE = report("Yahoo", "y-1", "2026-11-16T00:00:00Z", "2026-11-16T23:59:59Z", policy("example.com", -1, 0))


def mail_with(document: dict, part_type="application/tlsrpt+gzip") -> bytes:
    message = EmailMessage()
    message["From"] = "noreply-smtp-tls-reporting@google.com"
    message["Subject"] = "Report Domain: example.com Submitter: google.com"
    message.set_content("This is an aggregate TLS report from google.com")
    data = gzip.compress(json.dumps(document).encode())
    maintype, subtype = part_type.split("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype,
                           filename="google.com!example.com!1763251200!1763337599!001.json.gz")
    return message.as_bytes()


def landing(cfg) -> Path:
    folder = cfg.home / "landing" / "tlsrpt"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def rows(cfg, table: str, day: date) -> list[dict]:
    found = Storage(cfg).lake.read(table, day, day).to_pylist()
    return sorted(({k: v for k, v in row.items() if k not in ("date", "load_id", "loaded_at")} for row in found),
                  key=lambda r: [str(v) for v in r.values()])


def test_reports_are_filed_by_day_deduplicated_and_aggregated(cfg):
    folder = landing(cfg)
    (folder / "google.com!example.com!1763251200!1763337599!001.json.gz").write_bytes(
        gzip.compress(json.dumps(GOOGLE).encode()))
    (folder / "report.eml").write_bytes(mail_with(GOOGLE))  # the same report by mail: counted once
    (folder / "microsoft.json").write_text("\ufeff" + json.dumps(MICROSOFT).replace("\n", "\r\n"))
    (folder / "yahoo.json").write_text(json.dumps(NEGATIVE))

    result = ingest_tlsrpt(cfg)

    assert (result.reports_read, result.reports_loaded, result.reports_quarantined, result.duplicates) == (4, 2, 1, 1)
    assert result.days_loaded == ["2026-11-16", "2026-11-17"]
    assert rows(cfg, "daily_tlsrpt_policy", DAY) == [
        {"organization": "Google Inc.", "policy_domain": "example.com", "policy_type": "sts",
         "successful_sessions": 100, "failed_sessions": 5, "reports": 1},
        {"organization": "Google Inc.", "policy_domain": "northwind.example", "policy_type": "no-policy-found",
         "successful_sessions": 40, "failed_sessions": 0, "reports": 1}]
    assert rows(cfg, "daily_tlsrpt_failure", DAY) == [
        {"policy_domain": "example.com", "result_type": "certificate-expired", "failed_sessions": 3},
        {"policy_domain": "example.com", "result_type": "starttls-not-supported", "failed_sessions": 2}]
    assert rows(cfg, "daily_tlsrpt_policy", NEXT) == [
        {"organization": "Microsoft Corporation", "policy_domain": "example.com", "policy_type": "sts",
         "successful_sessions": 50, "failed_sessions": 7, "reports": 1}]
    assert rows(cfg, "daily_tlsrpt_failure", NEXT) == [
        {"policy_domain": "example.com", "result_type": "certificate-expired", "failed_sessions": 7}]

    (quarantined,) = rows(cfg, "tlsrpt_quarantine", DAY)  # filed under the day its date-range gives
    assert (quarantined["source"], quarantined["reason"]) == (
        "yahoo.json", "invalid report: policy 1 (example.com): total-successful-session-count is negative (-1)")
    (kept, ) = [r for r in rows(cfg, "tlsrpt_policy", DAY) if r["policy_domain"] == "example.com"]
    assert kept["source"] == "google.com!example.com!1763251200!1763337599!001.json.gz"  # the first in name order
    assert len(kept["file_sha256"]) == 64
    (microsoft,) = rows(cfg, "tlsrpt_policy", NEXT)
    assert json.loads(microsoft["extra"]) == {"x-ms-version": "2"}
    (detail,) = rows(cfg, "tlsrpt_failure", NEXT)
    assert detail["sending_mta_ip"] is None and detail["organization"] == "Microsoft Corporation"

    loads = Storage(cfg).tlsrpt_loads()
    first = loads[DAY]
    assert (first["reports_read"], first["reports_loaded"], first["reports_quarantined"], first["duplicates"]) == (
        3, 1, 1, 1)
    assert [s["file"] for s in first["sources"]] == [
        "google.com!example.com!1763251200!1763337599!001.json.gz", "report.eml: part "
        "google.com!example.com!1763251200!1763337599!001.json.gz", "yahoo.json"]


def test_a_load_again_replaces_only_the_days_whose_reports_changed(cfg, tmp_path):
    folder = landing(cfg)
    (folder / "google.json").write_text(json.dumps(GOOGLE))
    (folder / "microsoft.json").write_text(json.dumps(MICROSOFT))
    ingest_tlsrpt(cfg)
    lake = Storage(cfg).lake
    before = lake.snapshot_id("tlsrpt_loads")

    again = ingest_tlsrpt(cfg)
    assert again.days_loaded == [] and again.days_unchanged == ["2026-11-16", "2026-11-17"]
    assert lake.snapshot_id("tlsrpt_loads") == before  # nothing committed

    # a late report for the 17th, given on the command line: it lands, and only the 17th is replaced
    late = tmp_path / "late.json"
    late.write_text(json.dumps(report("Comcast", "c-9", "2026-11-17T00:00:00Z", "2026-11-17T23:59:59Z",
                                      policy("example.com", 10, 1, ("validation-failure", 1)))))
    result = ingest_tlsrpt(cfg, [late])
    assert (folder / "late.json").read_bytes() == late.read_bytes()
    assert result.days_loaded == ["2026-11-17"] and result.days_unchanged == ["2026-11-16"]
    assert sum(r["successful_sessions"] for r in rows(cfg, "daily_tlsrpt_policy", NEXT)) == 60

    # another file of the same name lands beside it, never over it; a pruned landing folder loses nothing
    late.write_text(json.dumps(report("Comcast", "c-10", "2026-11-17T00:00:00Z", "2026-11-17T23:59:59Z",
                                      policy("example.com", 5, 0))))
    ingest_tlsrpt(cfg, [late])
    assert len(list(folder.glob("*late.json"))) == 2
    (folder / "google.json").unlink()
    assert ingest_tlsrpt(cfg).days_unchanged == ["2026-11-17"]
    assert sum(r["successful_sessions"] for r in rows(cfg, "daily_tlsrpt_policy", DAY)) == 140


def test_a_hidden_maildir_folder_given_lands_and_loads(cfg, tmp_path):
    maildir = mailbox.Maildir(tmp_path / ".TLS-reports", create=True)
    maildir.add(mail_with(GOOGLE))
    result = ingest_tlsrpt(cfg, [tmp_path / ".TLS-reports"])
    assert (result.reports_read, result.reports_loaded) == (1, 1)
    assert [p.name for p in (landing(cfg) / "TLS-reports" / "new").iterdir()] == \
        [p.name for p in (tmp_path / ".TLS-reports" / "new").iterdir()]


def test_mailboxes_and_files_without_a_date_are_read_and_filed(cfg):
    folder = landing(cfg)
    maildir = mailbox.Maildir(folder / "Maildir", create=True)
    maildir.add(mail_with(GOOGLE, "application/tlsrpt+gzip"))
    box = mailbox.mbox(folder / "reports.mbox", create=True)
    box.add(mail_with(MICROSOFT, "application/tlsrpt+gzip"))
    box.add(b"From: someone@example.com\nSubject: hello\n\nnot a report\n")
    box.close()
    (folder / "notes.txt").write_text("hello")
    os.utime(folder / "notes.txt", (1763683200, 1763683200))  # landed 2025-11-21

    result = ingest_tlsrpt(cfg)

    assert (result.reports_read, result.reports_loaded, result.reports_quarantined, result.duplicates) == (4, 2, 2, 0)
    mbox_landed = datetime.fromtimestamp((folder / "reports.mbox").stat().st_mtime, UTC).date()
    quarantine = Storage(cfg).lake.read("tlsrpt_quarantine").to_pylist()
    assert sorted((r["date"], r["source"], r["reason"].split(" (")[0]) for r in quarantine) == sorted([
        (date(2025, 11, 21), "notes.txt", "not a TLS report: neither JSON, gzip, zip nor a mail message"),
        # a mail without a report: filed under the day its mbox file landed
        (mbox_landed, "reports.mbox: message 2", "a mail message without a TLS report part")])
    assert sorted(Storage(cfg).tlsrpt_loads()) == sorted({date(2025, 11, 21), mbox_landed, DAY, NEXT})


def test_the_rfc_example_in_every_container_aggregates_alike(cfg, tmp_path):
    """RFC 8460's own example, in each way reports arrive, each loaded alone: 5326 successful and 303
    failed sessions on 2016-04-01 (by hand from the example), failures 100 + 200 + 3 by result type."""
    from tests.sources.test_tlsrpt import GOOGLE_NAME, RFC_EXAMPLE, _mail, _zip

    raw = json.dumps(RFC_EXAMPLE).encode()
    day = date(2016, 4, 1)
    containers = {
        "rfc-example.json": raw, GOOGLE_NAME: gzip.compress(raw), "report.zip": _zip(raw),
        "gzip-part.eml": _mail("application/tlsrpt+gzip", gzip.compress(raw)),
        "json-part.eml": _mail("application/tlsrpt+json", raw, name="report.json"),
    }
    for n, (name, data) in enumerate(containers.items()):
        home = dataclasses.replace(cfg, home=tmp_path / f"home-{n}")
        (tmp_path / f"in-{n}").mkdir()
        (tmp_path / f"in-{n}" / name).write_bytes(data)
        ingest_tlsrpt(home, [tmp_path / f"in-{n}" / name])
        assert rows(home, "daily_tlsrpt_policy", day) == [
            {"organization": "Company-X", "policy_domain": "company-y.example", "policy_type": "sts",
             "successful_sessions": 5326, "failed_sessions": 303, "reports": 1}], name
        assert rows(home, "daily_tlsrpt_failure", day) == [
            {"policy_domain": "company-y.example", "result_type": "certificate-expired", "failed_sessions": 100},
            {"policy_domain": "company-y.example", "result_type": "starttls-not-supported", "failed_sessions": 200},
            {"policy_domain": "company-y.example", "result_type": "validation-failure", "failed_sessions": 3}], name

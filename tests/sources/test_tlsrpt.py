"""SMTP TLS reports (RFC 8460) as received: every container, the reporters' styles, and every
malformed case refused with its reason, never dropped and never a crash."""

from __future__ import annotations

import copy
import gzip
import io
import json
import mailbox
import zipfile
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from etl.sources.tlsrpt import FailureDetail, TlsReport, day_from_name, parse_report, report_day
from etl.sources.tlsrpt_files import Payload, Refusal, read_reports

# RFC 8460 section 4.5's example, as published (its last detail spells failure-error-code)
RFC_EXAMPLE = {
    "organization-name": "Company-X",
    "date-range": {"start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z"},
    "contact-info": "sts-reporting@company-x.example",
    "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
    "policies": [{
        "policy": {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"],
            "policy-domain": "company-y.example",
            "mx-host": ["*.mail.company-y.example"],
        },
        "summary": {"total-successful-session-count": 5326, "total-failure-session-count": 303},
        "failure-details": [
            {"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:0012::1",
             "receiving-mx-hostname": "mx1.mail.company-y.example", "failed-session-count": 100},
            {"result-type": "starttls-not-supported", "sending-mta-ip": "2001:db8:abcd:0013::1",
             "receiving-mx-hostname": "mx2.mail.company-y.example", "receiving-ip": "203.0.113.56",
             "failed-session-count": 200,
             "additional-information": "https://reports.company-x.example/report_info?id=5065427c-23d3"},
            {"result-type": "validation-failure", "sending-mta-ip": "198.51.100.62", "receiving-ip": "203.0.113.58",
             "receiving-mx-hostname": "mx-backup.mail.company-y.example", "failed-session-count": 3,
             "failure-error-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"},
        ],
    }],
}
# Microsoft's style: no sending-mta-ip, mx-host a string, counts as strings, a field of its own
MICROSOFT_STYLE = {
    "organization-name": "Microsoft Corporation",
    "date-range": {"start-datetime": "2026-11-20T00:00:00Z", "end-datetime": "2026-11-20T23:59:59Z"},
    "contact-info": "tlsrpt-noreply@microsoft.com",
    "report-id": "133765432101234567+contoso.com",
    "x-reporter-version": "2.1",
    "policies": [{
        "policy": {"policy-type": "no-policy-found", "policy-domain": "Contoso.com.", "mx-host": "mx.contoso.com"},
        "summary": {"total-successful-session-count": "1200", "total-failure-session-count": "7"},
        "failure-details": [{"result-type": "certificate-host-mismatch", "receiving-mx-hostname": "mx.contoso.com",
                             "failed-session-count": "7"}],
    }],
}
GOOGLE_NAME = "google.com!company-y.example!1459468800!1459555199!001.json.gz"


def payload(document, source="report.json") -> Payload:
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    return Payload(source, "0" * 64, data)


def test_the_rfc_example_parses_field_by_field():
    report = parse_report(payload(RFC_EXAMPLE))
    assert isinstance(report, TlsReport)
    assert (report.organization, report.report_id, report.contact_info) == (
        "Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be", "sts-reporting@company-x.example")
    assert (report.start, report.end) == (datetime(2016, 4, 1, tzinfo=UTC),
                                          datetime(2016, 4, 1, 23, 59, 59, tzinfo=UTC))
    (policy,) = report.policies
    assert (policy.policy_type, policy.policy_domain, policy.successful_sessions, policy.failed_sessions) == (
        "sts", "company-y.example", 5326, 303)
    assert policy.mx_hosts == ("*.mail.company-y.example",) and len(policy.policy_strings) == 4
    assert [(f.result_type, f.failed_sessions) for f in policy.failures] == [
        ("certificate-expired", 100), ("starttls-not-supported", 200), ("validation-failure", 3)]
    assert policy.failures[2].failure_reason_code == "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"
    assert policy.failures[1].receiving_ip == "203.0.113.56" and policy.failures[0].receiving_ip is None


def test_a_reporter_that_omits_optional_fields_and_writes_counts_as_text():
    report = parse_report(payload(MICROSOFT_STYLE))
    (policy,) = report.policies
    assert (policy.policy_type, policy.policy_domain, policy.mx_hosts) == ("no-policy-found", "contoso.com",
                                                                           ("mx.contoso.com",))
    assert (policy.successful_sessions, policy.failed_sessions) == (1200, 7)
    assert policy.failures == (FailureDetail("certificate-host-mismatch", 7,
                                             receiving_mx_hostname="mx.contoso.com"),)
    assert report.extra == {"x-reporter-version": "2.1"}  # kept, not dropped


def _mail(part_type: str | None, data: bytes, name: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "noreply-smtp-tls-reporting@google.com"
    message["To"] = "tlsrpt@company-y.example"
    message["Subject"] = "Report Domain: company-y.example Submitter: google.com Report-ID: <x>"
    message["TLS-Report-Domain"] = "company-y.example"
    message.set_content("This is an aggregate TLS report from google.com")
    maintype, subtype = (part_type or "application/octet-stream").split("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name or GOOGLE_NAME)
    return message.as_bytes()


def _zip(data: bytes, names=("report.json",)) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, data)
    return out.getvalue()


def test_every_container_yields_the_same_report(tmp_path):
    raw = json.dumps(RFC_EXAMPLE, indent=2).replace("\n", "\r\n").encode()
    files = {
        "plain.json": b"\xef\xbb\xbf" + raw,  # a BOM and CRLF line ends
        GOOGLE_NAME: gzip.compress(raw),
        "misnamed.txt": gzip.compress(raw),  # told apart by content, not by name
        "report.zip": _zip(raw),
        "gzip-part.eml": _mail("application/tlsrpt+gzip", gzip.compress(raw)),
        "json-part.eml": _mail("application/tlsrpt+json", raw, name="report.json"),
        "named-attachment.eml": _mail(None, gzip.compress(raw)),
    }
    for name, data in files.items():
        (tmp_path / "in" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_bytes(data)
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(_mail("application/tlsrpt+gzip", gzip.compress(raw)))
    box = mailbox.mbox(tmp_path / "reports.mbox")
    box.add(_mail("application/tlsrpt+json", raw, name="report.json"))
    box.add(_mail("application/tlsrpt+gzip", gzip.compress(raw)))
    box.close()

    found = list(read_reports([tmp_path / "in", tmp_path / "Maildir", tmp_path / "reports.mbox"]))
    assert not [f for f in found if isinstance(f, Refusal)]
    assert len(found) == len(files) + 1 + 2
    reports = [parse_report(p) for p in found]
    assert {r.key for r in reports} == {("Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be")}  # counted once
    assert [r.policies[0].failed_sessions for r in reports] == [303] * len(reports)
    sources = [r.source for r in reports]
    assert "reports.mbox: message 2: part " + GOOGLE_NAME in sources
    assert any(s.startswith("Maildir/new/") for s in sources)


@pytest.mark.parametrize("change, reason", [
    (lambda d: d.pop("report-id"), "invalid report: the report has no report-id"),
    (lambda d: d.pop("organization-name"), "invalid report: the report has no organization-name"),
    (lambda d: d.pop("date-range"), "invalid report: no date-range"),
    (lambda d: d.pop("policies"), "invalid report: no policies"),
    (lambda d: d.update(policies=[]), "invalid report: no policies"),
    (lambda d: d["date-range"].update({"start-datetime": "yesterday"}),
     "invalid report: date-range start-datetime is 'yesterday', not an RFC 3339 date-time"),
    (lambda d: d["date-range"].update({"end-datetime": "2016-03-31T00:00:00Z"}),
     "invalid report: its date-range ends (2016-03-31T00:00:00Z) before it starts"),
    (lambda d: d["policies"][0]["summary"].update({"total-failure-session-count": -3}),
     "invalid report: policy 1 (company-y.example): total-failure-session-count is negative (-3)"),
    (lambda d: d["policies"][0]["summary"].update({"total-successful-session-count": "many"}),
     "invalid report: policy 1 (company-y.example): total-successful-session-count is 'many', not a count"),
    (lambda d: d["policies"][0]["failure-details"][0].update({"failed-session-count": -1}),
     "invalid report: policy 1 (company-y.example) failure 1: failed-session-count is negative (-1)"),
    (lambda d: d["policies"][0]["policy"].update({"policy-type": "dane"}),
     "invalid report: policy 1 has policy-type 'dane', not one of tlsa, sts, no-policy-found"),
    (lambda d: d["policies"][0].pop("summary"), "invalid report: policy 1 (company-y.example) has no summary"),
])
def test_what_matters_is_strict(change, reason):
    document = copy.deepcopy(RFC_EXAMPLE)
    change(document)
    refused = parse_report(payload(document, "bad.json"))
    assert (refused.source, refused.file_sha256, refused.reason) == ("bad.json", "0" * 64, reason)
    assert isinstance(refused, Refusal)


def test_a_refused_report_is_filed_under_the_day_its_date_range_or_file_name_gives():
    negative = copy.deepcopy(RFC_EXAMPLE)
    negative["policies"][0]["summary"]["total-failure-session-count"] = -1
    assert parse_report(payload(negative)).day == date(2016, 4, 1)
    assert parse_report(payload(b"{not json")).day is None
    assert day_from_name("inbox.mbox: message 2: part google.com!example.com!1763683200!1763769599!001.json.gz") \
        == date(2025, 11, 21)
    assert day_from_name("report.json") is None


def test_a_report_is_filed_under_the_day_holding_the_middle_of_its_date_range():
    def day(start: str, end: str):
        return report_day(datetime.fromisoformat(start), datetime.fromisoformat(end))

    assert day("2026-11-16T00:00:00Z", "2026-11-16T23:59:59Z") == date(2026, 11, 16)
    assert day("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z") == date(2026, 11, 16)  # Microsoft's ranges
    assert day("2026-11-16T06:00:00Z", "2026-11-17T06:00:00Z") == date(2026, 11, 16)  # the middle: 18:00 on the 16th
    assert day("2026-11-16T14:00:00Z", "2026-11-17T14:00:00Z") == date(2026, 11, 17)
    assert day("2026-11-16T20:00:00-08:00", "2026-11-17T19:59:59-08:00") == date(2026, 11, 17)


def test_invalid_json_is_refused_with_where():
    refused = parse_report(payload(b'{"organization-name": "x",\n "report-id": }'))
    assert refused.reason == "invalid JSON: Expecting value (line 2, column 15)"


@pytest.mark.parametrize("name, data, reason", [
    ("noise.bin", b"\x00\x01 not a report", "not a TLS report: neither JSON, gzip, zip nor a mail message"),
    ("cut.json.gz", gzip.compress(b'{"a": 1}' * 100)[:30], "a gzip file cut short"),
    ("two.zip", _zip(b"{}", names=("a.json", "b.json")), "a zip file with 2 files; a TLS report zip holds one"),
    ("bomb.json.gz", gzip.compress(b" " * (17 * 1024 * 1024)), "inflates past 16 MiB: not a TLS report"),
    ("no-report.eml", b"From: a@b.example\r\nSubject: hello\r\n\r\njust text\r\n",
     "a mail message without a TLS report part (application/tlsrpt+gzip or application/tlsrpt+json, or an "
     "attachment named like a report)"),
])
def test_files_that_hold_no_report_are_refused_with_the_reason(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    (found,) = read_reports([tmp_path / name])
    assert isinstance(found, Refusal) and (found.source, found.reason) == (name, reason)
    assert len(found.file_sha256) == 64


def test_hostile_names_are_kept_as_text_for_the_outputs_to_escape():
    document = copy.deepcopy(RFC_EXAMPLE)
    document["organization-name"] = "<script>alert(1)</script>\u202e"
    document["policies"][0]["policy"]["policy-domain"] = "evil\u202eexample.COM"
    report = parse_report(payload(document))
    assert report.organization == "<script>alert(1)</script>\u202e"
    assert report.policies[0].policy_domain == "evil\u202eexample.com"


def test_a_mailbox_path_that_does_not_exist_is_not_silently_empty(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_reports([Path(tmp_path / "missing.mbox")]))

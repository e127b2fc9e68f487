"""The report's "Reported by receiving domains": SMTP TLS reports beside the traces, on hand-made
reports and aggregates with every figure computed by hand."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta

from etl.load.tlsrpt_ingest import ingest_tlsrpt
from etl.report.render import render_all
from etl.report.tlsrpt import direction_of
from tests.conftest import commit_aggregates, compute
from tests.load.test_tlsrpt_ingest import landing, policy, report

PREVIOUS, WEEK = date(2026, 11, 9), date(2026, 11, 16)  # Mondays; WEEK is reported
NOW = datetime(2026, 11, 23, 6, tzinfo=UTC)
DAYS = [PREVIOUS + timedelta(days=i) for i in range(14)]


def day_range(day: date) -> tuple[str, str]:
    return f"{day}T00:00:00Z", f"{day}T23:59:59Z"


def write_reports(cfg, *documents: dict) -> None:
    for n, document in enumerate(documents):
        (landing(cfg) / f"report-{n}.json").write_text(json.dumps(document))
    ingest_tlsrpt(cfg)


def traces(cfg, remote_domains=()) -> None:
    """Every day of both weeks loaded; the outbound mail to the reported domains as given."""
    commit_aggregates(cfg, [(day, "outbound", "Partner A", "TLS1.2", 10) for day in DAYS], remote_domains,
                      [(day, 10, 0) for day in DAYS])


def hand_made_fortnight(cfg) -> None:
    traces(cfg, [(WEEK, "outbound", "Partner A", "TLS1.2", "partner.example", 8),
                 (WEEK, "outbound", "Partner A", "none", "partner.example", 2),
                 (WEEK, "outbound", "Gateway", "TLS1.3", "partner.example", 5),
                 (WEEK, "outbound", "Partner A", "TLS1.2", "elsewhere.example", 7)])
    write_reports(
        cfg,
        # partner.example: 10 of 20 failed the week before (fires), 10 of 100 now (fires): persisting
        report("R1", "r1-prev", *day_range(PREVIOUS + timedelta(days=1)), policy("partner.example", 10, 10)),
        report("R1", "r1-now", *day_range(WEEK), policy("partner.example", 90, 10, ("certificate-expired", 6),
                                                        ("starttls-not-supported", 4))),
        # ours: 1 of 20 = 5.0%, not over 5
        report("R2", "r2-now", *day_range(WEEK + timedelta(days=2)), policy("contoso.com", 19, 1)),
        # 18 of 19 failed, but under 20 sessions
        report("R2", "r2-tiny", *day_range(WEEK + timedelta(days=3)), policy("tiny.example", 1, 18)),
        # 20 of 30 failed the week before, none of 30 now: resolved
        report("R3", "r3-prev", *day_range(PREVIOUS + timedelta(days=2)), policy("fixed.example", 10, 20)),
        report("R3", "r3-now", *day_range(WEEK + timedelta(days=4)), policy("fixed.example", 30, 0)),
    )


def test_each_receiving_domain_with_its_connectors_failures_and_history(cfg):
    hand_made_fortnight(cfg)
    cfg = dataclasses.replace(cfg, own_domains=("contoso.com",))

    found = compute(cfg, WEEK, WEEK + timedelta(days=6), generated_at=NOW)

    assert found["tlsrpt"] == [
        {"policy_domain": "partner.example", "direction": "outbound", "policy_type": "sts", "policy_types": ["sts"],
         "connectors": ["Gateway", "Partner A"], "successful_sessions": 90, "failed_sessions": 10,
         "failure_pct": 10.0, "previous_failure_pct": 50.0,
         "failures": {"certificate-expired": 6, "starttls-not-supported": 4}, "reporters": ["R1"]},
        {"policy_domain": "fixed.example", "direction": "outbound", "policy_type": "sts", "policy_types": ["sts"],
         "connectors": [], "successful_sessions": 30, "failed_sessions": 0, "failure_pct": 0.0,
         "previous_failure_pct": 66.7, "failures": {}, "reporters": ["R3"]},
        {"policy_domain": "contoso.com", "direction": "inbound", "policy_type": "sts", "policy_types": ["sts"],
         "connectors": [], "successful_sessions": 19, "failed_sessions": 1, "failure_pct": 5.0,
         "previous_failure_pct": None, "failures": {}, "reporters": ["R2"]},
        {"policy_domain": "tiny.example", "direction": "outbound", "policy_type": "sts", "policy_types": ["sts"],
         "connectors": [], "successful_sessions": 1, "failed_sessions": 18, "failure_pct": 94.7,
         "previous_failure_pct": None, "failures": {}, "reporters": ["R2"]},
    ]
    about = {(i["rule"], i["status"], i["policy_domain"], i["connector"]):
             (i["share_pct"], i["previous_share_pct"], i["messages"], i["messages_total"], i["since"])
             for i in found["insights"] if i["policy_domain"]}
    assert about == {
        ("tlsrpt_failures", "persisting", "partner.example", None): (10.0, 50.0, 10, 100, "2026-11-09"),
        ("tlsrpt_failures", "resolved", "fixed.example", None): (0.0, 66.7, 0, 30, None),
        # the traces say TLS where the domain says its certificate expired and STARTTLS failed
        ("tls_mismatch", "new", "partner.example", "Gateway"): (100.0, None, 5, 5, "2026-11-16"),
        ("tls_mismatch", "new", "partner.example", "Partner A"): (80.0, None, 8, 10, "2026-11-16"),
    }
    assert "1 receiving domain reports TLS failures" in found["headline"]


def test_filters_narrow_the_section_as_they_narrow_the_report(cfg):
    hand_made_fortnight(cfg)
    cfg = dataclasses.replace(cfg, own_domains=("contoso.com",))
    end = WEEK + timedelta(days=6)

    inbound = compute(cfg, WEEK, end, direction="inbound", generated_at=NOW)
    assert [d["policy_domain"] for d in inbound["tlsrpt"]] == ["contoso.com"]
    gateway = compute(cfg, WEEK, end, connectors=("Gate*",), generated_at=NOW)
    assert [(d["policy_domain"], d["connectors"]) for d in gateway["tlsrpt"]] == [("partner.example", ["Gateway"])]
    assert {(i["rule"], i["connector"]) for i in gateway["insights"] if i["policy_domain"]} == {
        ("tlsrpt_failures", "Gateway"), ("tls_mismatch", "Gateway")}


def test_without_our_domains_a_domain_we_sent_nothing_to_is_ours():
    assert direction_of("partner.example", (), {"partner.example"}) == "outbound"
    assert direction_of("contoso.com", (), set()) == "inbound"
    assert direction_of("mail.contoso.com", ("contoso.com",), {"mail.contoso.com"}) == "inbound"
    assert direction_of("notcontoso.com", ("contoso.com",), set()) == "outbound"


def test_without_a_report_the_section_is_absent_and_says_so(cfg):
    traces(cfg)
    found = compute(cfg, WEEK, WEEK + timedelta(days=6), generated_at=NOW)
    assert found["tlsrpt"] is None
    outputs = render_all(found)
    assert "tlsrpt.csv" not in outputs
    for name in ("report.html", "email.html", "report.txt"):
        assert outputs[name].decode().count("No SMTP TLS report") == 1, name


def test_hostile_names_from_reports_are_inert_in_every_output(cfg):
    hostile_org = '=HYPERLINK("http://evil")<img src=x onerror=alert(1)>\u202egnp.exe'
    hostile_domain = "<script>alert(1)</script>.example"
    traces(cfg)
    write_reports(cfg, report(hostile_org, "x-1", *day_range(WEEK), policy(hostile_domain, 10, 40)))
    found = compute(cfg, WEEK, WEEK + timedelta(days=6), generated_at=NOW)
    assert found["tlsrpt"][0]["reporters"] == [hostile_org]  # JSON keeps them whole
    outputs = render_all(found)
    for name in ("report.html", "email.html"):
        html = outputs[name].decode()
        assert "<script>alert" not in html and "<img src=x" not in html and "\u202e" not in html, name
        assert "&lt;script&gt;alert(1)&lt;/script&gt;.example" in html, name
    text = outputs["report.txt"].decode()
    assert "\u202e" not in text and "\\u202EgnP.exe".lower() in text.lower()
    csv_text = outputs["tlsrpt.csv"].decode()
    assert "'=HYPERLINK" in csv_text and "\u202e" not in csv_text
    assert outputs["insights.csv"].decode().count(",<script>alert(1)</script>.example") == 1

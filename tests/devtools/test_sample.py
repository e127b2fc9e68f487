"""Sample exports: deterministic, in the contract format, and shaped so the insights fire."""

from __future__ import annotations

import dataclasses
from datetime import date

import duckdb

from etl.contract import normalize_tls
from etl.devtools.sample import FLOWS, generate
from etl.devtools.tlsrpt_sample import generate_reports
from etl.load.tlsrpt_ingest import ingest_tlsrpt


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = generate(date(2026, 11, 9), 2, tmp_path / "a", rows_per_day=300, seed=5)
    b = generate(date(2026, 11, 9), 2, tmp_path / "b", rows_per_day=300, seed=5)
    c = generate(date(2026, 11, 9), 1, tmp_path / "c", rows_per_day=300, seed=6)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert a[0].read_bytes() != c[0].read_bytes()
    assert [p.name for p in a] == ["trace_2026-11-09.csv", "trace_2026-11-10.csv"]


def test_weekends_are_quieter(tmp_path):
    monday, saturday = (p for p in generate(date(2026, 11, 9), 6, tmp_path, rows_per_day=1000)[::5])
    assert monday.read_bytes().count(b"\n") > 2.5 * saturday.read_bytes().count(b"\n")


def test_the_mix_makes_both_insights_fire():
    connectors = {f.connector for f in FLOWS if f.connector}
    assert len(connectors) >= 6
    assert {f.direction for f in FLOWS if f.connector} == {"Inbound", "Outbound"}

    def share(flow, bucket):
        total = sum(w for _, w in flow.tls_mix)
        return 100 * sum(w for s, w in flow.tls_mix if normalize_tls(s) == bucket) / total

    assert any(share(f, "none") > 25 for f in FLOWS if f.connector)
    assert any(share(f, "TLS1.0") > 50 for f in FLOWS if f.connector)


def test_files_hold_duplicates_and_malformed_rows(tmp_path):
    (path,) = generate(date(2026, 11, 9), 1, tmp_path, rows_per_day=5000)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("Received,SenderAddress,RecipientAddress")
    assert any("Sideways" in line for line in lines) and any("not-a-timestamp" in line for line in lines)
    con = duckdb.connect()
    con.execute("create table t as select * from read_csv($path, all_varchar = true, ignore_errors = true)",
                {"path": str(path)}).fetchall()
    ((duplicates,),) = con.execute("select count(*) - (select count(*) from (select distinct * from t)) "
                                   "from t").fetchall()
    assert duplicates > 0


def test_the_second_sample_week_has_something_new_persisting_resolved_and_a_regression(cfg):
    """What `make demo` shows: the report of the sample's second week, compared with its first."""
    from datetime import UTC, datetime

    from etl.ops.backfill import backfill
    from etl.storage import Storage
    from tests.conftest import compute

    generate(date(2026, 11, 9), 14, Storage(cfg).landing, rows_per_day=1000)
    generate_reports(date(2026, 11, 9), 14, Storage(cfg).landing / "tlsrpt")
    backfill(cfg, date(2026, 11, 9), date(2026, 11, 22))
    loaded = ingest_tlsrpt(cfg)
    assert (loaded.reports_read, loaded.reports_loaded, loaded.duplicates, loaded.reports_quarantined) == (71, 70, 1, 0)
    cfg = dataclasses.replace(cfg, own_domains=("contoso.co.uk", "contoso.com"))
    report = compute(cfg, date(2026, 11, 16), date(2026, 11, 22), generated_at=datetime(2026, 11, 23, tzinfo=UTC))
    found = {(i["status"], i["rule"], i["connector"], i["policy_domain"]) for i in report["insights"]}
    assert found == {
        ("new", "regression", "Outbound via Secure Gateway", None),
        ("new", "no_tls", "Outbound via Secure Gateway", None),
        ("persisting", "no_tls", "Partner Northwind Legacy", None),
        ("resolved", "tls10", "Inbound from On-Premises Relay", None),
        # the gateway's partner's certificate expired in the second week; Northwind never offered STARTTLS
        ("new", "tlsrpt_failures", "Outbound via Secure Gateway", "adatum.com"),
        ("new", "tls_mismatch", "Outbound via Secure Gateway", "adatum.com"),
        ("persisting", "tlsrpt_failures", "Partner Northwind Legacy", "northwindtraders.com"),
        ("persisting", "tls_mismatch", "Partner Northwind Legacy", "northwindtraders.com"),
    }
    assert [(d["policy_domain"], d["direction"]) for d in report["tlsrpt"]] == [
        ("contoso.com", "inbound"), ("fabrikam.com", "outbound"), ("northwindtraders.com", "outbound"),
        ("adatum.com", "outbound")]
    assert report["previous"]["start"] == "2026-11-09"
    assert report["headline"] == ("2 connectors need attention; 2 receiving domains report TLS failures; "
                                  "4 new findings, 1 resolved")


def test_sample_tls_reports_are_deterministic_and_in_every_style(tmp_path):
    a = generate_reports(date(2026, 11, 9), 2, tmp_path / "a")
    b = generate_reports(date(2026, 11, 9), 2, tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    names = [p.name for p in a]
    assert "google.com!contoso.com!1794182400!1794268799!001.json.gz" in names
    assert {p.suffix for p in a} == {".gz", ".eml", ".zip", ".json"}

"""The report: its SQL views on a hand-made warehouse, its arithmetic, insights and outputs."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime

import pytest

from etl import sql
from etl.contract import REPORTED_DIRECTIONS, TLS_BUCKETS
from etl.errors import ReportError
from etl.report.model import Thresholds, build_report
from etl.report.queries import open_window
from etl.report.render import render
from etl.report.request import ReportRequest, previous_week
from etl.shares import percentages
from etl.storage import Storage
from tests.conftest import commit_aggregates, compute, write_outputs

D1, D2, D3 = date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)

CONNECTOR_TLS = [
    # date, direction, connector, bucket, messages
    (D1, "inbound", "Relay", "TLS1.0", 6),
    (D1, "inbound", "Relay", "TLS1.2", 4),
    (D3, "inbound", "Relay", "TLS1.0", 1),
    (D1, "outbound", "Partner", "none", 3),
    (D1, "outbound", "Partner", "TLS1.2", 7),
    (D1, "inbound", None, "TLS1.3", 20),
    (D3, "outbound", None, "TLS1.2", 10),
    (D1, "internal", None, "unknown", 99),  # never in the report
]
REMOTE = [
    (D1, "outbound", "Partner", "none", "b.example", 2),
    (D1, "outbound", "Partner", "none", "a.example", 1),
    (D1, "inbound", "Relay", "TLS1.0", "relay.example", 6),
    (D3, "inbound", "Relay", "TLS1.0", "relay.example", 1),
]


@pytest.fixture
def warehouse(cfg):
    """The rows above, committed to the lake's aggregate tables day by day, as rebuilds do."""
    commit_aggregates(cfg, CONNECTOR_TLS, REMOTE, [(D1, 150, 2), (D3, 12, 0)])
    return cfg


def view(cfg, name, **params):
    con, _, _ = open_window(Storage(cfg), ReportRequest(D1, D3))
    if name != "report_days":
        params["directions"] = list(REPORTED_DIRECTIONS)
    if name not in ("report_days", "report_snapshot_tls"):
        params.setdefault("connectors", [])
    try:
        return con.execute(sql.load(f"report/{name}"), params).fetchall()
    finally:
        con.close()


WINDOW = {"start": D1, "end": D3}
ALL = {**WINDOW, "connector": None, "direction": None}


def test_report_days_lists_missing_days(warehouse):
    rows = view(warehouse, "report_days", **WINDOW)
    assert [(r[0], r[1]) for r in rows] == [(D1, True), (D2, False), (D3, True)]
    assert rows[1][2:] == (None, None, None)  # missing, not zero


def test_report_daily_flow(warehouse):
    assert view(warehouse, "report_daily_flow", **ALL) == [
        (D1, "Partner", "outbound", 10),
        (D1, "Relay", "inbound", 10),
        (D1, None, "inbound", 20),
        (D3, "Relay", "inbound", 1),
        (D3, None, "outbound", 10),
    ]
    assert view(warehouse, "report_daily_flow", **{**ALL, "connector": "Relay", "direction": "inbound"}) == [
        (D1, "Relay", "inbound", 10), (D3, "Relay", "inbound", 1)]


def test_report_connector_tls_sums_the_window(warehouse):
    assert view(warehouse, "report_connector_tls", **ALL) == [
        ("Partner", "outbound", "TLS1.2", 7),
        ("Partner", "outbound", "none", 3),
        ("Relay", "inbound", "TLS1.0", 7),
        ("Relay", "inbound", "TLS1.2", 4),
        (None, "inbound", "TLS1.3", 20),
        (None, "outbound", "TLS1.2", 10),
    ]


def test_report_snapshot_tls_ignores_the_connector_filter(warehouse):
    assert view(warehouse, "report_snapshot_tls", **WINDOW, direction="inbound") == [
        ("inbound", "TLS1.0", 7), ("inbound", "TLS1.2", 4), ("inbound", "TLS1.3", 20)]


def test_report_remote_domains_top_n(warehouse):
    rows = view(warehouse, "report_remote_domains", **ALL, buckets=["none", "TLS1.0"], top=1)
    assert rows == [("Partner", "outbound", "none", "b.example", 2), ("Relay", "inbound", "TLS1.0", "relay.example", 7)]


def test_largest_remainder_adds_up_to_exactly_100():
    assert percentages({"TLS1.3": 1, "TLS1.2": 1, "none": 1}, TLS_BUCKETS) == {
        "TLS1.3": 33.4, "TLS1.2": 33.3, "TLS1.1": 0.0, "TLS1.0": 0.0, "none": 33.3, "unknown": 0.0}
    rng = random.Random(1)
    for _ in range(500):
        counts = {b: rng.choice([0, 1, 2, 3, 7, 999, rng.randrange(10**6)]) for b in TLS_BUCKETS}
        if sum(counts.values()):
            assert round(sum(percentages(counts, TLS_BUCKETS).values()), 6) == 100.0
    assert sum(percentages({}, TLS_BUCKETS).values()) == 0.0


def _group_report(counts: dict[str, int], thresholds: Thresholds | None = None):
    return build_report(
        start=D1, end=D1, connector=None, direction=None, thresholds=thresholds or Thresholds(), generated_at=NOW,
        days=[{"date": D1, "loaded": True, "rows_read": 1, "rows_quarantined": 0, "messages": 1}], daily=[],
        connector_tls=[{"connector": "C", "direction": "outbound", "tls_version": b, "messages": n}
                       for b, n in counts.items()],
        snapshot_tls=[], remote_domains=[])


@pytest.mark.parametrize("none, tls10, rules", [
    (250, 0, []),  # exactly 25.0% does not fire
    (251, 0, ["no_tls"]),
    (0, 500, []),  # exactly 50.0% does not fire
    (0, 501, ["tls10"]),
    (251, 501, ["no_tls", "tls10"]),  # no TLS first: more severe
])
def test_thresholds_are_strict(none, tls10, rules):
    report = _group_report({"none": none, "TLS1.0": tls10, "TLS1.2": 1000 - none - tls10})
    assert [i["rule"] for i in report["insights"]] == rules


def test_thresholds_are_configurable():
    report = _group_report({"none": 100, "TLS1.2": 900}, Thresholds(no_tls_pct=5))
    (insight,) = report["insights"]
    assert (insight["share_pct"], insight["threshold_pct"], insight["title"]) == (10.0, 5, "No TLS is over 5%")


def test_compute_builds_the_documented_json(warehouse):
    report = compute(warehouse, D1, D3, generated_at=NOW)
    assert report["window"] == {"start": "2026-11-16", "end": "2026-11-18", "days": 3, "missing_days": ["2026-11-17"]}
    assert report["completeness"] == {"days_expected": 3, "days_present": 2, "rows_read": 162,
                                      "rows_quarantined": 2, "quarantined_pct": 1.2}
    assert report["headline"] == "2 connectors need attention; incomplete: 1 day missing"
    assert report["snapshot"]["inbound"]["tls"] == {"TLS1.3": 20, "TLS1.2": 4, "TLS1.1": 0, "TLS1.0": 7,
                                                    "none": 0, "unknown": 0}
    assert [(c["connector"], c["direction"], c["messages"]) for c in report["connectors"]] == [
        ("Partner", "outbound", 10), ("Relay", "inbound", 11), (None, "inbound", 20), (None, "outbound", 10)]
    partner = report["connectors"][0]
    assert partner["tls_pct"]["none"] == 30.0 and sum(partner["tls_pct"].values()) == 100.0
    assert [(i["connector"], i["rule"], i["share_pct"], i["top_remote_domains"]) for i in report["insights"]] == [
        ("Partner", "no_tls", 30.0, [{"domain": "b.example", "messages": 2}, {"domain": "a.example", "messages": 1}]),
        ("Relay", "tls10", 63.6, [{"domain": "relay.example", "messages": 7}]),
    ]
    assert {"date", "connector", "direction", "messages"} == set(report["daily"][0])
    assert json.loads(render(report, "json")) == report


def test_filters_narrow_every_view(warehouse):
    report = compute(warehouse, D1, D3, connector="Relay", direction="inbound", generated_at=NOW)
    assert report["filters"] == {"connector": "Relay", "direction": "inbound", "connectors": [], "subscription": None}
    assert [c["connector"] for c in report["connectors"]] == ["Relay"]
    assert list(report["snapshot"]) == ["inbound"]
    assert [i["rule"] for i in report["insights"]] == ["tls10"]


def test_a_subscriptions_connector_globs_narrow_every_view_but_the_organisations_snapshot(warehouse):
    report = compute(warehouse, D1, D3, connectors=("Part*", "Nowhere"), subscription="partners", generated_at=NOW)
    assert report["filters"]["connectors"] == ["Part*", "Nowhere"]
    assert [c["connector"] for c in report["connectors"]] == ["Partner"]
    assert {d["connector"] for d in report["daily"]} == {"Partner"}
    assert [i["connector"] for i in report["insights"]] == ["Partner"]
    assert report["snapshot"]["inbound"]["messages"] == 31  # the whole organisation, as in every report
    text = render(report, "txt").decode()
    assert "direction: inbound and outbound; subscription: partners (connectors Part*, Nowhere)\n" in text
    for fmt in ("html", "email"):
        assert "partners" in render(report, fmt).decode() and "Part*, Nowhere" in render(report, fmt).decode()


def test_text_output_carries_the_numbers(warehouse, tmp_path):
    report = compute(warehouse, D1, D3, generated_at=NOW)
    paths = write_outputs(report, tmp_path / "out")
    assert [p.name for p in paths] == ["report.html", "email.html", "report.txt", "report.json"]
    text = (tmp_path / "out" / "report.txt").read_text()
    for expected in ("2 connectors need attention", "MISSING: 2026-11-17", "2 of 162 rows read (1.2%)",
                     "[New] Partner (outbound): No TLS is over 25%\n    30.0% of 10 messages (3).",
                     "Top remote domains: b.example (2), a.example (1)", "No connector", "63.6%",
                     "Counting unit: one message per recipient"):
        assert expected in text, expected


@pytest.mark.parametrize("start, end, message", [
    (D3, D1, "ends .* before it starts"),
    (date(2025, 1, 1), date(2026, 1, 2), "at most 366"),
])
def test_bad_windows_are_refused(warehouse, start, end, message):
    with pytest.raises(ReportError, match=message):
        compute(warehouse, start, end, generated_at=NOW)


def test_previous_week_is_monday_to_sunday():
    assert previous_week(date(2026, 11, 23)) == (date(2026, 11, 16), date(2026, 11, 22))  # a Monday
    assert previous_week(date(2026, 11, 29)) == (date(2026, 11, 16), date(2026, 11, 22))  # a Sunday


def test_the_schema_describes_the_typed_report_and_refuses_what_it_is_not(warehouse):
    from typing import get_type_hints

    from etl.report.document import SCHEMA_VERSION, Report
    from tests.conftest import report_schema_validator

    validator = report_schema_validator()
    report = compute(warehouse, D1, D3, generated_at=NOW)
    assert report["schema_version"] == SCHEMA_VERSION
    assert list(validator.iter_errors(report)) == []
    assert set(validator.schema["required"]) == set(get_type_hints(Report)) == set(report)
    for broken in ({**report, "extra": 1}, {k: v for k, v in report.items() if k != "insights"},
                   {**report, "schema_version": SCHEMA_VERSION + 1},
                   {**report, "window": {**report["window"], "start": "16/11/2026"}}):
        assert list(validator.iter_errors(broken)), broken.keys()


def test_an_insight_shows_the_same_share_as_the_table_and_above_its_threshold():
    # 1,001 TLS 1.0 of 2,000 is 50.05%: one decimal would show 50.0% beside "above 50%"
    report = _group_report({"TLS1.0": 1001, "TLS1.2": 999}, Thresholds())
    (insight,) = report["insights"]
    shares = report["connectors"][0]["tls_pct"]
    assert insight["rule"] == "tls10" and insight["share_pct"] == shares["TLS1.0"] == 50.05
    assert shares["TLS1.2"] == 49.95 and sum(shares.values()) == 100.0
    # 2,501 of 10,000 without TLS is 25.01%, above 25%
    report = _group_report({"none": 2501, "TLS1.2": 7499}, Thresholds())
    (insight,) = report["insights"]
    assert insight["share_pct"] == report["connectors"][0]["tls_pct"]["none"] == 25.01
    assert render(report, "txt").decode().count("25.01%") >= 2  # in the insight and in the TLS table


def test_changes_are_signed_points_without_floating_point_noise():
    from etl.shares import format_points

    assert [format_points(c) for c in (64.6 - 100.0, 20.0, 0.0, 50.05 - 40.0, None)] == [
        "−35.4", "+20.0", "0.0", "+10.05", "–"]


def test_shares_show_as_many_decimals_as_they_were_rounded_to():
    from etl.shares import format_pct, percentage, percentages_above

    assert [format_pct(x) for x in (50.0, 50.05, 0.0, 100.0, 25.01)] == ["50.0%", "50.05%", "0.0%", "100.0%",
                                                                          "25.01%"]
    # exactly at the threshold does not fire and needs no more decimals
    assert percentages_above({"a": 1, "b": 3}, ("a", "b"), [("a", 25.0)]) == {"a": 25.0, "b": 75.0}
    # 1,000,001 of 2,000,000 is 50.00005%: four decimals before the share shows above 50
    assert percentages_above({"a": 1_000_001, "b": 999_999}, ("a", "b"), [("a", 50.0)]) == {"a": 50.0001, "b": 49.9999}
    assert [percentage(1, 8), percentage(1, 3), percentage(0, 0)] == [12.5, 33.3, 0.0]  # half up, as before


def test_a_window_with_no_day_loaded_is_refused_not_reported(warehouse):
    with pytest.raises(ReportError, match="no day of 2026-11-30 to 2026-12-06 is loaded; load them first"):
        compute(warehouse, date(2026, 11, 30), date(2026, 12, 6), generated_at=NOW)

"""What changed since the previous window: the comparison, the trend, the insights' status and
the comparison rules, on four hand-made weeks of aggregates with every figure computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from etl import sql
from etl.contract import REPORTED_DIRECTIONS
from etl.report.queries import open_window
from etl.report.request import ReportRequest
from etl.storage import Storage
from tests.conftest import commit_aggregates, compute

W1, W2, W3, W4 = (date(2026, 10, 26) + timedelta(weeks=i) for i in range(4))  # Mondays; W4 is reported
NOW = datetime(2026, 11, 23, 6, tzinfo=UTC)

# (Monday of the week, connector, direction, {bucket: messages})
WEEKS = [
    # No TLS 30% -> 10%: resolved
    (W3, "Fixed", "outbound", {"none": 300, "TLS1.2": 700}),
    (W4, "Fixed", "outbound", {"none": 100, "TLS1.2": 900}),
    # No TLS 10% -> 30%: new (encrypted 70% both weeks: no regression)
    (W3, "Worse", "outbound", {"none": 100, "TLS1.2": 700, "TLS1.0": 200}),
    (W4, "Worse", "outbound", {"none": 300, "TLS1.2": 700}),
    # No TLS 20%, then 30%, 32%, 35%: persisting since W2. W1 -> W2 the encrypted share falls by
    # exactly 10.0 points, which is not more than 10: no regression.
    (W1, "Stuck", "outbound", {"none": 200, "TLS1.2": 800}),
    (W2, "Stuck", "outbound", {"none": 300, "TLS1.2": 700}),
    (W3, "Stuck", "outbound", {"none": 320, "TLS1.2": 680}),
    (W4, "Stuck", "outbound", {"none": 350, "TLS1.2": 650}),
    # encrypted 95% -> 80% (the rest TLS 1.1): a regression
    (W3, "Slipping", "outbound", {"TLS1.2": 950, "TLS1.1": 50}),
    (W4, "Slipping", "outbound", {"TLS1.2": 800, "TLS1.1": 200}),
    # encrypted 100% -> 50%, but on fewer than 100 messages: not a regression
    (W3, "Small", "outbound", {"TLS1.2": 50}),
    (W4, "Small", "outbound", {"TLS1.2": 25, "TLS1.1": 25}),
    # mail last week, none this week: silent
    (W3, "Gone", "inbound", {"TLS1.3": 500}),
    # mail this week only: new
    (W4, "Fresh", "outbound", {"TLS1.3": 150}),
]


def _commit(cfg, skip_load: date | None = None):
    rows = [(monday, direction, connector, bucket, n) for monday, connector, direction, counts in WEEKS
            for bucket, n in counts.items()]
    days = [W1 + timedelta(days=i) for i in range(28)]
    commit_aggregates(cfg, rows, loads=[(day, 10, 0) for day in days if day != skip_load])
    return cfg


@pytest.fixture
def four_weeks(cfg):
    return _commit(cfg)


def _report(cfg):
    return compute(cfg, W4, W4 + timedelta(days=6), generated_at=NOW)


def _summary(report):
    return [(i["status"], i["rule"], i["connector"], i["since"]) for i in report["insights"]]


def test_the_history_views_sum_each_window_of_the_series(four_weeks):
    request = ReportRequest(W4, W4 + timedelta(days=6), connector="Stuck")
    con, _, series = open_window(Storage(four_weeks), request)
    params = {"starts": [w.start for w in series], "ends": [w.end for w in series]}
    try:
        days = con.execute(sql.load("report/report_history_days"), params).fetchall()
        rows = con.execute(sql.load("report/report_history"), {
            **params, "connector": "Stuck", "direction": None, "directions": list(REPORTED_DIRECTIONS),
            "connectors": []}).fetchall()
    finally:
        con.close()
    assert days == [(0, W4, W4 + timedelta(days=6), 7, 7), (1, W3, W3 + timedelta(days=6), 7, 7),
                    (2, W2, W2 + timedelta(days=6), 7, 7), (3, W1, W1 + timedelta(days=6), 7, 7)]
    assert rows == [(0, "Stuck", "outbound", "TLS1.2", 650), (0, "Stuck", "outbound", "none", 350),
                    (1, "Stuck", "outbound", "TLS1.2", 680), (1, "Stuck", "outbound", "none", 320),
                    (2, "Stuck", "outbound", "TLS1.2", 700), (2, "Stuck", "outbound", "none", 300),
                    (3, "Stuck", "outbound", "TLS1.2", 800), (3, "Stuck", "outbound", "none", 200)]


def test_insights_are_new_persisting_or_resolved_new_first(four_weeks):
    report = _report(four_weeks)
    assert _summary(report) == [
        ("new", "regression", "Slipping", "2026-11-16"),  # severity 1, 1,000 messages
        ("new", "no_tls", "Worse", "2026-11-16"),  # severity 1, 300 messages
        ("new", "silent_connector", "Gone", "2026-11-16"),
        ("new", "new_connector", "Fresh", "2026-11-16"),
        ("persisting", "no_tls", "Stuck", "2026-11-02"),
        ("resolved", "no_tls", "Fixed", None),
    ]
    assert report["headline"] == "4 connectors need attention; 3 new findings, 1 resolved"
    by_rule = {(i["rule"], i["connector"]): i for i in report["insights"]}
    regression = by_rule[("regression", "Slipping")]
    assert (regression["title"], regression["share_pct"], regression["previous_share_pct"]) == (
        "Encrypted share fell by more than 10 points", 80.0, 95.0)
    resolved = by_rule[("no_tls", "Fixed")]
    assert (resolved["share_pct"], resolved["previous_share_pct"], resolved["messages"],
            resolved["messages_total"], resolved["previous_messages_total"]) == (10.0, 30.0, 100, 1000, 1000)
    silent = by_rule[("silent_connector", "Gone")]
    assert (silent["direction"], silent["messages_total"], silent["previous_messages_total"]) == ("inbound", 0, 500)


def test_every_connector_is_compared_with_the_previous_week(four_weeks):
    report = _report(four_weeks)
    assert report["previous"] == {"start": "2026-11-09", "end": "2026-11-15", "days": 7, "days_present": 7,
                                  "missing_days": []}
    rows = {c["connector"]: c for c in report["connectors"]}
    assert list(rows) == ["Fixed", "Fresh", "Gone", "Slipping", "Small", "Stuck", "Worse"]
    fixed = rows["Fixed"]
    assert (fixed["messages"], fixed["previous"]["messages"]) == (1000, 1000)
    assert (fixed["tls_pct"]["none"], fixed["previous"]["tls_pct"]["none"]) == (10.0, 30.0)
    assert fixed["change_pp"] == {"TLS1.3": 0.0, "TLS1.2": 20.0, "TLS1.1": 0.0, "TLS1.0": 0.0, "none": -20.0,
                                  "unknown": 0.0, "encrypted": 20.0}
    assert rows["Slipping"]["change_pp"]["encrypted"] == -15.0
    # a connector with mail on one side only has figures then and now, but no change
    assert (rows["Gone"]["messages"], rows["Gone"]["previous"]["messages"], rows["Gone"]["change_pp"]) == (0, 500, None)
    assert (rows["Fresh"]["messages"], rows["Fresh"]["previous"]["messages"], rows["Fresh"]["change_pp"]) == (
        150, 0, None)


def test_the_trend_has_a_point_per_week_and_none_where_a_connector_had_no_mail(four_weeks):
    report = _report(four_weeks)
    assert report["trend"]["period"] == "week"
    assert [w["start"] for w in report["trend"]["windows"]] == ["2026-10-26", "2026-11-02", "2026-11-09",
                                                               "2026-11-16"]
    rows = {c["connector"]: c for c in report["connectors"]}
    assert [p["none_pct"] for p in rows["Stuck"]["trend"]] == [20.0, 30.0, 32.0, 35.0]
    assert [p["encrypted_pct"] for p in rows["Stuck"]["trend"]] == [80.0, 70.0, 68.0, 65.0]
    assert rows["Fresh"]["trend"][0] == {"messages": 0, "encrypted_pct": None, "none_pct": None, "tls10_pct": None}
    assert rows["Worse"]["trend"][2] == {"messages": 1000, "encrypted_pct": 70.0, "none_pct": 10.0, "tls10_pct": 20.0}
    # the report's own window is the trend's last point, with the same figures as its row
    for row in report["connectors"]:
        if row["messages"]:
            assert row["trend"][-1]["encrypted_pct"] == row["encrypted_pct"]


def test_a_previous_week_with_a_missing_day_is_stated_and_no_comparison_rule_fires_on_it(cfg):
    report = _report(_commit(cfg, skip_load=W3 + timedelta(days=1)))
    assert report["previous"]["missing_days"] == ["2026-11-10"]
    assert report["previous"]["days_present"] == 6
    # shares still speak for the days loaded; a regression, a silence or a newcomer cannot be told
    assert _summary(report) == [
        ("new", "no_tls", "Worse", "2026-11-16"),
        ("persisting", "no_tls", "Stuck", "2026-11-02"),
        ("resolved", "no_tls", "Fixed", None),
    ]
    assert report["trend"]["windows"][2]["days_present"] == 6


def test_a_week_without_any_data_breaks_the_run_and_is_not_drawn(cfg):
    rows = [(W2, "outbound", "Stuck", "none", 300), (W2, "outbound", "Stuck", "TLS1.2", 700),
            (W4, "outbound", "Stuck", "none", 350), (W4, "outbound", "Stuck", "TLS1.2", 650)]
    loaded = [W2 + timedelta(days=i) for i in range(7)] + [W4 + timedelta(days=i) for i in range(7)]
    commit_aggregates(cfg, rows, loads=[(day, 10, 0) for day in loaded])
    report = _report(cfg)
    # W3 has no day loaded: the insight is new this week (it cannot be said to have persisted)
    assert _summary(report) == [("new", "no_tls", "Stuck", "2026-11-16")]
    assert report["previous"]["days_present"] == 0 and report["connectors"][0]["previous"] is None
    assert [w["start"] for w in report["trend"]["windows"]] == ["2026-11-02", "2026-11-09", "2026-11-16"]
    assert report["connectors"][0]["trend"][1] is None
    assert report["headline"] == "1 connector needs attention"

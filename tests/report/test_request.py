"""One rule for the report window, whoever asks: the CLI, the weekly DAG's Params, backfill."""

from __future__ import annotations

from datetime import date

import pytest

from etl.errors import ReportError
from etl.report.request import ReportRequest

TODAY = date(2026, 11, 25)  # a Wednesday


@pytest.mark.parametrize("start, end, window", [
    (None, None, (date(2026, 11, 16), date(2026, 11, 22))),  # the Monday-to-Sunday week before today
    (date(2026, 11, 10), None, (date(2026, 11, 10), date(2026, 11, 16))),  # 7 days from the first day
    (None, date(2026, 11, 10), (date(2026, 11, 4), date(2026, 11, 10))),  # 7 days up to the last day
    (date(2026, 11, 10), date(2026, 11, 10), (date(2026, 11, 10), date(2026, 11, 10))),
])
def test_days_left_out_are_resolved_one_way(start, end, window):
    request = ReportRequest.resolve(today=TODAY, start=start, end=end)
    assert (request.start, request.end) == window


def test_a_monday_resolves_to_the_week_that_just_ended():
    assert ReportRequest.resolve(today=date(2026, 11, 23)).report_id == "2026-W47"


def test_empty_filters_mean_all_and_round_trip_through_json():
    request = ReportRequest.resolve(today=TODAY, connector="", direction="")
    assert (request.connector, request.direction) == (None, None)
    narrowed = ReportRequest.resolve(today=TODAY, connector="Relay", direction="inbound")
    assert ReportRequest.from_json(narrowed.to_json()) == narrowed
    assert narrowed.name == "2026-11-16_2026-11-22_connector-Relay_inbound"


@pytest.mark.parametrize("kwargs, message", [
    ({"start": date(2026, 11, 10), "end": date(2026, 11, 9)}, r"ends \(2026-11-09\) before it starts"),
    ({"start": date(2025, 1, 1), "end": date(2026, 1, 2)}, "at most 366"),
    ({"direction": "internal"}, "inbound or outbound"),
])
def test_bad_requests_are_one_line(kwargs, message):
    with pytest.raises(ReportError, match=message):
        ReportRequest.resolve(today=TODAY, **kwargs)


def test_a_month_is_a_calendar_month_compared_with_the_one_before():
    november = ReportRequest.resolve(today=TODAY, month="2026-11")
    assert (november.start, november.end, november.report_id, november.period) == (
        date(2026, 11, 1), date(2026, 11, 30), "2026-11", "month")
    january = ReportRequest.resolve(today=TODAY, month="2027-01")
    assert (january.earlier().start, january.earlier().end) == (date(2026, 12, 1), date(2026, 12, 31))
    march = ReportRequest.resolve(today=TODAY, month="2028-03")
    assert (march.earlier().start, march.earlier().end) == (date(2028, 2, 1), date(2028, 2, 29))  # a leap year
    assert [w.start for w in march.series(back_to=date(2027, 12, 15))] == [
        date(2028, 3, 1), date(2028, 2, 1), date(2028, 1, 1), date(2027, 12, 1)]


def test_other_windows_are_compared_with_as_many_days_just_before():
    week = ReportRequest.resolve(today=TODAY)
    assert (week.earlier().start, week.earlier().end, week.period, week.cadence) == (
        date(2026, 11, 9), date(2026, 11, 15), "week", "weekly")
    three = ReportRequest(date(2026, 11, 10), date(2026, 11, 12))
    assert (three.earlier(2).start, three.earlier(2).end, three.period, three.cadence) == (
        date(2026, 11, 4), date(2026, 11, 6), "3 days", None)


def test_a_subscriptions_report_has_its_own_archive_id_and_folder():
    week = ReportRequest.resolve(today=TODAY)
    partners = ReportRequest(week.start, week.end, connectors=("Partner *",), subscription="partners")
    assert (partners.report_id, partners.name) == ("2026-W47/partners", "2026-11-16_2026-11-22_sub-partners")
    assert ReportRequest.from_json(partners.to_json()) == partners
    assert ReportRequest(week.start, week.end, connectors=("Partner *",)).report_id.startswith("adhoc/")


@pytest.mark.parametrize("month", ["2026-13", "November", "2026"])
def test_a_bad_month_is_one_line(month):
    with pytest.raises(ReportError, match="YYYY-MM"):
        ReportRequest.resolve(today=TODAY, month=month)

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

"""Weekly mail flow & TLS report, from the warehouse's daily aggregates.

Scheduled on Mondays 06:00 UTC for the previous Monday to Sunday (the week before the one where
the data interval ends), compared with the week before it; one report for the organisation and
one per weekly subscription. Triggered by hand, the Params pick any window (up to 366 days), one
connector and/or one direction: the widget's "Filter", from the Airflow trigger form. Days left
out are resolved as `mailflow report` resolves them (etl.report.request.ReportRequest.resolve).
The tasks and their rules are in mailflow_reports.py.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable
from mailflow_reports import report_dag

report_dag(
    dag_id="mailflow_weekly_report",
    cadence="weekly",
    schedule=CronTriggerTimetable("0 6 * * 1", timezone="UTC", interval=timedelta(days=7)),
    start_date=pendulum.datetime(2026, 11, 2, tz="UTC"),
    window_doc="Leave both days empty for the previous Monday to Sunday; one alone gives the 7 days from (or to) it.",
    # Monday 06:00 UTC + 2 h: the operators hear of a weekly report not mailed by Monday 08:00
    late_after=timedelta(hours=2),
    doc_md=__doc__,
)

"""Monthly mail flow & TLS report, from the warehouse's daily aggregates.

Scheduled on the 1st of the month 06:00 UTC for the previous calendar month (archived as
`2026-11`), compared with the month before it, with a trend of the last 12 months; one report for
the organisation and one per monthly subscription. Triggered by hand, the Params pick any window
and filter, as in the weekly report. The tasks and their rules are in mailflow_reports.py; the
same report from the command line is `mailflow report --month 2026-11`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable
from mailflow_reports import report_dag

report_dag(
    dag_id="mailflow_monthly_report",
    cadence="monthly",
    schedule=CronTriggerTimetable("0 6 1 * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    window_doc="Leave both days empty for the previous calendar month; one alone gives the 7 days from (or to) it.",
    # the 1st 06:00 UTC + 2 h: the operators hear of a monthly report not mailed by 08:00
    late_after=timedelta(hours=2),
    doc_md=__doc__,
)

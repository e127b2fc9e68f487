"""Weekly mail flow & TLS report, from the warehouse's daily aggregates.

Scheduled on Mondays 06:00 UTC for the previous Monday to Sunday (the week that ends where the
data interval ends). Triggered by hand, the Params pick any window (up to 366 days), one
connector and/or one direction: the widget's "Filter", from the Airflow trigger form.
Each task calls one `etl.report` step and passes a file path to the next.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task


@dag(
    dag_id="mailflow_weekly_report",
    schedule=CronTriggerTimetable("0 6 * * 1", timezone="UTC", interval=timedelta(days=7)),
    start_date=pendulum.datetime(2026, 11, 2, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "start": Param(None, type=["null", "string"], format="date", title="First day (UTC)",
                       description="Leave empty for the previous Monday to Sunday."),
        "end": Param(None, type=["null", "string"], format="date", title="Last day (UTC)"),
        "connector": Param(None, type=["null", "string"], title="Only this connector"),
        "direction": Param(None, type=["null", "string"], enum=[None, "inbound", "outbound"],
                           title="Only this direction"),
    },
    tags=["mailflow"],
    doc_md=__doc__,
)
def mailflow_weekly_report():
    @task
    def completeness_check(params=None, data_interval_end=None) -> dict:
        from datetime import date

        from etl.config import settings
        from etl.report import completeness, previous_week

        start, end = previous_week(data_interval_end.date())
        if params["start"] or params["end"]:
            start = date.fromisoformat(params["start"] or params["end"])
            end = date.fromisoformat(params["end"] or params["start"])
        window = {"start": start.isoformat(), "end": end.isoformat(),
                  "connector": params["connector"], "direction": params["direction"]}
        status = completeness(settings(), start, end)
        print(f"window {window}: {status['days_present']} of {status['days_expected']} days loaded; "
              f"missing {status['missing_days'] or 'none'}")
        return window

    @task
    def views(window: dict) -> str:
        from datetime import date

        from etl.config import settings
        from etl.report import save_views

        return str(save_views(settings(), date.fromisoformat(window["start"]), date.fromisoformat(window["end"]),
                              window["connector"], window["direction"]))

    @task
    def insights(views_path: str) -> str:
        from datetime import UTC, datetime
        from pathlib import Path

        from etl.config import settings
        from etl.report import save_report
        from etl.report_model import Thresholds

        cfg = settings()
        return str(save_report(Path(views_path), Thresholds(cfg.no_tls_pct, cfg.tls10_pct), datetime.now(UTC)))

    @task
    def render(report_path: str) -> list[str]:
        from pathlib import Path

        from etl.report import render_saved

        return [str(p) for p in render_saved(Path(report_path))]

    render(insights(views(completeness_check())))


mailflow_weekly_report()

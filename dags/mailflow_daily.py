"""Daily load of the mail-flow message-trace export: landing folder -> lake -> warehouse.

The run for the data interval [D 02:00, D+1 02:00) UTC loads the UTC day D, whose export
lands in the early hours of D+1. Each task calls one `etl` function and passes only the
date along; re-running a task replaces its partition or its warehouse rows.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, PokeReturnValue, dag, task

WAREHOUSE_DAILY = Asset("mailflow://warehouse/daily")
EXPORT_DEADLINE = timedelta(hours=20)  # after the interval ends; then the run fails loudly


@dag(
    dag_id="mailflow_daily",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, 2, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["mailflow"],
    doc_md=__doc__,
)
def mailflow_daily():
    @task.sensor(poke_interval=600, timeout=EXPORT_DEADLINE.total_seconds() + 3600, mode="reschedule")
    def wait_for_export(data_interval_start=None, data_interval_end=None) -> PokeReturnValue:
        from etl.config import settings
        from etl.storage import Lake

        day = data_interval_start.date()
        lake = Lake(settings())
        files = lake.landing_files(day)
        if not files and pendulum.now("UTC") > data_interval_end + EXPORT_DEADLINE:
            from airflow.sdk.exceptions import AirflowSensorTimeout

            raise AirflowSensorTimeout(lake.no_export_message(day))
        return PokeReturnValue(is_done=bool(files), xcom_value=day.isoformat())

    @task
    def ingest(day: str) -> dict:
        from datetime import date

        from etl.config import settings
        from etl.ingest import ingest_day

        result = ingest_day(settings(), date.fromisoformat(day))
        print(f"loaded {result.summary()}; warnings {result.warnings or 'none'}")
        return result.summary()

    @task
    def aggregate(load: dict) -> dict:
        from datetime import date

        from etl.config import settings
        from etl.warehouse import rebuild_day

        return rebuild_day(settings(), date.fromisoformat(load["date"]))

    @task(outlets=[WAREHOUSE_DAILY])
    def quality_gate(aggregates: dict) -> dict:
        from datetime import date

        from etl.config import settings
        from etl.quality import check_day

        return check_day(settings(), date.fromisoformat(aggregates["date"]))

    quality_gate(aggregate(ingest(wait_for_export())))


mailflow_daily()

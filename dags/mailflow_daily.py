"""Daily load of the mail-flow message-trace export: landing folder -> lake -> warehouse.

The run for the data interval [D 02:00, D+1 02:00) UTC loads the UTC day D, whose export
lands in the early hours of D+1. Each task calls one step of `etl.pipeline` (the chain that
`mailflow ingest` and backfill run too) and passes only the date along; re-running a task
replaces its partition or its warehouse rows.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import CronDataIntervalTimetable, PokeReturnValue, dag, task
from mailflow_alerts import failure_alerts, hours, late_run_alert, retry_delay

log = logging.getLogger(__name__)

# How long after the data interval ends the export may still arrive (MAILFLOW_EXPORT_DEADLINE_HOURS,
# default 20). The one clock for it is the check in the sensor's body, measured from the interval
# (not from when the sensor started), so a backfilled run for a long-past day without an export
# fails at once instead of waiting again.
EXPORT_DEADLINE = hours("MAILFLOW_EXPORT_DEADLINE_HOURS", 20)


@dag(
    dag_id="mailflow_daily",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, 2, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": retry_delay(), "retry_exponential_backoff": 2.0,
                  "on_failure_callback": failure_alerts()},
    # the operators hear of a day not loaded MAILFLOW_EXPORT_ALERT_HOURS (6) after its run could start,
    # long before the sensor gives up on the export (EXPORT_DEADLINE)
    deadline=late_run_alert("DAGRUN_QUEUED_AT", hours("MAILFLOW_EXPORT_ALERT_HOURS", 6),
                            "the day's export has not been loaded"),
    tags=["mailflow"],
    doc_md=__doc__,
)
def mailflow_daily():
    @task.sensor(poke_interval=600, mode="reschedule", retries=0)
    def wait_for_export(data_interval_start=None, data_interval_end=None) -> PokeReturnValue:
        from mailflow_settings import settings

        from etl.storage import Storage

        day = data_interval_start.date()
        storage = Storage(settings())
        files = storage.landing_files(day)
        if not files and pendulum.now("UTC") > data_interval_end + EXPORT_DEADLINE:
            from airflow.sdk.exceptions import AirflowSensorTimeout

            raise AirflowSensorTimeout(storage.no_export_message(day))
        return PokeReturnValue(is_done=bool(files), xcom_value=day.isoformat())

    @task
    def ingest(day: str) -> dict:
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException
        from mailflow_settings import settings

        from etl.errors import ExportError
        from etl.pipeline import ingest

        try:
            result = ingest(settings(), date.fromisoformat(day))
        except ExportError as exc:  # the file itself is wrong: a retry would read it again
            raise AirflowFailException(str(exc)) from exc
        log.info("loaded %s; warnings %s", result.summary(), result.warnings or "none")
        return result.summary()

    @task
    def aggregate(load: dict) -> dict:
        from datetime import date

        from mailflow_settings import settings

        from etl.pipeline import aggregate

        return aggregate(settings(), date.fromisoformat(load["date"]))

    @task
    def quality_gate(aggregates: dict) -> dict:
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException
        from mailflow_settings import settings

        from etl.errors import DataQualityError
        from etl.pipeline import gate

        try:
            return gate(settings(), date.fromisoformat(aggregates["date"]))
        except DataQualityError as exc:  # the loaded data will not change by waiting: no retry
            raise AirflowFailException(str(exc)) from exc

    quality_gate(aggregate(ingest(wait_for_export())))


mailflow_daily()

"""SMTP TLS reports (RFC 8460) received from other domains: landing folder -> lake.

Its own DAG, not a task of mailflow_daily: a report arrives a day or more after the day it
covers, from each reporter on its own schedule, and sometimes again by another route, so loading
them is not a partition of one business day. Each run loads what the landing folder's tlsrpt/
holds and replaces only the days whose reports changed (etl.load.tlsrpt_ingest): a re-run, or a
run after an outage, does the same thing; a late report is picked up by the next run. Runs daily
before the weekly report (Mondays 06:00 UTC), which shows what the reports say.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task
from mailflow_alerts import failure_alerts, retry_delay

log = logging.getLogger(__name__)


@dag(
    dag_id="mailflow_tlsrpt",
    schedule=CronTriggerTimetable("30 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,  # every run loads the whole folder: there is nothing to catch up on
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": retry_delay(), "retry_exponential_backoff": 2.0,
                  "on_failure_callback": failure_alerts()},
    tags=["mailflow"],
    doc_md=__doc__,
)
def mailflow_tlsrpt():
    @task
    def load_tls_reports() -> dict:
        from dataclasses import asdict

        from mailflow_settings import settings

        from etl.pipeline import ingest_tlsrpt

        result = asdict(ingest_tlsrpt(settings()))
        log.info("TLS reports: read %(reports_read)s, loaded %(reports_loaded)s, quarantined "
                 "%(reports_quarantined)s, duplicates %(duplicates)s", result)
        for reason, count in result["quarantine_reasons"].items():
            log.warning("quarantined %s report(s): %s", count, reason)
        return result

    load_tls_reports()


mailflow_tlsrpt()

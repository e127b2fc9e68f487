"""Weekly mail flow & TLS report, from the warehouse's daily aggregates.

Scheduled on Mondays 06:00 UTC for the previous Monday to Sunday (the week before the one where
the data interval ends). Triggered by hand, the Params pick any window (up to 366 days), one
connector and/or one direction: the widget's "Filter", from the Airflow trigger form. Days left
out are resolved as `mailflow report` resolves them (etl.report.request.ReportRequest.resolve).
Each task calls one step of `etl.pipeline` and passes a storage key or an archive id to the next.

Every run is archived as a new revision. Scheduled runs are mailed; a backfilled or hand-triggered
run is mailed only when the `send` Param is set. A revision is mailed at most once, so a retried
send task never mails twice. SMTP settings come from the connection `smtp_default` (host, port,
login, password; extra: from, recipients, allow_plaintext, ca_file); without it the message is
written to the outbox folder.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task
from mailflow_alerts import failure_alerts, late_run_alert, retry_delay

log = logging.getLogger(__name__)


@dag(
    dag_id="mailflow_weekly_report",
    schedule=CronTriggerTimetable("0 6 * * 1", timezone="UTC", interval=timedelta(days=7)),
    start_date=pendulum.datetime(2026, 11, 2, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": retry_delay(), "retry_exponential_backoff": 2.0,
                  "on_failure_callback": failure_alerts()},
    # Monday 06:00 UTC + 2 h: the operators hear of a weekly report not mailed by Monday 08:00
    deadline=late_run_alert("DAGRUN_LOGICAL_DATE", timedelta(hours=2), "the weekly report has not been mailed"),
    params={
        "start": Param(None, type=["null", "string"], format="date", title="First day (UTC)",
                       description="Leave both days empty for the previous Monday to Sunday; "
                                   "one alone gives the 7 days from (or to) it."),
        "end": Param(None, type=["null", "string"], format="date", title="Last day (UTC)"),
        "connector": Param(None, type=["null", "string"], title="Only this connector"),
        "direction": Param(None, type=["null", "string"], enum=[None, "inbound", "outbound"],
                           title="Only this direction"),
        "send": Param(False, type="boolean", title="Mail it",
                      description="Scheduled runs are always mailed; others only when this is set."),
        "reason": Param(None, type=["null", "string"], title="Why this run (recorded in the archive)",
                        description="e.g. late data, rerun after a fix"),
    },
    tags=["mailflow"],
    doc_md=__doc__,
)
def mailflow_weekly_report():
    @task
    def completeness_check(params=None, data_interval_end=None, dag_run=None) -> dict:
        from datetime import date

        from mailflow_settings import settings

        from etl.pipeline import plan_report
        from etl.report.request import ReportRequest

        def day(text):
            return date.fromisoformat(text) if text else None

        # a run triggered without a logical date has no data interval: its clock is when it was asked for
        today = (data_interval_end or dag_run.run_after).date()
        request = ReportRequest.resolve(today=today, start=day(params["start"]),
                                        end=day(params["end"]), connector=params["connector"],
                                        direction=params["direction"])
        plan = plan_report(settings(), request)
        log.info("window %s: %s of %s days loaded; missing %s", plan["request"], plan["days_present"],
                 plan["days_expected"], plan["missing_days"] or "none")
        return plan["request"]

    @task
    def views(request: dict) -> str:
        from mailflow_settings import settings

        from etl.pipeline import report_views
        from etl.report.request import ReportRequest

        return report_views(settings(), ReportRequest.from_json(request))

    @task
    def insights(views_key: str) -> str:
        from datetime import UTC, datetime

        from mailflow_settings import settings

        from etl.pipeline import report_model

        return report_model(settings(), views_key, datetime.now(UTC))

    @task(retries=0)  # a retry would add a second revision; a failed archive leaves nothing behind anyway
    def render_and_archive(report_key: str, params=None) -> dict:
        from datetime import UTC, datetime

        from mailflow_settings import settings

        from etl.pipeline import publish_report

        published = publish_report(settings(), report_key, archive=True, smtp=_smtp_settings(),
                                   reason=params["reason"], now=datetime.now(UTC))
        log.info("rendered %s; archived %s", sorted(published["outputs"]), published["archived"])
        return published["archived"]

    @task(retries=4, retry_delay=timedelta(minutes=1))
    def send(archived: dict, params=None, dag_run=None) -> dict | None:
        from mailflow_settings import settings

        from etl.pipeline import send_report

        if dag_run.run_type != "scheduled" and not params["send"]:
            kind = getattr(dag_run.run_type, "value", dag_run.run_type)
            log.info("%s r%s archived, not mailed: a %s run is mailed only with the send Param",
                     archived["report_id"], archived["revision"], kind)
            return None
        receipt = send_report(settings(), archived["report_id"], archived["revision"], _smtp_settings())
        if receipt.get("already_sent"):
            log.info("not mailed again: %s went out at %s", receipt["message_id"], receipt["sent_at"])
            return None
        log.info("%s delivered to %s for %s; refused: %s", receipt["message_id"], receipt["delivered_to"],
                 receipt["recipients"], receipt["refused"] or "none")
        return {k: receipt[k] for k in ("message_id", "delivered_to", "sent_at")}

    send(render_and_archive(insights(views(completeness_check()))))


def _smtp_settings():
    """SMTP settings from the Airflow connection smtp_default, else from the environment (outbox)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from etl.delivery.mail import SmtpSettings

    try:
        conn = BaseHook.get_connection("smtp_default")
    except AirflowNotFoundException:
        return SmtpSettings.from_env()
    return SmtpSettings.from_connection(conn.host, conn.port, conn.login, conn.password, conn.extra_dejson)


mailflow_weekly_report()

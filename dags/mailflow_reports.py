"""The report DAGs' one shape, weekly and monthly: plan -> views -> insights -> render_and_archive ->
send, each task calling one step of `etl.pipeline` and passing storage keys and archive ids on.

`plan` lists the reports the run owes: the organisation's, to the default recipients, and (for a
run of the default window) one per subscription of the DAG's cadence (subscriptions.toml), each
to its own recipients. The tasks after it are mapped over that list, so each report is retried,
archived and mailed on its own.

Every report is archived as a new revision. Scheduled runs are mailed; a backfilled or
hand-triggered run is mailed only when the `send` Param is set. A revision is mailed at most once,
so a retried send task never mails twice. SMTP settings come from the connection `smtp_default`
(host, port, login, password; extra: from, recipients, allow_plaintext, ca_file); without it the
message is written to the outbox folder.

Not a DAG: the two DAG files call `report_dag`; .airflowignore keeps the DAG processor from
parsing this file as one.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import Param, dag, task
from mailflow_alerts import failure_alerts, late_run_alert, retry_delay

log = logging.getLogger(__name__)
LABEL = "{{ report_label }}"  # each mapped task instance's name: set by _label


def report_dag(*, dag_id: str, cadence: str, schedule, start_date, window_doc: str, late_after: timedelta,
               doc_md: str):
    """A report DAG for `cadence` (weekly: the Monday-to-Sunday week before the run; monthly: the
    calendar month before it), with the Params of the widget's filter."""
    params = {
        "start": Param(None, type=["null", "string"], format="date", title="First day (UTC)",
                       description=window_doc),
        "end": Param(None, type=["null", "string"], format="date", title="Last day (UTC)"),
        "connector": Param(None, type=["null", "string"], title="Only this connector"),
        "direction": Param(None, type=["null", "string"], enum=[None, "inbound", "outbound"],
                           title="Only this direction"),
        "send": Param(False, type="boolean", title="Mail it",
                      description="Scheduled runs are always mailed; others only when this is set."),
        "reason": Param(None, type=["null", "string"], title="Why this run (recorded in the archive)",
                        description="e.g. late data, rerun after a fix"),
    }

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": retry_delay(), "retry_exponential_backoff": 2.0,
                      "on_failure_callback": failure_alerts()},
        deadline=late_run_alert("DAGRUN_LOGICAL_DATE", late_after, f"the {cadence} report has not been mailed"),
        params=params,
        tags=["mailflow"],
        doc_md=doc_md,
    )
    def report():
        @task
        def plan(params=None, data_interval_end=None, dag_run=None) -> list[dict]:
            from datetime import date

            from airflow.sdk.exceptions import AirflowFailException
            from mailflow_settings import settings

            from etl.errors import ConfigError
            from etl.pipeline import plan_reports
            from etl.report.request import ReportRequest, previous_month

            def day(text):
                return date.fromisoformat(text) if text else None

            # a run triggered without a logical date has no data interval: its clock is when it was asked for
            today = (data_interval_end or dag_run.run_after).date()
            chosen = {key: params[key] for key in ("start", "end", "connector", "direction") if params[key]}
            start, end = day(params["start"]), day(params["end"])
            if cadence == "monthly" and start is None and end is None:
                start, end = previous_month(today)
            request = ReportRequest.resolve(today=today, start=start, end=end, connector=params["connector"],
                                            direction=params["direction"])
            # subscriptions follow the DAG's own window; a hand-picked window or filter is one report
            try:
                jobs = plan_reports(settings(), request, None if chosen else cadence)
            except ConfigError as exc:  # subscriptions.toml is wrong: a retry would read it again
                raise AirflowFailException(str(exc)) from exc
            log.info("window %s to %s: %s", request.start, request.end,
                     ", ".join(job["subscription"] or "organisation" for job in jobs))
            return jobs

        @task(map_index_template=LABEL)
        def views(job: dict) -> dict:
            from mailflow_settings import settings

            from etl.pipeline import report_views
            from etl.report.request import ReportRequest

            _label(job)
            return {**job, "views": report_views(settings(), ReportRequest.from_json(job["request"]))}

        @task(map_index_template=LABEL)
        def insights(job: dict) -> dict:
            from datetime import UTC, datetime

            from mailflow_settings import settings

            from etl.pipeline import report_model

            _label(job)
            return {**job, "report": report_model(settings(), job["views"], datetime.now(UTC))}

        # retries=0: a retry would add a second revision; a failed archive leaves nothing behind anyway
        @task(retries=0, map_index_template=LABEL)
        def render_and_archive(job: dict, params=None) -> dict:
            from datetime import UTC, datetime

            from mailflow_settings import settings

            from etl.pipeline import publish_report

            _label(job)
            published = publish_report(settings(), job["report"], archive=True, smtp=_smtp_settings(job),
                                       reason=params["reason"], now=datetime.now(UTC))
            log.info("rendered %s; archived %s", sorted(published["outputs"]), published["archived"])
            return {**job, "archived": published["archived"]}

        @task(retries=4, retry_delay=timedelta(minutes=1), map_index_template=LABEL)
        def send(job: dict, params=None, dag_run=None) -> dict | None:
            from mailflow_settings import settings

            from etl.pipeline import send_report

            _label(job)
            archived = job["archived"]
            if dag_run.run_type != "scheduled" and not params["send"]:
                kind = getattr(dag_run.run_type, "value", dag_run.run_type)
                log.info("%s r%s archived, not mailed: a %s run is mailed only with the send Param",
                         archived["report_id"], archived["revision"], kind)
                return None
            receipt = send_report(settings(), archived["report_id"], archived["revision"], _smtp_settings(job),
                                  skip_when_no_insights=job["skip_when_no_insights"])
            if receipt.get("skipped"):
                log.info("%s r%s archived, not mailed: %s", archived["report_id"], archived["revision"],
                         receipt["skipped"])
                return None
            if receipt.get("already_sent"):
                log.info("not mailed again: %s went out at %s", receipt["message_id"], receipt["sent_at"])
                return None
            log.info("%s delivered to %s for %s; refused: %s", receipt["message_id"], receipt["delivered_to"],
                     receipt["recipients"], receipt["refused"] or "none")
            return {k: receipt[k] for k in ("message_id", "delivered_to", "sent_at")}

        send.expand(job=render_and_archive.expand(job=insights.expand(job=views.expand(job=plan()))))

    return report()


def _label(job: dict) -> None:
    """Name the mapped task instance after its report ("organisation", or the subscription's name)
    in the Airflow UI, instead of a bare map index."""
    from airflow.sdk import get_current_context

    get_current_context()["report_label"] = job["subscription"] or "organisation"


def _smtp_settings(job: dict):
    """SMTP settings from the Airflow connection smtp_default, else from the environment (outbox); a
    subscription's report goes to the subscription's recipients instead of the default ones."""
    from dataclasses import replace

    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from etl.delivery.mail import SmtpSettings

    try:
        conn = BaseHook.get_connection("smtp_default")
        smtp = SmtpSettings.from_connection(conn.host, conn.port, conn.login, conn.password, conn.extra_dejson)
    except AirflowNotFoundException:
        smtp = SmtpSettings.from_env()
    return replace(smtp, recipients=tuple(job["recipients"])) if job["recipients"] else smtp

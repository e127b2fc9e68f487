"""Weekly mail flow & TLS report, from the warehouse's daily aggregates.

Scheduled on Mondays 06:00 UTC for the previous Monday to Sunday (the week that ends where the
data interval ends). Triggered by hand, the Params pick any window (up to 366 days), one
connector and/or one direction: the widget's "Filter", from the Airflow trigger form.
Each task calls one `etl` step and passes a file path or an archive key to the next.

Every run is archived as a new revision. Scheduled runs are mailed; a backfilled or hand-triggered
run is mailed only when the `send` Param is set. A revision is mailed at most once, so a retried
send task never mails twice. SMTP settings come from the connection `smtp_default` (host, port,
login, password; extra: from, recipients, allow_plaintext, ca_file); without it the message is
written to the outbox folder.
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

    @task(retries=0)  # a retry would add a second revision; a failed archive leaves nothing behind anyway
    def archive(report_path: str, params=None) -> dict:
        from datetime import UTC, datetime

        from etl.config import settings
        from etl.publish import archive_saved

        return archive_saved(settings(), report_path, _smtp_settings(), reason=params["reason"],
                             now=datetime.now(UTC))

    @task(retries=4, retry_exponential_backoff=True, retry_delay=timedelta(minutes=1))
    def send(archived: dict, params=None, dag_run=None) -> dict | None:
        from etl.config import settings
        from etl.publish import send_revision

        if dag_run.run_type != "scheduled" and not params["send"]:
            kind = getattr(dag_run.run_type, "value", dag_run.run_type)
            print(f"{archived['report_id']} r{archived['revision']} archived, not mailed: "
                  f"a {kind} run is mailed only with the send Param")
            return None
        receipt = send_revision(settings(), archived["report_id"], archived["revision"], _smtp_settings())
        if receipt.get("already_sent"):
            print(f"not mailed again: {receipt['message_id']} went out at {receipt['sent_at']}")
            return None
        print(f"{receipt['message_id']} delivered to {receipt['delivered_to']} for {receipt['recipients']}; "
              f"refused: {receipt['refused'] or 'none'}")
        return {k: receipt[k] for k in ("message_id", "delivered_to", "sent_at")}

    report_path = insights(views(completeness_check()))
    archived = archive(report_path)
    render(report_path) >> archived
    send(archived)


def _smtp_settings():
    """SMTP settings from the Airflow connection smtp_default, else from the environment (outbox)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from etl.mail import SmtpSettings

    try:
        conn = BaseHook.get_connection("smtp_default")
    except AirflowNotFoundException:
        return SmtpSettings.from_env()
    return SmtpSettings.from_connection(conn.host, conn.port, conn.login, conn.password, conn.extra_dejson)


mailflow_weekly_report()

"""Operator alerts for the mailflow DAGs, Airflow-native: a failure notification on any failed task
and Deadline alerts when a run is late. Mailed with the SMTP provider's notifier through the
connection `smtp_default` to MAILFLOW_OPERATOR_EMAILS (comma-separated) only, never to the
compliance report's recipients. With no operator address configured, no alert is attached.

Not a DAG: the DAG files import it (the DAG folder is on Airflow's import path); .airflowignore
keeps the DAG processor from parsing it as one.
"""

from __future__ import annotations

import os
from datetime import timedelta

SENDER = "mailflow-alerts@localhost"


def operator_emails() -> list[str]:
    return [address.strip() for address in os.environ.get("MAILFLOW_OPERATOR_EMAILS", "").split(",")
            if address.strip()]


def hours(variable: str, default: float) -> timedelta:
    return timedelta(hours=float(os.environ.get(variable) or default))


def retry_delay() -> timedelta:
    """How long a failed task waits before its next try (MAILFLOW_RETRY_DELAY_MINUTES, default 5;
    doubled at each try)."""
    return timedelta(minutes=float(os.environ.get("MAILFLOW_RETRY_DELAY_MINUTES") or 5))


def failure_alerts() -> list:
    """on_failure_callback for every task: which task failed, its try, host and log (the provider's template)."""
    to = operator_emails()
    if not to:
        return []
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return [SmtpNotifier(to=to, from_email=os.environ.get("MAILFLOW_MAIL_FROM") or SENDER,
                         subject="[mailflow] {{ ti.dag_id }}.{{ ti.task_id }} failed ({{ ti.run_id }})")]


def late_run_alert(reference: str, after: timedelta, what: str):
    """A Deadline alert: mail the operators when the run has not finished `after` its `reference`
    (a DeadlineReference name). Sent by the executor (a SyncCallback): the provider's async path
    starts TLS twice on a STARTTLS server (apache-airflow-providers-smtp 3.2.0)."""
    to = operator_emails()
    if not to:
        return None
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback

    subject = f"[mailflow] late: {what} ({{{{ dag_run.dag_id }}}} {{{{ dag_run.dag_run_id }}}})"
    body = (f"<p>{what}: {{{{ dag_run.dag_id }}}}, run {{{{ dag_run.dag_run_id }}}} (data interval "
            "{{ dag_run.data_interval_start }} to {{ dag_run.data_interval_end }}), is in state "
            "{{ dag_run.state }} at its deadline, {{ deadline.deadline_time }}.</p>")
    return DeadlineAlert(reference=getattr(DeadlineReference, reference), interval=after,
                         callback=SyncCallback(SmtpNotifier, kwargs={
                             "to": to, "from_email": os.environ.get("MAILFLOW_MAIL_FROM") or SENDER,
                             "subject": subject, "html_content": body}))

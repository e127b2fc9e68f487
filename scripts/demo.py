"""`make demo`: sample exports for N days from START, every day through the real mailflow_daily DAG,
then mailflow_weekly_report for the last complete sample week; all in one Python process against a
throw-away AIRFLOW_HOME (its own SQLite database), so Airflow starts once, not once per day.

usage: python scripts/demo.py START DAYS      (MAILFLOW_HOME says where the data goes)
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class Stages:
    """Prints how long each stage took, as it ends."""

    def __init__(self):
        self.started = self.last = time.monotonic()

    def done(self, what: str) -> None:
        now = time.monotonic()
        print(f"[{now - self.last:6.1f}s] {what}", flush=True)
        self.last = now

    def total(self) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] demo in all", flush=True)


def run_dag(dag, logical_date) -> None:
    import pendulum

    run = dag.test(logical_date=pendulum.instance(logical_date))
    failed = [ti.task_id for ti in run.get_task_instances() if str(ti.state) != "success"]
    if str(run.state) != "success" or failed:
        raise SystemExit(f"{dag.dag_id} {logical_date:%Y-%m-%d %H:%M}: {run.state}; tasks not successful: {failed}")


def print_what_changed(report: dict) -> None:
    """The weekly report's headline and insights, as its text part words them."""
    from etl.report.names import text_name
    from etl.report.view_changes import insight_detail, status_badge

    previous = report["previous"]
    print(f"{report['window']['start']} to {report['window']['end']}, compared with {previous['start']} to "
          f"{previous['end']}: {report['headline']}")
    for insight in report["insights"]:
        subject = text_name(insight["connector"])
        if insight["policy_domain"] is not None:
            subject = text_name(insight["policy_domain"]) + (f" via {subject}" if insight["connector"] else "")
        print(f"  [{status_badge(insight, report)}] {subject} ({insight['direction']}): "
              f"{insight['title']}\n      {insight_detail(insight, report)}")


def main(start: date, days: int) -> None:
    from datetime import UTC, datetime

    stages = Stages()
    home = Path(os.environ.get("MAILFLOW_HOME") or REPO / "data").resolve()
    os.environ["MAILFLOW_HOME"] = str(home)
    # the sample's own domains: SMTP TLS reports about them are about mail sent to us
    os.environ.setdefault("MAILFLOW_OWN_DOMAINS", "contoso.com, contoso.co.uk")
    from etl.devtools.sample import generate
    from etl.devtools.tlsrpt_sample import generate_reports

    generate(start, days, home / "landing")
    reports = generate_reports(start, days, home / "landing" / "tlsrpt")
    stages.done(f"sample exports for {days} days and {len(reports)} SMTP TLS reports written to {home / 'landing'}")

    with tempfile.TemporaryDirectory(prefix="mailflow-airflow-") as airflow_home:
        os.environ.update({"AIRFLOW_HOME": airflow_home, "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                           "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"})
        from airflow.dag_processing.dagbag import BundleDagBag
        from airflow.utils.db import initdb

        initdb()
        bag = BundleDagBag(dag_folder=str(REPO / "dags"), bundle_path=REPO / "dags")
        if bag.import_errors:
            raise SystemExit(f"DAG import errors: {bag.import_errors}")
        logging.getLogger("airflow").setLevel(logging.WARNING)
        stages.done(f"Airflow database in {airflow_home}, DAGs parsed")

        daily = bag.get_dag("mailflow_daily")
        for i in range(days):
            day = start + timedelta(days=i)
            # the run whose data interval starts at D 02:00 UTC loads the UTC day D
            run_dag(daily, datetime(day.year, day.month, day.day, 2, tzinfo=UTC) + timedelta(days=1))
            stages.done(f"mailflow_daily {day}: success")

        # the reports cover days already past, and arrive late: one run loads whatever has landed
        run_dag(bag.get_dag("mailflow_tlsrpt"), datetime.combine(start + timedelta(days=days), datetime.min.time(),
                                                                 tzinfo=UTC) + timedelta(hours=4, minutes=30))
        stages.done("mailflow_tlsrpt: success")

        last = start + timedelta(days=days - 1)
        monday = last + timedelta(days=7 - last.weekday())  # the Monday after the last sample day
        if last.weekday() != 6:
            monday -= timedelta(days=7)  # the last sample week is incomplete: report the one before
        run_dag(bag.get_dag("mailflow_weekly_report"), datetime(monday.year, monday.month, monday.day, 6, tzinfo=UTC))
        week = f"{monday - timedelta(days=7)}_{monday - timedelta(days=1)}"
        stages.done(f"mailflow_weekly_report {week}: success")

    from etl.cli import main as mailflow
    from etl.config import settings
    from etl.delivery.archive import Archive
    from etl.storage import Storage

    storage = Storage(settings())
    latest = [e for e in Archive(storage).entries() if e["event"] == "archived"][-1]
    print()
    mailflow(["status"])
    print()
    print_what_changed(json.loads(storage.read_bytes(storage.report_key(week, "report.json"))))
    print()
    print(f"lake:      {storage.lake.warehouse} (Iceberg tables, catalog {storage.lake.catalog_uri}; "
          f"{len(storage.lake_days())} days loaded)")
    print(f"report:    {storage.where(storage.report_key(week, 'report.html'))} (and email.html, report.txt, "
          "report.json, the view CSVs)")
    revision = Archive(storage).revision(latest["report_id"], latest["revision"])
    print(f"archive:   {storage.archive.root} ({latest['report_id']} r{latest['revision']}: {latest['reason']})")
    print(f"           {storage.archive.root / 'index.html'} (the archive as a page, for auditors)")
    print(f"           {revision.path / 'report.pdf'} (the revision on paper)")
    stages.total()


if __name__ == "__main__":
    main(date.fromisoformat(sys.argv[1]), int(sys.argv[2]))

"""The DAGs, under a real Airflow: they import cleanly and mailflow_daily runs a sample day."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from etl.devtools.sample import generate
from tests.conftest import connector_tls, storage_at

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "tests" / "airflow_harness.py"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(REPO),
    }
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


def harness(env, *args, check=True):
    done = subprocess.run([sys.executable, str(HARNESS), *args], env=env, capture_output=True, text=True,
                          timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1]), done


def test_dagbag_imports_without_errors(airflow_env):
    result, _ = harness(airflow_env, "dagbag")
    assert result["import_errors"] == {}
    assert {"mailflow_daily", "mailflow_weekly_report", "mailflow_monthly_report", "mailflow_tlsrpt"} <= set(
        result["dag_ids"])



def test_operator_alerts_go_to_the_operators_only_and_only_when_configured(airflow_env):
    result, _ = harness({**airflow_env, "MAILFLOW_OPERATOR_EMAILS": "ops@contoso.example, oncall@contoso.example"},
                        "alerts")
    ops = ["ops@contoso.example", "oncall@contoso.example"]
    smtp = "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
    assert result["mailflow_daily"] == {  # 6 h after the run could start: the day is late
        "deadlines": [["DagRunQueuedAtDeadline", 6 * 3600, smtp, ops]], "on_failure": [["SmtpNotifier", ops]]}
    assert result["mailflow_weekly_report"] == {  # Monday 06:00 + 2 h: not mailed by 08:00
        "deadlines": [["DagRunLogicalDateDeadline", 2 * 3600, smtp, ops]], "on_failure": [["SmtpNotifier", ops]]}
    assert result["mailflow_monthly_report"] == result["mailflow_weekly_report"]  # the 1st 06:00 + 2 h
    env = {k: v for k, v in airflow_env.items() if k != "MAILFLOW_OPERATOR_EMAILS"}
    result, _ = harness(env, "alerts")
    assert all(dag == {"deadlines": [], "on_failure": []} for dag in result.values())


def test_mailflow_daily_loads_a_sample_day(airflow_env, tmp_path):
    home = tmp_path / "mailflow"
    generate(date(2026, 11, 10), 1, home / "landing", rows_per_day=500)
    env = {**airflow_env, "MAILFLOW_HOME": str(home)}
    # the run for the interval starting 2026-11-10 02:00 UTC loads the UTC day 2026-11-10
    result, _ = harness(env, "test", "mailflow_daily", "2026-11-11T02:00:00+00:00")
    assert result["state"] == "success", result
    assert set(result["tasks"]) == {"wait_for_export", "ingest", "aggregate", "quality_gate"}
    lake = storage_at(home).lake
    assert lake.days("trace") == [date(2026, 11, 10)]
    ((day, messages),) = [(d["date"], d["messages"]) for d in lake.read("daily_load").to_pylist()]
    assert (day, messages > 0) == (date(2026, 11, 10), True)


def test_a_missing_export_fails_naming_folder_and_date(airflow_env, tmp_path):
    home = tmp_path / "mailflow"
    (home / "landing").mkdir(parents=True)
    env = {**airflow_env, "MAILFLOW_HOME": str(home)}
    result, done = harness(env, "test", "mailflow_daily", "2026-11-11T02:00:00+00:00", check=False)
    assert result["state"] == "failed"
    assert result["tasks"]["wait_for_export"] == "failed"
    assert f"no export for 2026-11-10 in {home / 'landing'}" in done.stdout + done.stderr


def test_mailflow_tlsrpt_loads_what_landed(airflow_env, tmp_path):
    """A re-run commits nothing new: tests/load/test_tlsrpt_ingest.py shows it on the function the task calls."""
    from etl.devtools.tlsrpt_sample import generate_reports

    home = tmp_path / "mailflow"
    generate_reports(date(2026, 11, 16), 2, home / "landing" / "tlsrpt")
    env = {**airflow_env, "MAILFLOW_HOME": str(home)}
    result, _ = harness(env, "test", "mailflow_tlsrpt", "2026-11-18T04:30:00+00:00")
    assert result["state"] == "success" and set(result["tasks"]) == {"load_tls_reports"}, result
    lake = storage_at(home).lake
    assert lake.days("tlsrpt_loads") == [date(2026, 11, 16), date(2026, 11, 17)]
    assert sum(lake.read("tlsrpt_loads")["reports_loaded"].to_pylist()) == 10  # five reporters a day


def load_sample_day(env, home):
    """2026-11-10 in the landing folder, the lake and the warehouse (through the command line)."""
    generate(date(2026, 11, 10), 1, home / "landing", rows_per_day=500)  # 4 bad rows: under the 1% gate
    subprocess.run([sys.executable, "-m", "etl", "ingest", "--date", "2026-11-10"], env=env, check=True,
                   capture_output=True)


def test_weekly_report_covers_the_previous_week_and_marks_missing_days(airflow_env, tmp_path):
    home = tmp_path / "mailflow"
    env = {**airflow_env, "MAILFLOW_HOME": str(home)}
    load_sample_day(env, home)
    # Monday 2026-11-16 06:00 UTC reports on Monday 2026-11-09 to Sunday 2026-11-15
    result, _ = harness(env, "test", "mailflow_weekly_report", "2026-11-16T06:00:00+00:00")
    assert result["state"] == "success", result
    assert set(result["tasks"]) == {"plan", "views", "insights", "render_and_archive", "send"}
    report = json.loads((home / "reports" / "2026-11-09_2026-11-15" / "report.json").read_text())
    assert report["window"]["missing_days"] == ["2026-11-09", "2026-11-11", "2026-11-12", "2026-11-13",
                                                "2026-11-14", "2026-11-15"]
    assert report["headline"].endswith("incomplete: 6 days missing")
    # archived as 2026-W46 r1; a hand-triggered run without the send Param is not mailed
    index = [json.loads(line) for line in (home / "archive" / "index.jsonl").read_text().splitlines()]
    assert [(e["event"], e["report_id"], e["revision"]) for e in index] == [("archived", "2026-W46", 1)]
    assert not (home / "outbox").exists()


def test_monthly_report_covers_the_previous_calendar_month(airflow_env, tmp_path):
    home = tmp_path / "mailflow"
    env = {**airflow_env, "MAILFLOW_HOME": str(home)}
    load_sample_day(env, home)
    # the 1st of December 06:00 UTC reports on November, compared with October
    result, _ = harness(env, "test", "mailflow_monthly_report", "2026-12-01T06:00:00+00:00")
    assert result["state"] == "success", result
    report = json.loads((home / "reports" / "2026-11-01_2026-11-30" / "report.json").read_text())
    assert (report["window"]["days"], report["completeness"]["days_present"]) == (30, 1)
    assert report["previous"] == {"start": "2026-10-01", "end": "2026-10-31", "days": 31, "days_present": 0,
                                  "missing_days": [f"2026-10-{d:02d}" for d in range(1, 32)]}
    assert report["trend"]["period"] == "month"
    index = [json.loads(line) for line in (home / "archive" / "index.jsonl").read_text().splitlines()]
    assert [(e["event"], e["report_id"]) for e in index] == [("archived", "2026-11")]
    assert (home / "archive" / "2026" / "11" / "r1" / "manifest.json").exists()


def test_weekly_report_params_filter_like_the_widget(airflow_env, tmp_path):
    home = tmp_path / "mailflow"
    env = {**airflow_env, "MAILFLOW_HOME": str(home)}
    load_sample_day(env, home)
    conf = {"start": "2026-11-10", "end": "2026-11-10", "connector": "Partner Northwind Legacy",
            "direction": "outbound", "send": True, "reason": "asked by the CISO"}
    result, _ = harness(env, "test", "mailflow_weekly_report", "2026-11-16T06:00:00+00:00", json.dumps(conf))
    assert result["state"] == "success", result
    folder = home / "reports" / "2026-11-10_2026-11-10_connector-Partner_Northwind_Legacy_outbound"
    report = json.loads((folder / "report.json").read_text())
    assert report["filters"] == {"connector": "Partner Northwind Legacy", "direction": "outbound", "connectors": [],
                                 "subscription": None}
    assert [c["connector"] for c in report["connectors"]] == ["Partner Northwind Legacy"]
    assert (folder / "report.txt").exists()
    index = [json.loads(line) for line in (home / "archive" / "index.jsonl").read_text().splitlines()]
    assert [(e["event"], e.get("reason")) for e in index] == [("archived", "asked by the CISO"), ("sent", None)]
    (eml,) = (home / "outbox").iterdir()  # no SMTP connection configured: the outbox
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"].startswith("Mail flow & TLS report 2026-11-10 to 2026-11-10: ")


SUBSCRIPTIONS = """
[[subscription]]
name = "partners"
recipients = ["partner-manager@contoso.example"]
cadence = "weekly"
connectors = ["Partner *"]

[[subscription]]
name = "relay"
recipients = ["messaging@contoso.example"]
cadence = "weekly"
connectors = ["Inbound from On-Premises Relay"]
direction = "outbound"  # the relay carries inbound mail only: nothing fires, so nothing is mailed
skip_when_no_insights = true

[[subscription]]
name = "ciso"
recipients = ["ciso@contoso.example"]
cadence = "monthly"
"""


def test_each_subscription_gets_its_own_report_and_only_its_own(airflow_env, tmp_path, smtp_server, certificate):
    inbox, port = smtp_server()
    home = tmp_path / "mailflow"
    home.mkdir()
    (home / "subscriptions.toml").write_text(SUBSCRIPTIONS)
    smtp = {"conn_type": "smtp", "host": "localhost", "port": port,
            "extra": {"from": "reports@contoso.example", "recipients": "security@contoso.example",
                      "ca_file": str(certificate[0])}}
    env = {**airflow_env, "MAILFLOW_HOME": str(home), "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp)}
    load_sample_day(env, home)
    result, _ = harness(env, "test", "mailflow_weekly_report", "2026-11-16T06:00:00+00:00",
                        json.dumps({"send": True}))
    assert result["state"] == "success", result
    assert result["labels"]["send"] == ["organisation", "partners", "relay"]  # how the Airflow UI names them

    received = {tuple(m["rcpt"]): email.message_from_bytes(m["data"], policy=email.policy.default)
                for m in inbox.messages}
    assert set(received) == {("security@contoso.example",), ("partner-manager@contoso.example",)}
    partners = received[("partner-manager@contoso.example",)]
    assert partners["Subject"].startswith("Mail flow & TLS report 2026-W46 (partners): ")
    assert partners["To"] == "partner-manager@contoso.example"
    usage = next(a for a in partners.iter_attachments() if a.get_filename() == "tls_usage.csv").get_content()
    connectors = {line.split(",")[0] for line in usage.splitlines()[1:]}
    assert connectors and all(name.startswith("Partner ") for name in connectors), connectors
    everyone = next(a for a in received[("security@contoso.example",)].iter_attachments()
                    if a.get_filename() == "tls_usage.csv").get_content()
    assert "Inbound from On-Premises Relay" in everyone and "Inbound from On-Premises Relay" not in usage

    index = [json.loads(line) for line in (home / "archive" / "index.jsonl").read_text().splitlines()]
    archived = sorted(e["report_id"] for e in index if e["event"] == "archived")
    sent = sorted(e["report_id"] for e in index if e["event"] == "sent")
    assert archived == ["2026-W46", "2026-W46/partners", "2026-W46/relay"]  # the monthly one is not weekly
    assert sent == ["2026-W46", "2026-W46/partners"]  # relay: nothing fired, and it asked to be spared


def test_a_bad_subscriptions_file_stops_the_run_naming_the_entry(airflow_env, tmp_path):
    home = tmp_path / "mailflow"
    home.mkdir()
    (home / "subscriptions.toml").write_text(SUBSCRIPTIONS.replace('cadence = "monthly"', 'cadence = "daily"'))
    env = {**airflow_env, "MAILFLOW_HOME": str(home)}
    load_sample_day(env, home)
    done = subprocess.run([sys.executable, "-m", "etl", "report", "--subscriptions", "--from", "2026-11-09"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {home / 'subscriptions.toml'}: subscription 3 ('ciso'): cadence must be weekly or monthly, "
        "not 'daily'")
    result, _ = harness(env, "test", "mailflow_weekly_report", "2026-11-16T06:00:00+00:00", check=False)
    assert result["state"] == "failed" and result["tasks"]["plan"] == "failed"
    assert not (home / "archive").exists()  # nothing issued


def test_mailflow_daily_loads_postfix_logs_from_the_landing_folder(airflow_env, tmp_path):
    import gzip
    import shutil

    from tests.sources.test_postfix import EXPECTED, FIXTURES

    home = tmp_path / "mailflow"
    (home / "landing").mkdir(parents=True)
    shutil.copy(FIXTURES / "mail.log", home / "landing" / "trace_2026-11-20.log")
    rotated = gzip.compress((FIXTURES / "mail.log.1").read_bytes(), mtime=0)
    (home / "landing" / "trace_2026-11-20_rotated.log.gz").write_bytes(rotated)
    shutil.copy(FIXTURES / "connectors.toml", home / "connectors.toml")  # the configured default
    # the fixture quarantines 2 of its 19 records on purpose, above the default 1% gate
    env = {**airflow_env, "MAILFLOW_HOME": str(home), "MAILFLOW_MAX_QUARANTINED_PCT": "20"}
    result, _ = harness(env, "test", "mailflow_daily", "2026-11-21T02:00:00+00:00")
    assert result["state"] == "success", result
    assert connector_tls(storage_at(home).settings, date(2026, 11, 20)) == EXPECTED


def test_the_dag_and_the_cli_resolve_the_same_window(airflow_env, tmp_path):
    """Only a first day given: the DAG's Params and `mailflow report --from` both take the 7 days from it."""
    home = tmp_path / "mailflow"
    env = {**airflow_env, "MAILFLOW_HOME": str(home)}
    load_sample_day(env, home)
    result, _ = harness(env, "test", "mailflow_weekly_report", "2026-11-16T06:00:00+00:00",
                        json.dumps({"start": "2026-11-10"}))
    assert result["state"] == "success", result
    from_dag = json.loads((home / "reports" / "2026-11-10_2026-11-16" / "report.json").read_text())
    done = subprocess.run([sys.executable, "-m", "etl", "report", "--from", "2026-11-10", "--format", "json"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(home / "reports" / "2026-11-10_2026-11-16" / "report.json")
    from_cli = json.loads(Path(done.stdout.strip()).read_text())
    assert from_cli["window"] == from_dag["window"] == {
        "start": "2026-11-10", "end": "2026-11-16", "days": 7,
        "missing_days": ["2026-11-11", "2026-11-12", "2026-11-13", "2026-11-14", "2026-11-15", "2026-11-16"]}
    assert {**from_cli, "generated_at": None} == {**from_dag, "generated_at": None}


def test_the_dag_and_the_cli_apply_the_same_quality_gate(airflow_env, tmp_path):
    """A day above the quarantine limit: the DAG's quality_gate task fails with the message that
    `mailflow ingest` exits 2 with, and both leave the day loaded."""
    from tests.conftest import csv_bytes, row

    rows = [row(received="2026-11-10T10:00:00Z", message_id=f"<{i}@x>") for i in range(9)]
    rows.append(row(received="nope"))
    messages = {}
    for via in ("dag", "cli"):
        home = tmp_path / via
        (home / "landing").mkdir(parents=True)
        (home / "landing" / "trace_2026-11-10.csv").write_bytes(csv_bytes(rows))
        env = {**airflow_env, "MAILFLOW_HOME": str(home)}
        if via == "dag":
            result, done = harness(env, "test", "mailflow_daily", "2026-11-11T02:00:00+00:00", check=False)
            assert result["tasks"]["aggregate"] == "success" and result["tasks"]["quality_gate"] == "failed"
            output = done.stdout + done.stderr
        else:
            done = subprocess.run([sys.executable, "-m", "etl", "ingest", "--date", "2026-11-10"], env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 2
            output = done.stderr
        messages[via] = re.search(r"2026-11-10: 10\.0% of rows quarantined \(1 of 10: bad_timestamp=1\), "
                                  r"above the 1\.0% limit", output)
        assert [d["rows_loaded"] for d in storage_at(home).lake.read("daily_load").to_pylist()] == [9]
    assert messages["dag"] and messages["cli"]


def test_mailflow_daily_on_object_storage_takes_its_credentials_from_a_connection(airflow_env, tmp_path, s3_store):
    """The landing prefix and the lake in a bucket; no AWS variable in the environment: the key pair
    and the endpoint come from the Airflow connection MAILFLOW_AWS_CONN_ID names."""
    import pyarrow.fs as pafs

    from etl.devtools.servers.seaweedfs import ACCESS_KEY, SECRET_KEY, make_bucket

    make_bucket(s3_store, "airflow")
    exports = tmp_path / "exports"
    generate(date(2026, 11, 10), 1, exports, rows_per_day=500)
    bucket = pafs.S3FileSystem(endpoint_override=s3_store.endpoint, region="us-east-1", access_key=ACCESS_KEY,
                               secret_key=SECRET_KEY)
    with bucket.open_output_stream("airflow/dag/landing/trace_2026-11-10.csv") as stream:
        stream.write((exports / "trace_2026-11-10.csv").read_bytes())
    connection = {"conn_type": "aws", "login": ACCESS_KEY, "password": SECRET_KEY,
                  "extra": {"endpoint_url": s3_store.endpoint, "region_name": "us-east-1"}}
    worker = tmp_path / "worker"
    env = {**{k: v for k, v in airflow_env.items() if not k.startswith(("AWS_", "MAILFLOW_"))},
           "MAILFLOW_HOME": str(worker), "MAILFLOW_STORAGE": "s3://airflow/dag",
           "MAILFLOW_CATALOG": f"sqlite:///{tmp_path / 'catalog' / 'catalog.db'}",
           "MAILFLOW_AWS_CONN_ID": "mailflow_s3", "AIRFLOW_CONN_MAILFLOW_S3": json.dumps(connection)}
    result, done = harness(env, "test", "mailflow_daily", "2026-11-11T02:00:00+00:00")
    assert result["state"] == "success", result
    data = bucket.get_file_info(pafs.FileSelector("airflow/dag/lake/mailflow/trace/data", recursive=True))
    assert [f.base_name.endswith(".parquet") for f in data if f.type == pafs.FileType.File] == [True]
    assert [p.name for p in worker.iterdir()] == [".staging"] and not any((worker / ".staging").iterdir())
    assert SECRET_KEY not in done.stdout + done.stderr

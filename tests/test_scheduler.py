"""Integration: a real Airflow scheduler runs a backfill of mailflow_daily, two runs at a time."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from etl.devtools.sample import generate
from tests.conftest import free_port, storage_at

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def airflow(tmp_path):
    with standalone(tmp_path) as running:
        yield running


@contextlib.contextmanager
def standalone(tmp_path, **extra_env):
    """`airflow standalone` (scheduler, dag-processor, triggerer, api-server), stopped afterwards."""
    home = tmp_path / "mailflow"
    env = {**os.environ, "MAILFLOW_HOME": str(home), "AIRFLOW_HOME": str(tmp_path / "airflow"),
           "AIRFLOW_PORT": str(free_port()), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           **extra_env}
    log = open(tmp_path / "standalone.log", "wb")
    process = subprocess.Popen(["bash", str(REPO / "scripts" / "airflow_local.sh")], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    env.update({"AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"), "PYTHONPATH": str(REPO)})
    try:
        yield env, home, tmp_path / "standalone.log"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        _kill_strays(env["AIRFLOW_HOME"], process.pid)
        log.close()


def _kill_strays(airflow_home: str, session: int) -> None:
    """Airflow's components can outlive their process group (a scheduler, a LocalExecutor worker were
    once left running): kill whatever still runs in the session the test started, or with this
    test's AIRFLOW_HOME (a process that renamed itself may have overwritten its environment)."""
    marker = f"AIRFLOW_HOME={airflow_home}".encode() + b"\0"
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit():
                continue
            in_session = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3]) == session
            if in_session or marker in (proc / "environ").read_bytes() + b"\0":
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue  # gone already, or not ours to read


def airflow_cli(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], env=env, capture_output=True,
                          text=True, timeout=300)


def runs(env) -> list[dict]:
    done = airflow_cli(env, "dags", "list-runs", "mailflow_daily", "--output", "json")
    listed = [line for line in done.stdout.splitlines() if line.startswith("[")]  # warnings go to stdout too
    return json.loads(listed[-1]) if done.returncode == 0 and listed else []


def test_a_backfill_on_a_real_scheduler_loads_every_day(airflow):
    env, home, log = airflow
    generate(date(2026, 11, 9), 3, home / "landing", rows_per_day=1000)
    deadline = time.monotonic() + 300
    while airflow_cli(env, "dags", "details", "mailflow_daily").returncode != 0:  # parsed and registered
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(3)
    # logical dates are the business days themselves; --to-date is not included
    for _ in range(5):  # SQLite allows one writer: the scheduler may hold it a moment; the command rolls back
        created = airflow_cli(env, "backfill", "create", "--dag-id", "mailflow_daily", "--from-date", "2026-11-09",
                              "--to-date", "2026-11-12", "--max-active-runs", "2", "--reprocess-behavior", "completed")
        if created.returncode == 0 or "database is locked" not in created.stderr:
            break
        time.sleep(2)
    assert created.returncode == 0, created.stderr[-2000:]
    while True:
        backfill_runs = [r for r in runs(env) if r["run_id"].startswith("backfill__")]
        if len(backfill_runs) == 3 and all(r["state"] in ("success", "failed") for r in backfill_runs):
            break
        assert time.monotonic() < deadline, (backfill_runs, log.read_text()[-3000:])
        time.sleep(3)
    assert {r["state"] for r in backfill_runs} == {"success"}
    lake = storage_at(home).lake
    days = [date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11)]
    assert lake.days("daily_load") == lake.days("trace") == days


def test_operators_are_mailed_when_a_task_fails_and_when_a_day_is_late(tmp_path, certificate, smtp_server):
    """A real scheduler, triggerer and SMTP server (STARTTLS): a bad export fails its ingest and the
    operators get the failure; a day whose export never comes misses its Deadline and they hear of it.
    The compliance recipients get nothing."""
    inbox, port = smtp_server()
    connection = {"conn_type": "smtp", "host": "localhost", "port": port,
                  "extra": {"disable_ssl": True, "from_email": "mailflow-alerts@contoso.example"}}
    extra = {"MAILFLOW_OPERATOR_EMAILS": "ops@contoso.example", "MAILFLOW_MAIL_TO": "ciso@contoso.example",
             "MAILFLOW_EXPORT_ALERT_HOURS": str(15 / 3600),  # late 15 s after the run is queued
             "MAILFLOW_EXPORT_DEADLINE_HOURS": "100000",  # the sensor keeps waiting for the past day's export
             "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(connection), "SSL_CERT_FILE": str(certificate[0])}
    with standalone(tmp_path, **extra) as (env, home, log):
        (home / "landing").mkdir(parents=True)
        (home / "landing" / "trace_2026-11-10.csv").write_text("Received,SenderAddress\n2026-11-10T10:00:00Z,a@b.c\n")
        deadline = time.monotonic() + 300
        while airflow_cli(env, "dags", "details", "mailflow_daily").returncode != 0:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(3)
        for _ in range(5):
            created = airflow_cli(env, "backfill", "create", "--dag-id", "mailflow_daily", "--from-date",
                                  "2026-11-10", "--to-date", "2026-11-12", "--max-active-runs", "2",
                                  "--reprocess-behavior", "completed")
            if created.returncode == 0 or "database is locked" not in created.stderr:
                break
            time.sleep(2)
        assert created.returncode == 0, created.stderr[-2000:]
        while True:
            subjects = [email.message_from_bytes(m["data"], policy=email.policy.default)["Subject"]
                        for m in inbox.messages]
            failed = [s for s in subjects if s.startswith("[mailflow] mailflow_daily.ingest failed")]
            late = [s for s in subjects if s.startswith("[mailflow] late: the day's export has not been loaded")
                    and "mailflow_daily backfill__" in s]  # (the latest scheduled run is late too: no export)
            if failed and late:
                break
            assert time.monotonic() < deadline, (subjects, log.read_text()[-3000:])
            time.sleep(2)
    assert [(m["rcpt"], m["tls"]) for m in inbox.messages
            if not (m["rcpt"] == ["ops@contoso.example"] and m["tls"])] == []

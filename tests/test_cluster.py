"""Integration: the DAGs on a distributed Airflow (`make cluster`: PostgreSQL, Redis, SeaweedFS, the
CeleryExecutor with two workers that share nothing on disk) give what the embedded run gives.

One cluster for the module; the tests run in order: a week loaded two days at a time, then its
weekly report, then a worker killed with -9 in the middle of a load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from etl.devtools import cluster as clusters
from etl.devtools.sample import generate

MON, SUN, NEXT_MON = date(2026, 11, 16), date(2026, 11, 22), date(2026, 11, 23)
WINDOW = "2026-11-16_2026-11-22"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = clusters.start(tmp_path_factory.mktemp("cluster"), say=lambda *_: None, extra_env={
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs the tests create
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",  # a killed worker's task is failed soon
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "MAILFLOW_RETRY_DELAY_MINUTES": "0.1"})
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    generate(MON, 7, folder)  # the sample command's default volume
    generate(NEXT_MON, 1, folder, rows_per_day=400_000)  # a load long enough to kill a worker in
    return folder


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, exports):
    """The same exports, run embedded: what the cluster must report."""
    home = tmp_path_factory.mktemp("embedded")
    shutil.copytree(exports, home / "landing")
    env = {"MAILFLOW_HOME": str(home)}
    assert mailflow(env, "backfill", "--from", MON, "--to", NEXT_MON).returncode == 0
    assert mailflow(env, "report", "--from", MON, "--format", "json").returncode == 0
    return env, home


def mailflow(env: dict, *args) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MAILFLOW_", "AWS_", "AIRFLOW"))}
    return subprocess.run([str(BIN / "mailflow"), *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**clean, **env})


def airflow(cluster, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "airflow"), *args], env=cluster.airflow_env, capture_output=True, text=True,
                          timeout=300)


def json_out(done: subprocess.CompletedProcess):
    """The JSON an airflow command printed (its warnings go to stdout too)."""
    found = [line for line in done.stdout.splitlines() if line.startswith(("[", "{"))]
    assert done.returncode == 0 and found, done.stderr[-2000:]
    return json.loads(found[-1])


def wait_for_runs(cluster, dag_id: str, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        runs = json_out(airflow(cluster, "dags", "list-runs", dag_id, "--output", "json"))
        if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        assert time.monotonic() < deadline, (runs, logs(cluster))
        time.sleep(2)


def logs(cluster) -> str:
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-1500:]}" for p in sorted(cluster.folder.rglob("*.log"))
                     if p.parent.name in ("airflow",) or p.name == "worker.log")


def task_logs(worker: Path, dag_id: str, task_id: str) -> list[Path]:
    """The task logs a worker wrote: it ran those tries."""
    return sorted((worker / "airflow" / "logs").glob(f"dag_id={dag_id}/*/task_id={task_id}/attempt=*.log"))


def only_caches(home: Path) -> list[str]:
    """What a worker's MAILFLOW_HOME holds outside its scratch space (must be nothing)."""
    return [str(p.relative_to(home)) for p in home.rglob("*") if p.relative_to(home).parts[0] != ".staging"]


def test_a_week_loads_two_days_at_a_time_on_both_workers(cluster, exports):
    put = mailflow(cluster.client_env, "sample", "--start", MON, "--days", 7)
    assert put.returncode == 0, put.stderr[-2000:]  # the same exports: the generator is seeded
    created = airflow(cluster, "backfill", "create", "--dag-id", "mailflow_daily", "--from-date", str(MON),
                      "--to-date", str(NEXT_MON), "--max-active-runs", "2", "--reprocess-behavior", "completed")
    assert created.returncode == 0, created.stderr[-2000:]
    runs = wait_for_runs(cluster, "mailflow_daily", 7, timeout=240)
    assert [r["state"] for r in runs] == ["success"] * 7, logs(cluster)
    spans = sorted((r["start_date"], r["end_date"]) for r in runs)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)), spans  # 2 at once
    for worker in cluster.workers:
        assert task_logs(worker, "mailflow_daily", "ingest"), f"{worker.name} ran no ingest"
    for number in (1, 2):
        assert only_caches(cluster.worker_home(number)) == []
    status = json.loads(mailflow(cluster.client_env, "status", "--json").stdout)
    assert len(status["days"]) == 7 and status["inconsistent"] == []


def test_the_weekly_report_on_the_cluster_is_the_embedded_one(cluster, embedded):
    triggered = airflow(cluster, "dags", "trigger", "mailflow_weekly_report", "--conf", json.dumps({"start": str(MON)}))
    assert triggered.returncode == 0, triggered.stderr[-2000:]
    runs = wait_for_runs(cluster, "mailflow_weekly_report", 1, timeout=180)
    assert [r["state"] for r in runs] == ["success"], logs(cluster)

    import pyarrow.fs as pafs

    s3 = pafs.S3FileSystem(endpoint_override=cluster.s3.endpoint, region="us-east-1",
                           access_key=cluster.client_env["AWS_ACCESS_KEY_ID"],
                           secret_key=cluster.client_env["AWS_SECRET_ACCESS_KEY"])
    with s3.open_input_stream(f"mailflow/pipeline/reports/{WINDOW}/report.json") as stream:
        on_cluster = json.loads(stream.read())
    _, home = embedded
    alone = json.loads((home / "reports" / WINDOW / "report.json").read_bytes())
    assert {k: v for k, v in on_cluster.items() if k != "generated_at"} == \
        {k: v for k, v in alone.items() if k != "generated_at"}
    listed = json.loads(mailflow(cluster.client_env, "archive", "list", "--json").stdout)
    assert [(r["report_id"], r["revision"]) for r in listed] == [("2026-W47", 1)]
    verified = mailflow(cluster.client_env, "archive", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    reproduced = mailflow(cluster.client_env, "archive", "reproduce", "2026-W47", "--json")
    assert json.loads(reproduced.stdout)["matches"], reproduced.stderr
    for number in (1, 2):
        assert only_caches(cluster.worker_home(number)) == []


def test_a_worker_killed_mid_load_leaves_no_partial_commit_and_the_retry_loads_it_all(cluster, embedded):
    put = mailflow(cluster.client_env, "sample", "--start", NEXT_MON, "--days", 1, "--rows-per-day", 400_000)
    assert put.returncode == 0, put.stderr[-2000:]
    created = airflow(cluster, "backfill", "create", "--dag-id", "mailflow_daily", "--from-date", str(NEXT_MON),
                      "--to-date", "2026-11-24", "--reprocess-behavior", "completed")
    assert created.returncode == 0, created.stderr[-2000:]
    deadline = time.monotonic() + 120
    loading = None
    while loading is None:  # a load in progress has a staging folder in its worker's MAILFLOW_HOME
        for number in (1, 2):
            staging = cluster.worker_home(number) / ".staging"
            if staging.exists() and any(p.is_dir() for p in staging.iterdir()):
                loading = number
        assert time.monotonic() < deadline, logs(cluster)
        time.sleep(0.1)
    time.sleep(1)  # into the load
    cluster.kill_worker(loading)
    survivor = 3 - loading

    runs = wait_for_runs(cluster, "mailflow_daily", 8, timeout=180)
    assert all(r["state"] == "success" for r in runs), logs(cluster)

    def tries(number):  # the run for a day is named after the end of its interval, the day after
        return [p.name for p in task_logs(cluster.workers[number - 1], "mailflow_daily", "ingest")
                if f"run_id=backfill__{NEXT_MON + timedelta(days=1)}" in str(p)]

    assert (tries(loading), tries(survivor)) == (["attempt=1.log"], ["attempt=2.log"])  # the other worker retried

    env, _ = embedded
    alone = json.loads(mailflow(env, "status", "--json").stdout)
    status = json.loads(mailflow(cluster.client_env, "status", "--json").stdout)
    assert status["inconsistent"] == []

    def counts(report):
        day = next(d for d in report["days"] if d["date"] == str(NEXT_MON))
        return {k: v for k, v in day.items() if k not in ("date", "load")}

    assert counts(status) == counts(alone) and counts(status)["rows_loaded"] > 390_000

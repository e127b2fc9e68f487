"""A distributed Airflow on this machine, started by one command (`make cluster`), and what the
cluster test starts. Everything on loopback, each in its own folder under one temp folder:

    postgres/     PostgreSQL: Airflow's metadata database (`airflow`) and the lake's catalog (`mailflow`)
    redis/        Redis: Celery's broker
    s3/           SeaweedFS: the object store; bucket `mailflow` holds the landing prefix, the lake,
                  the reports, the archive and the outbox (MAILFLOW_STORAGE=s3://mailflow/pipeline)
    airflow/      api-server, scheduler, dag-processor, triggerer (AIRFLOW_HOME: logs, config)
    worker-1/, worker-2/
                  a Celery worker each, with its own empty AIRFLOW_HOME (task logs) and MAILFLOW_HOME
                  (a load's scratch space): the workers share nothing on disk
    client.env    the settings a `mailflow` or `airflow` command on this host needs to see the same

The workers reach the object store through the Airflow connection `mailflow_s3` (an environment
variable here; the secrets backend in a real deployment), not through AWS variables of their own.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from etl.devtools.servers import free_port, postgres, redis, seaweedfs, start_process, stop, wait_until

REPO = Path(__file__).resolve().parents[2]
BUCKET = "mailflow"
STORAGE = f"s3://{BUCKET}/pipeline"
CONNECTION = "mailflow_s3"
CENTRAL = ("api-server", "scheduler", "dag-processor", "triggerer")


@dataclass
class Cluster:
    folder: Path
    airflow_env: dict[str, str]  # what every Airflow component shares (an `airflow` command on this host too)
    client_env: dict[str, str]  # what a `mailflow` command on this host needs to use the same storage
    ui: str
    workers: list[Path]
    s3: seaweedfs.S3Store
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _postgres: tuple | None = None

    def worker_home(self, number: int) -> Path:
        """A worker's MAILFLOW_HOME (its scratch space)."""
        return self.workers[number - 1] / "mailflow"

    def start_worker(self, number: int) -> None:
        folder = self.workers[number - 1]
        env = {**self.airflow_env, "AIRFLOW_HOME": str(folder / "airflow"), "MAILFLOW_HOME": str(folder / "mailflow"),
               "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        self.processes[f"worker-{number}"] = start_process(
            [_airflow(), "celery", "worker", "--celery-hostname", f"worker-{number}@%h", "--concurrency", "2"],
            folder / "worker.log", env=env, cwd=folder)

    def kill_worker(self, number: int) -> None:
        """kill -9: the worker and the tasks it runs, as a crashed host."""
        process = self.processes[f"worker-{number}"]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        _shutdown(self.folder, self.processes, self._postgres)


def start(folder: Path, *, workers: int = 2, extra_env: dict[str, str] | None = None, say=print) -> Cluster:
    """Start every server and component; returns once the API server answers and the DAGs are parsed."""
    began = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    processes: dict[str, subprocess.Popen] = {}
    pg = None
    try:
        pg = postgres.start(folder / "postgres", ("airflow", "mailflow"))
        say(f"PostgreSQL   127.0.0.1:{pg[1].port}  ({time.monotonic() - began:.0f} s)")
        processes["redis"], broker = redis.start(folder / "redis")
        say(f"Redis        127.0.0.1:{broker.port}")
        processes["s3"], s3 = seaweedfs.start(folder / "s3")
        seaweedfs.make_bucket(s3, BUCKET)
        say(f"SeaweedFS    {s3.endpoint}  bucket {BUCKET}  ({time.monotonic() - began:.0f} s)")

        port = free_port()
        aws = s3.env()
        connection = {"conn_type": "aws", "login": aws["AWS_ACCESS_KEY_ID"], "password": aws["AWS_SECRET_ACCESS_KEY"],
                      "extra": {"endpoint_url": aws["AWS_ENDPOINT_URL"], "region_name": aws["AWS_REGION"]}}
        shared = {
            "MAILFLOW_STORAGE": STORAGE,
            "MAILFLOW_CATALOG": pg[1].url("mailflow"),
            "MAILFLOW_AWS_CONN_ID": CONNECTION,
        }
        airflow_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MAILFLOW_", "AWS_"))},
            **shared,
            f"AIRFLOW_CONN_{CONNECTION.upper()}": json.dumps(connection),
            "AIRFLOW_HOME": str(folder / "airflow"),
            "MAILFLOW_HOME": str(folder / "airflow" / "mailflow"),  # the central components load nothing
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg[1].url("airflow"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": pg[1].url("airflow"),  # psycopg 3 is async too
            "AIRFLOW__CELERY__BROKER_URL": broker.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg[1].url("airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # loopback only: the UI without a login
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            **(extra_env or {}),
        }
        (folder / "airflow").mkdir(exist_ok=True)
        migrated = subprocess.run([_airflow(), "db", "migrate"], env=airflow_env, capture_output=True, text=True,
                                  timeout=600)
        if migrated.returncode:
            raise RuntimeError(f"airflow db migrate failed: {migrated.stderr[-2000:]}")
        say(f"Airflow DB   migrated  ({time.monotonic() - began:.0f} s)")
        for name in CENTRAL:
            processes[name] = start_process([_airflow(), name], folder / "airflow" / f"{name}.log", env=airflow_env,
                                            cwd=folder / "airflow")
        cluster = Cluster(folder, airflow_env, {**shared, **aws, "MAILFLOW_HOME": str(folder / "client")},
                          f"http://127.0.0.1:{port}", [folder / f"worker-{n}" for n in range(1, workers + 1)], s3,
                          processes, pg)
        for number, worker in enumerate(cluster.workers, start=1):
            (worker / "mailflow").mkdir(parents=True)
            cluster.start_worker(number)
        wait_until(lambda: _answers(cluster.ui), processes["api-server"], folder / "airflow" / "api-server.log",
                   "Airflow's API server", timeout=180)
        wait_until(lambda: _parsed(cluster), processes["dag-processor"], folder / "airflow" / "dag-processor.log",
                   "Airflow's DAG processor", timeout=180)
        _write_env(folder / "client.env", {**cluster.client_env, **{k: v for k, v in airflow_env.items()
                                                                     if k.startswith("AIRFLOW")}})
        say(f"Airflow      {cluster.ui}  ({time.monotonic() - began:.0f} s)")
        return cluster
    except BaseException:
        _shutdown(folder, processes, pg)
        raise


def _shutdown(folder: Path, processes: dict[str, subprocess.Popen], pg: tuple | None) -> None:
    """Stop what was started, the last first; then whatever its components left behind; then PostgreSQL."""
    for name, process in reversed(processes.items()):
        stop(process, grace=20 if name.startswith("worker") else 10)
    _kill_strays(folder, {process.pid for process in processes.values()})
    if pg:
        postgres.stop(*pg)


def _airflow() -> str:
    return str(Path(sys.executable).parent / "airflow")


def _answers(ui: str) -> bool:
    try:
        with urllib.request.urlopen(f"{ui}/api/v2/monitor/health", timeout=2) as response:  # noqa: S310 (http, ours)
            return response.status == 200
    except OSError:
        return False


def _parsed(cluster: Cluster) -> bool:
    """Every DAG is in the metadata database."""
    listed = subprocess.run([_airflow(), "dags", "list", "--output", "json"], env=cluster.airflow_env,
                            capture_output=True, text=True, timeout=120)
    found = [line for line in listed.stdout.splitlines() if line.startswith("[")]
    names = {dag["dag_id"] for dag in json.loads(found[-1])} if listed.returncode == 0 and found else set()
    return {"mailflow_daily", "mailflow_weekly_report", "mailflow_monthly_report"} <= names


def _write_env(path: Path, env: dict[str, str]) -> None:
    """`set -a; . client.env; set +a` in a shell gives it the cluster's settings (a throw-away
    cluster: its keys are not secrets, and the file is readable by its owner only)."""
    path.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(env.items())))
    path.chmod(0o600)


def _kill_strays(folder: Path, sessions: set[int]) -> None:
    """Airflow's components may leave children behind (task runners, log servers, executor workers):
    kill whatever still runs in a session this started, or with a working folder in this cluster
    (a process that renamed itself may have overwritten its environment, hence both)."""
    marker = str(folder).encode()
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            in_session = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3]) in sessions
            if in_session or marker in (proc / "environ").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="make cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", action="store_true",
                        help="let the scheduler start the DAGs' scheduled runs, as in production (off: only the "
                             "runs you create run; the sample data is from November 2026)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it all too, as Ctrl-C does
    folder = Path(tempfile.mkdtemp(prefix="mailflow-cluster-"))
    print(f"starting a cluster in {folder} (logs there); Ctrl-C stops it all", flush=True)
    cluster = start(folder, say=lambda line: print(line, flush=True),
                    extra_env={} if args.schedules else {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})
    print(f"""
UI:        {cluster.ui}   (no login: it listens on 127.0.0.1 only)
workers:   {', '.join(str(w) for w in cluster.workers)}
storage:   {STORAGE} at {cluster.s3.endpoint};  catalog: {cluster.client_env['MAILFLOW_CATALOG']}

In another shell, from {REPO}:
  set -a; . {folder}/client.env; set +a; export PATH={Path(sys.executable).parent}:$PATH
  mailflow sample --start 2026-11-16 --days 7                # exports into the landing prefix
  airflow backfill create --dag-id mailflow_daily --from-date 2026-11-16 --to-date 2026-11-23 \\
      --max-active-runs 2 --reprocess-behavior completed     # 7 days, two at a time, on both workers
  airflow dags trigger mailflow_weekly_report --conf '{{"start": "2026-11-16"}}'
  mailflow status; mailflow archive list; mailflow archive verify
Ctrl-C here stops everything this started.""", flush=True)
    if not args.schedules:
        print("Schedules are off (only the runs you create run): `make cluster ARGS=--schedules` turns them on.",
              flush=True)
    try:
        while all(process.poll() is None for process in cluster.processes.values()):
            time.sleep(1)
        stopped = [name for name, process in cluster.processes.items() if process.poll() is not None]
        print(f"stopped on its own: {', '.join(stopped)} (see the logs in {folder}); stopping the rest")
        return 1
    except KeyboardInterrupt:
        print("stopping...", flush=True)
        return 0
    finally:
        cluster.stop()
        print(f"stopped; the logs stay in {folder}", flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())

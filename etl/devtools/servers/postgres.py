"""PostgreSQL (Debian's `postgresql`) on a loopback port: a cluster of its own made by `initdb` in a
temp folder, no system service. PostgreSQL refuses to run as root: as root, the cluster belongs
to the `postgres` user (which Debian's package creates) and its folder is one of its own in /tmp
(a test's folder is not open to other users)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from etl.devtools.servers import debian_package, free_port, start_process, wait_until

USER = "mailflow"  # the cluster's superuser; trust authentication on loopback: a throw-away cluster


@dataclass(frozen=True)
class Postgres:
    port: int
    data: Path

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{USER}@127.0.0.1:{self.port}/{database}"


def start(folder: Path, databases: tuple[str, ...] = ()) -> tuple[subprocess.Popen, Postgres]:
    folder.mkdir(parents=True, exist_ok=True)
    # resolved: a link to it may be on PATH, and its sibling programs are beside the target
    initdb = Path(debian_package("initdb", "postgresql", "/usr/lib/postgresql/*/bin/initdb")).resolve()
    bin_dir = initdb.parent
    owner = _run_as()
    data = Path(tempfile.mkdtemp(prefix="mailflow-postgres-")) if owner else folder / "data"
    if owner:
        shutil.chown(data, owner, owner)
    run = ["runuser", "-u", owner, "--"] if owner else []
    subprocess.run([*run, str(initdb), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    port = free_port()
    log = folder / "postgres.log"
    # fsync off: a throw-away cluster, nothing in it needs to survive a power cut
    process = start_process([*run, str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                             "-k", str(data), "-c", "fsync=off", "-c", "max_connections=200"], log)
    server = Postgres(port, data)
    wait_until(lambda: _ready(bin_dir, port), process, log, "PostgreSQL")
    for database in databases:
        subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, database],
                       check=True, capture_output=True, timeout=60)
    return process, server


def stop(process: subprocess.Popen, server: Postgres) -> None:
    from etl.devtools.servers import stop as stop_group

    stop_group(process, grace=30, sig=signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown
    if server.data.name.startswith("mailflow-postgres-"):
        shutil.rmtree(server.data, ignore_errors=True)


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("PostgreSQL will not run as root, and there is no postgres user to run it as")


def _ready(bin_dir: Path, port: int) -> bool:
    return subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
                          capture_output=True).returncode == 0

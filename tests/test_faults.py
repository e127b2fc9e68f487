"""The fault suite: kill -9 the command line at many points of an ingest, of a backfill with
--reports, of report --archive --send, by time and by files appearing; then run the same command
again and compare with an uninterrupted run: the days' counts, no inconsistent day, no staging left,
the archive intact, the same report content and one message per report."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from etl.devtools.sample import write_day

MON, TUE, WED = date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)
BIG_ROWS = 150_000  # an ingest of a second or two: time enough to die in each of its phases


def mailflow(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "MAILFLOW_HOME": str(home)}
    env.pop("MAILFLOW_SMTP_HOST", None)  # mail goes to the outbox: what was sent is on disk
    return subprocess.run([sys.executable, "-m", "etl", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def killed(home: Path, args: list[str], *, after: float | None = None,
           when: Callable[[Path], bool] | None = None) -> bool:
    """Run the command and kill -9 it `after` seconds, or as soon as `when(home)` holds; True if it
    died by the kill (False: it finished first)."""
    env = {**os.environ, "MAILFLOW_HOME": str(home)}
    env.pop("MAILFLOW_SMTP_HOST", None)
    process = subprocess.Popen([sys.executable, "-m", "etl", *args], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    started = time.monotonic()
    while process.poll() is None:
        if (after is not None and time.monotonic() - started >= after) or (when is not None and when(home)):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    return process.wait(timeout=120) == -signal.SIGKILL


def state(home: Path) -> dict:
    """What an uninterrupted run and a killed-then-rerun one must agree on."""
    status = json.loads(mailflow(home, "status", "--json").stdout)
    days = [{k: v for k, v in d.items()} for d in status["days"]]
    staging = home / "lake" / ".staging"
    reports = {}
    for path in sorted((home / "archive").glob("*/W*/r*/report.json")):
        report = json.loads(path.read_text())
        reports[path.parent.parent.name] = {k: v for k, v in report.items() if k != "generated_at"}  # the latest
    outbox = sorted(p.name for p in (home / "outbox").glob("*.eml")) if (home / "outbox").exists() else []
    return {"days": days, "inconsistent": status["inconsistent"], "missing": status["missing"],
            "staging_left": sorted(p.name for p in staging.iterdir()) if staging.exists() else [],
            "reports": reports, "messages": len(outbox)}


def verified(home: Path) -> bool:
    return mailflow(home, "archive", "verify").returncode == 0


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("exports")
    write_day(folder / f"trace_{MON}.csv", MON, BIG_ROWS, seed=3)
    for day in (TUE, WED):
        write_day(folder / f"trace_{day}.csv", day, 2_000, seed=3)
    return folder


def fresh_home(tmp_path: Path, exports: Path, name: str) -> Path:
    home = tmp_path / name
    shutil.copytree(exports, home / "landing")
    return home


def phase(pattern: str) -> Callable[[Path], bool]:
    return lambda home: any(home.glob(pattern))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, exports) -> dict:
    """Each command run once, uninterrupted, on the same exports."""
    home = fresh_home(tmp_path_factory.mktemp("reference"), exports, "home")
    assert mailflow(home, "ingest", "--date", str(MON)).returncode == 0
    after_ingest = state(home)
    assert mailflow(home, "backfill", "--from", str(MON), "--to", str(WED), "--reports").returncode == 0
    after_backfill = state(home)
    assert mailflow(home, "report", "--from", str(MON), "--archive", "--send").returncode == 0
    return {"ingest": after_ingest, "backfill": after_backfill, "send": state(home)}


INGEST_KILLS = [
    {"after": 0.6}, {"after": 1.0}, {"after": 1.4}, {"after": 1.8}, {"after": 2.4},
    {"when": phase("lake/.staging/*/spill/accepted.parquet")},
    {"when": phase("lake/.staging/*/trace/part-0.parquet")},
    {"when": phase("lake/quarantine/date=*")},  # the quarantine swapped in, the trace not yet
    {"when": phase("lake/trace/date=*")},  # the lake committed, the warehouse not yet
    {"when": phase("warehouse.duckdb*")},
    {"when": phase("warehouse.snapshot.duckdb")},
]


@pytest.mark.parametrize("kill", INGEST_KILLS, ids=lambda k: f"after {k['after']}s" if "after" in k else "phase")
def test_a_killed_ingest_rerun_ends_as_an_uninterrupted_one(tmp_path, exports, reference, kill):
    home = fresh_home(tmp_path, exports, "home")
    args = ["ingest", "--date", str(MON)]
    killed(home, args, **kill)
    assert mailflow(home, *args).returncode == 0
    assert state(home) == reference["ingest"]


BACKFILL_KILLS = [
    {"after": 1.5}, {"after": 3.0},
    {"when": phase("lake/trace/date=2026-11-18")},  # the last day's partition written
    {"when": phase("archive/.staging/*")},
    {"when": phase("archive/2026/W47/r1")},  # the revision in place, its index line not yet
    {"when": phase("archive/index.jsonl")},
]


@pytest.mark.parametrize("kill", BACKFILL_KILLS, ids=lambda k: f"after {k['after']}s" if "after" in k else "phase")
def test_a_killed_backfill_with_reports_rerun_ends_as_an_uninterrupted_one(tmp_path, exports, reference, kill):
    home = fresh_home(tmp_path, exports, "home")
    args = ["backfill", "--from", str(MON), "--to", str(WED), "--reports"]
    killed(home, args, **kill)
    assert mailflow(home, *args).returncode == 0
    assert state(home) == reference["backfill"] and verified(home)


SEND_KILLS = [
    {"after": 0.5}, {"after": 0.9},
    {"when": phase("archive/2026/W47/r2")},  # the new revision in place, its index line not yet
    {"when": phase("outbox/*.eml")},  # the message written, its receipt not yet
    {"when": phase("archive/2026/W47/r2/receipt.json")},  # the receipt written, its index line not yet
]


@pytest.mark.parametrize("kill", SEND_KILLS, ids=lambda k: f"after {k['after']}s" if "after" in k else "phase")
def test_a_killed_report_send_rerun_ends_as_an_uninterrupted_one(tmp_path, exports, reference, kill):
    home = fresh_home(tmp_path, exports, "home")
    assert mailflow(home, "backfill", "--from", str(MON), "--to", str(WED), "--reports").returncode == 0
    args = ["report", "--from", str(MON), "--archive", "--send"]
    killed(home, args, **kill)
    assert mailflow(home, *args).returncode == 0
    assert state(home) == reference["send"] and verified(home)
    messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in (home / "outbox").glob("*.eml")]
    assert len({m["Message-ID"] for m in messages}) == 1  # a resend is the same message


def test_the_suite_kills_mid_run(tmp_path, exports):
    """The kills above land while the command runs (not after it finished), else they prove nothing.
    On a busy machine a kill can land late; each gets three tries."""
    landed = 0
    for number, kill in enumerate(INGEST_KILLS[:3] + INGEST_KILLS[5:9]):
        landed += any(killed(fresh_home(tmp_path, exports, f"home{number}-{attempt}"), ["ingest", "--date", str(MON)],
                             **kill) for attempt in range(3))
    assert landed >= 6

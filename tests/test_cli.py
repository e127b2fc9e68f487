"""The command line as a user meets it: exit codes, one-line errors, JSON counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import HEADER, csv_bytes, row

REPO = Path(__file__).resolve().parent.parent


def etl(*args, home: Path):
    env = {**os.environ, "MAILFLOW_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "etl", *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_ingest_json_counts_reconcile(tmp_path):
    path = tmp_path / "trace_2026-11-09.csv"
    path.write_bytes(csv_bytes([row(), row(), row(received="nope"), row(message_id="<2@x>", tls="Tls13")]))
    done = etl("ingest", "--date", "2026-11-09", "--json", path, home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts == {"date": "2026-11-09", "rows_read": 4, "rows_loaded": 2, "rows_quarantined": 1,
                      "duplicates_removed": 1, "quarantine_reasons": {"bad_timestamp": 1}}
    status = etl("status", "--json", home=tmp_path / "home")
    assert json.loads(status.stdout)["days"][0]["messages"] == 2


def test_a_bad_file_is_one_line_and_a_nonzero_exit(tmp_path):
    path = tmp_path / "trace_2026-11-09.csv"
    path.write_bytes(csv_bytes([row()[:3]], header=HEADER[:3]))
    done = etl("ingest", "--date", "2026-11-09", path, home=tmp_path / "home")
    assert done.returncode == 2
    assert done.stderr == "error: trace_2026-11-09.csv: missing required column 'Direction' (or Directionality)\n"
    assert not (tmp_path / "home" / "lake" / "trace").exists()


def test_usage_errors_are_reported_by_argparse(tmp_path):
    done = etl("ingest", "--date", "2026-02-30", home=tmp_path)
    assert done.returncode == 2 and "not a date" in done.stderr and "Traceback" not in done.stderr


def test_sample_then_ingest_from_the_landing_folder(tmp_path):
    home = tmp_path / "home"
    assert etl("sample", "--start", "2026-11-09", "--days", "1", "--out", home / "landing", "--rows-per-day", 200,
               home=home).returncode == 0
    done = etl("ingest", "--date", "2026-11-09", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2026-11-09: read ")


def test_report_writes_the_outputs_and_refuses_bad_requests(tmp_path):
    home = tmp_path / "home"
    etl("sample", "--start", "2026-11-09", "--days", "1", "--out", home / "landing", "--rows-per-day", 300, home=home)
    assert etl("ingest", "--date", "2026-11-09", home=home).returncode == 0
    done = etl("report", "--from", "2026-11-09", "--to", "2026-11-10", "--out", tmp_path / "out", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "out" / n) for n in
                                   ("report.html", "email.html", "report.txt", "report.json")]
    assert "incomplete: 1 day missing" in done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["window"]["missing_days"] == ["2026-11-10"]

    for args, message in [
        (["--from", "2026-11-10", "--to", "2026-11-09"], "error: the window ends (2026-11-09) before it starts"),
        (["--format", "pdf"], "error: unknown format pdf"),
    ]:
        done = etl("report", *args, "--out", tmp_path / "x", home=home)
        assert done.returncode == 2 and done.stderr.startswith(message) and done.stderr.count("\n") == 1

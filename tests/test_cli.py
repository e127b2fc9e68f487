"""The command line as a user meets it: exit codes, one-line errors, JSON counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from tests.conftest import HEADER, csv_bytes, row, storage_at

REPO = Path(__file__).resolve().parent.parent


def etl(*args, home: Path):
    env = {**os.environ, "MAILFLOW_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "etl", *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_ingest_json_counts_reconcile(tmp_path):
    path = tmp_path / "trace_2026-11-09.csv"
    path.write_bytes(csv_bytes([row(), row(), row(received="nope"), row(message_id="<2@x>", tls="Tls13")]))
    # 1 of 4 rows quarantined is far above the gate's 1%: --no-gate loads it without the verdict
    done = etl("ingest", "--date", "2026-11-09", "--json", "--no-gate", path, home=tmp_path / "home")
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
    assert not storage_at(tmp_path / "home").is_loaded(date(2026, 11, 9))


def test_usage_errors_are_reported_by_argparse(tmp_path):
    done = etl("ingest", "--date", "2026-02-30", home=tmp_path)
    assert done.returncode == 2 and "not a date" in done.stderr and "Traceback" not in done.stderr


def test_sample_then_ingest_from_the_landing_folder(tmp_path):
    home = tmp_path / "home"
    assert etl("sample", "--start", "2026-11-09", "--days", "1", "--out", home / "landing", "--rows-per-day", 500,
               home=home).returncode == 0
    done = etl("ingest", "--date", "2026-11-09", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2026-11-09: read ")


def test_report_writes_the_outputs_and_refuses_bad_requests(tmp_path):
    home = tmp_path / "home"
    etl("sample", "--start", "2026-11-09", "--days", "1", "--out", home / "landing", "--rows-per-day", 500, home=home)
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


def test_ingest_applies_the_daily_dags_quality_gate_and_keeps_the_day(tmp_path):
    path = tmp_path / "trace_2026-11-09.csv"
    path.write_bytes(csv_bytes([row(), row(received="nope"), row(message_id="<2@x>")]))
    done = etl("ingest", "--date", "2026-11-09", path, home=tmp_path / "home")
    assert done.returncode == 2
    assert done.stderr.startswith("error: 2026-11-09: 33.3% of rows quarantined (1 of 3: bad_timestamp=1), "
                                  "above the 1.0% limit") and done.stderr.count("\n") == 1
    assert done.stdout.startswith("2026-11-09: read 3, loaded 2")  # the counts come first
    status = json.loads(etl("status", "--json", home=tmp_path / "home").stdout)
    assert [d["date"] for d in status["days"]] == ["2026-11-09"]  # loaded, as the DAG leaves it


def test_every_command_has_help_with_an_example(tmp_path):
    from etl.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    for name in commands:
        args = {"archive": ["archive", "list"], "lake": ["lake", "expire"], "tlsrpt": ["tlsrpt", "ingest"]}.get(
            name, [name])
        done = subprocess.run([sys.executable, "-m", "etl", *args, "--help"], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0 and "example:\n  mailflow " in done.stdout, name


def test_a_bug_is_exit_1_with_one_line_and_a_user_error_exit_2(tmp_path, monkeypatch, capsys):
    from etl import cli

    def broken(args):
        raise ValueError("a bug, not the user's fault")

    monkeypatch.setattr(cli, "cmd_status", broken)
    monkeypatch.delenv("MAILFLOW_DEBUG", raising=False)
    monkeypatch.setenv("MAILFLOW_HOME", str(tmp_path))
    assert cli.main(["status"]) == 1
    assert capsys.readouterr().err == ("error: unexpected ValueError: a bug, not the user's fault "
                                       "(set MAILFLOW_DEBUG=1 for the traceback)\n")
    assert cli.main(["archive", "show", "2026-W47"]) == 2
    assert capsys.readouterr().err == "error: no archived report '2026-W47'; see `mailflow archive list`\n"


def test_the_console_script_runs_without_pythonpath(tmp_path):
    script = Path(sys.executable).parent / "mailflow"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(script), "status"], env={**env, "MAILFLOW_HOME": str(tmp_path)}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_input_that_is_not_text_is_one_line_and_exit_2(tmp_path):
    cases = {
        "trace_2026-11-09.csv": Path("/bin/ls").read_bytes(),  # an executable under an export's name
        "cr.csv": b"Received,SenderAddress,RecipientAddress,Direction\r2026-11-09T10:00:00Z,a@b.c,d@e.f,Inbound\r",
    }
    messages = {"trace_2026-11-09.csv": "not a recognised export: binary data, not text",
                "cr.csv": "not a recognised export: its lines end in a carriage return alone"}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        for source in ("auto", "csv"):
            done = etl("ingest", "--date", "2026-11-09", "--source", source, path, home=tmp_path / "home")
            assert done.returncode == 2 and done.stderr.count("\n") == 1, (name, source, done.stderr)
            if source == "auto":
                assert done.stderr.startswith(f"error: {name}: {messages[name]}")
    assert not storage_at(tmp_path / "home").is_loaded(date(2026, 11, 9))


def test_a_symlink_loop_as_the_landing_folder_is_one_line(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    env = {**os.environ, "MAILFLOW_HOME": str(tmp_path / "home"), "MAILFLOW_LANDING": str(tmp_path / "a")}
    for args in (["ingest", "--date", "2026-11-09"], ["status"]):
        done = subprocess.run([sys.executable, "-m", "etl", *args], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2 and done.stderr.startswith("error: MAILFLOW_LANDING=") and "loop" in done.stderr

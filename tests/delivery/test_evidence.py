"""Evidence bundles: an auditor checks a revision with standard tools only, as VERIFY.txt says."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.delivery.test_signing import signed  # noqa: F401 - the fixture


def export(cfg, tmp_path, report_id: str, rev: int) -> Path:
    out = tmp_path / "bundle.zip"
    done = subprocess.run([sys.executable, "-m", "etl", "archive", "export", report_id, "--rev", str(rev),
                           "--out", str(out)], capture_output=True, text=True,
                          env={**os.environ, "MAILFLOW_HOME": str(cfg.home)}, timeout=120)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as bundle:
        bundle.extractall(tmp_path / "unzipped")
    (folder,) = (tmp_path / "unzipped").iterdir()
    return folder


def run_verify_txt(folder: Path) -> list[subprocess.CompletedProcess]:
    commands = [line[2:] for line in (folder / "VERIFY.txt").read_text().splitlines() if line.startswith("$ ")]
    return [subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=60)
            for command in commands]


def test_the_instructions_work_as_written_and_catch_a_change(signed, tmp_path):  # noqa: F811
    cfg, first, public_key = signed
    folder = export(cfg, tmp_path, first.report_id, 1)
    assert sorted(p.name for p in folder.iterdir()) == ["SHA256SUMS", "VERIFY.txt", "files", "index.jsonl",
                                                         "signing-key.pem"]
    assert {"manifest.json", "manifest.sig", "receipt.json", "report.html", "message.eml"} <= {
        p.name for p in (folder / "files").iterdir()}
    results = run_verify_txt(folder)
    assert len(results) == 7 and all(r.returncode == 0 for r in results), [(r.stdout, r.stderr) for r in results]
    output = "".join(r.stdout for r in results)
    assert "Signature Verified Successfully" in output and "chain: 2 lines" in output  # archived, then sent
    from etl.delivery.signing import fingerprint
    assert fingerprint(public_key).removeprefix("ed25519:") in output  # what the auditor compares

    # a figure changed in the bundle, then the index's first line: the checks say so
    report = folder / "files" / "report.html"
    report.write_bytes(report.read_bytes().replace(b"40.0%", b"4.0%", 1))
    index = folder / "index.jsonl"
    index.write_bytes(index.read_bytes().replace(b'"reason":"first issue"', b'"reason":"nothing to see"', 1))
    failed = [r for r in run_verify_txt(folder) if r.returncode != 0]
    assert len(failed) == 2
    assert "files/report.html: FAILED" in failed[0].stdout and "BROKEN CHAIN at line 2" in failed[1].stdout

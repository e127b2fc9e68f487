"""Witnesses: the chain head every mailed report carries catches an insider's rewrite of the archive."""

from __future__ import annotations

import email
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from etl.delivery.archive import Archive
from etl.delivery.mail import MESSAGE_POLICY
from etl.delivery.witness import HEADER, ChainHead
from etl.pipeline import send_report
from etl.storage import Storage
from tests.conftest import archive_report
from tests.delivery.test_archive import OUTBOX
from tests.delivery.test_mail import NOW
from tests.report.test_report_html import evil_report


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rewrite_history(archive: Archive, location: str, name: str, old: bytes, new: bytes) -> None:
    """What an insider with write access does: change a file of a revision, then recompute its
    manifest, the index line that hashes it, every later line's chain hash, and the anchor."""
    folder = archive.store.root / location
    os.chmod(folder, 0o750)
    for file in (name, "manifest.json"):
        os.chmod(folder / file, 0o640)
    data = (folder / name).read_bytes()
    assert old in data, (name, old)
    (folder / name).write_bytes(data.replace(old, new))
    manifest = json.loads((folder / "manifest.json").read_text())
    changed = (folder / name).read_bytes()
    manifest["files"][name] = {"sha256": sha256(changed), "bytes": len(changed)}
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (folder / "manifest.json").write_bytes(manifest_bytes)
    index = archive.store.index_location()
    lines, previous = [], "0" * 64
    for raw in index.read_bytes().splitlines():
        entry = json.loads(raw)
        if entry.get("path") == location and entry["event"] == "archived":
            entry["manifest_sha256"] = sha256(manifest_bytes)
        entry["prev_sha256"] = previous
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        lines.append(line)
        previous = sha256(line)
    index.write_bytes(b"".join(line + b"\n" for line in lines))
    archive.store.write_head({"lines": len(lines), "last_sha256": previous})


def mailed(cfg) -> tuple[Path, bytes]:
    (path,) = (cfg.home / "outbox").iterdir()
    return path, path.read_bytes()


def test_the_mailed_report_carries_the_chain_head_and_its_receipt_what_was_sent(cfg):
    first = archive_report(cfg, evil_report(), OUTBOX, reason=None, now=NOW)
    archive_report(cfg, evil_report(), OUTBOX, reason="late data", now=NOW)
    receipt = send_report(cfg, first.report_id, 1, OUTBOX)

    archive = Archive(Storage(cfg))
    lines = archive.store.index_location().read_bytes().splitlines()
    path, sent = mailed(cfg)
    message = email.message_from_bytes(sent, policy=MESSAGE_POLICY)
    head = ChainHead.parse(message[HEADER])
    assert head == ChainHead(2, sha256(lines[1]))  # both revisions' lines; the send is line 3
    assert receipt["witness"] == {"line": 2, "sha256": head.sha256} and receipt["sent_sha256"] == sha256(sent)
    for kind in ("plain", "html"):
        assert head.sentence() in message.get_body((kind,)).get_content()
    assert archive.verify() == []
    assert archive.verify_witnesses([path]) == ([], [str(path)])


def test_an_insider_rewrite_is_caught_by_a_witness_and_an_untouched_archive_passes(cfg, tmp_path):
    first = archive_report(cfg, evil_report(), OUTBOX, reason=None, now=NOW)
    send_report(cfg, first.report_id, 1, OUTBOX)
    saved = tmp_path / "kept-by-the-auditor"
    saved.mkdir()
    witness, data = mailed(cfg)
    (saved / "2026-W47.eml").write_bytes(data)
    archive_report(cfg, evil_report(), OUTBOX, reason="late data", now=NOW)
    archive = Archive(Storage(cfg))
    assert archive.verify_witnesses([saved])[0] == []

    rewrite_history(archive, first.location, "report.html", b"40.0%", b"4.0%")  # No TLS was 40%: now 4%
    assert archive.verify() == []  # the hash chain alone proves nothing against an insider
    problems, agreeing = archive.verify_witnesses([saved])
    witnessed = ChainHead.parse(email.message_from_bytes(data)[HEADER]).sha256
    now = sha256(archive.store.index_location().read_bytes().splitlines()[0])
    assert agreeing == [] and problems == [
        f"{saved / '2026-W47.eml'}: witnesses index line 1 with SHA-256 {witnessed[:16]}..., which now hashes to "
        f"{now[:16]}...: the archive's history up to line 1 was rewritten"]

    done = subprocess.run([sys.executable, "-m", "etl", "archive", "verify", "--witness", str(saved)],
                          capture_output=True, text=True, env={**os.environ, "MAILFLOW_HOME": str(cfg.home)})
    assert done.returncode == 1 and "was rewritten" in done.stdout

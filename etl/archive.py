"""The tamper-evident report archive for auditors.

    archive/2026/W47/r1/           a weekly report (Monday to Sunday), revision 1
    archive/adhoc/<window>[...]/r1/ any other window or filter
    archive/index.jsonl             one line per event, each holding the SHA-256 of the line before

A revision is written once: built aside, made read-only, renamed into place. Re-running a
report makes r2 beside r1 and records in the index which revision it supersedes and why.
`verify` re-hashes every file and the chain and names whatever changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from .config import Settings
from .report import window_name
from .storage import TRACE, Lake, write_bytes_atomic

GENESIS = "0" * 64
MANIFEST = "manifest.json"
RECEIPT = "receipt.json"
INDEX = "index.jsonl"


class ArchiveError(Exception):
    """The archive cannot do what was asked; one line says why."""


@dataclass(frozen=True)
class Revision:
    report_id: str
    number: int
    path: Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def report_id(start: date, end: date, connector: str | None, direction: str | None) -> str:
    """`2026-W47` for a Monday-to-Sunday week without filters, else `adhoc/<start>_<end>[...]`."""
    year, week, weekday = start.isocalendar()
    if weekday == 1 and end == start + timedelta(days=6) and connector is None and direction is None:
        return f"{year}-W{week:02d}"
    return "adhoc/" + window_name(start, end, connector, direction)


def _id_dir(root: Path, rid: str) -> Path:
    if rid.startswith("adhoc/"):
        return root / rid
    year, week = rid.split("-W")
    return root / year / f"W{week}"


def code_version() -> str:
    repo = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10,  # noqa: S607
                              check=False)
        if done.returncode == 0:
            return "git:" + done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "package:" + version("mailflow-etl")
    except PackageNotFoundError:
        return "unknown"


def input_days(settings: Settings, start: date, end: date) -> list[dict]:
    """Every input day's lake partition: its row count and a hash of its content (or missing)."""
    lake = Lake(settings)
    days = []
    day = start
    while day <= end:
        partition = lake.partition(TRACE, day)
        if (partition / "_load.json").exists():
            digest = hashlib.sha256()
            for file in sorted(partition.glob("*.parquet")):
                digest.update(file.name.encode() + b"\0" + sha256_file(file).encode() + b"\n")
            rows = json.loads((partition / "_load.json").read_text(encoding="utf-8"))["rows_loaded"]
            days.append({"date": day.isoformat(), "rows_loaded": rows, "content_sha256": digest.hexdigest()})
        else:
            days.append({"date": day.isoformat(), "missing": True})
        day += timedelta(days=1)
    return days


class Archive:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = settings.home / "archive"
        self.lake = Lake(settings)

    # -- writing ---------------------------------------------------------------------------
    def add(self, rid: str, files: dict[str, bytes], manifest: dict, reason: str) -> Revision:
        """Archive one revision of `rid`: write the files and the manifest, read-only, then index it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self.lake.lock("archive"):
            entries = self.entries()
            previous = [e for e in entries if e["report_id"] == rid and e["event"] == "archived"]
            number = len(previous) + 1
            target = _id_dir(self.root, rid) / f"r{number}"
            if target.exists():
                raise ArchiveError(f"{target} exists but the index does not know it; run `archive verify`")
            staging = self.root / ".staging" / uuid.uuid4().hex
            staging.mkdir(parents=True)
            try:
                listed = {}
                for name, data in sorted(files.items()):
                    (staging / name).write_bytes(data)
                    listed[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                full = {**manifest, "report_id": rid, "revision": number, "files": listed,
                        "supersedes": previous[-1]["revision"] if previous else None, "reason": reason}
                manifest_bytes = (json.dumps(full, indent=2, sort_keys=True) + "\n").encode("utf-8")
                (staging / MANIFEST).write_bytes(manifest_bytes)
                _freeze_files(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staging, target)
                os.chmod(target, 0o550)  # after the move: moving a folder needs it writable
            except BaseException:
                _thaw(staging)
                shutil.rmtree(staging, ignore_errors=True)
                raise
            self._append({"event": "archived", "report_id": rid, "revision": number,
                          "path": str(target.relative_to(self.root)),
                          "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                          "supersedes": full["supersedes"], "reason": reason,
                          "created_at": manifest["generated_at"]})
        return Revision(rid, number, target)

    def record_receipt(self, revision: Revision, receipt: dict) -> Path:
        """The send receipt, written once beside the revision and chained into the index."""
        with self.lake.lock("archive"):
            path = revision.path / RECEIPT
            if path.exists():
                raise ArchiveError(f"{revision.report_id} r{revision.number} was already sent")
            data = (json.dumps(receipt, indent=2, sort_keys=True) + "\n").encode("utf-8")
            os.chmod(revision.path, 0o750)
            try:
                write_bytes_atomic(path, data)
                os.chmod(path, 0o444)
            finally:
                os.chmod(revision.path, 0o550)
            self._append({"event": "sent", "report_id": revision.report_id, "revision": revision.number,
                          "receipt_sha256": hashlib.sha256(data).hexdigest(), "message_id": receipt["message_id"],
                          "created_at": receipt["sent_at"]})
        return path

    def receipt(self, revision: Revision) -> dict | None:
        path = revision.path / RECEIPT
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def _append(self, entry: dict) -> None:
        index = self.root / INDEX
        previous = GENESIS
        if index.exists():
            lines = index.read_bytes().splitlines()
            if lines:
                previous = hashlib.sha256(lines[-1]).hexdigest()
        line = json.dumps({**entry, "prev_sha256": previous}, sort_keys=True, separators=(",", ":"))
        with open(index, "ab") as fh:
            fh.write(line.encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    # -- reading ---------------------------------------------------------------------------
    def entries(self) -> list[dict]:
        index = self.root / INDEX
        if not index.exists():
            return []
        return [json.loads(line) for line in index.read_bytes().splitlines() if line.strip()]

    def revisions(self, rid: str) -> list[Revision]:
        return [Revision(rid, e["revision"], self.root / e["path"]) for e in self.entries()
                if e["event"] == "archived" and e["report_id"] == rid]

    def revision(self, rid: str, number: int | None = None) -> Revision:
        found = self.revisions(rid)
        if not found:
            raise ArchiveError(f"no archived report {rid!r}; see `python -m etl archive list`")
        if number is None:
            return found[-1]
        for rev in found:
            if rev.number == number:
                return rev
        raise ArchiveError(f"{rid} has no revision {number} (it has r1 to r{found[-1].number})")

    # -- verifying -------------------------------------------------------------------------
    def verify(self, rid: str | None = None) -> list[str]:
        """Every problem found, one line each; empty when the archive is intact."""
        problems: list[str] = []
        index = self.root / INDEX
        if not index.exists():
            return [f"{index}: missing"] if self.root.exists() and any(self.root.iterdir()) else []
        raw_lines = index.read_bytes().splitlines()
        previous = GENESIS
        entries = []
        for number, raw in enumerate(raw_lines, start=1):
            try:
                entry = json.loads(raw)
            except ValueError:
                problems.append(f"index line {number}: not valid JSON (edited or truncated)")
                previous = hashlib.sha256(raw).hexdigest()
                continue
            if entry.get("prev_sha256") != previous:
                problems.append(f"index line {number}: broken chain (the line before it was changed, "
                                "removed or inserted)")
            previous = hashlib.sha256(raw).hexdigest()
            entries.append((number, entry))
        receipts = {(e["report_id"], e["revision"]): (n, e) for n, e in entries if e.get("event") == "sent"}
        known_dirs = set()
        for number, entry in entries:
            if entry.get("event") != "archived" or (rid and entry["report_id"] != rid):
                continue
            folder = self.root / entry["path"]
            known_dirs.add(folder)
            problems += self._verify_revision(number, entry, folder, receipts.get((entry["report_id"],
                                                                                    entry["revision"])))
        if rid is None:
            for manifest in self.root.rglob(MANIFEST):
                if ".staging" not in manifest.parts and manifest.parent not in known_dirs:
                    problems.append(f"{manifest.parent.relative_to(self.root)}: revision not in the index")
        return problems

    def _verify_revision(self, line: int, entry: dict, folder: Path, sent) -> list[str]:
        where = f"{entry['report_id']} r{entry['revision']}"
        manifest_path = folder / MANIFEST
        if not manifest_path.exists():
            return [f"{where}: {MANIFEST} missing"]
        problems = []
        if sha256_file(manifest_path) != entry["manifest_sha256"]:
            problems.append(f"{where}: {MANIFEST} changed (index line {line})")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError:
            return problems + [f"{where}: {MANIFEST} is not readable JSON; its files cannot be checked"]
        expected = set(manifest.get("files", {})) | {MANIFEST}
        for name, facts in sorted(manifest.get("files", {}).items()):
            path = folder / name
            if not path.exists():
                problems.append(f"{where}: {name} missing")
            elif path.stat().st_size != facts["bytes"] or sha256_file(path) != facts["sha256"]:
                problems.append(f"{where}: {name} changed")
        if sent is not None:
            expected.add(RECEIPT)
            receipt = folder / RECEIPT
            if not receipt.exists():
                problems.append(f"{where}: {RECEIPT} missing (index line {sent[0]} records a send)")
            elif sha256_file(receipt) != sent[1]["receipt_sha256"]:
                problems.append(f"{where}: {RECEIPT} changed")
        for path in sorted(folder.iterdir()):
            if path.name not in expected:
                problems.append(f"{where}: unexpected file {path.name}")
        return problems


def _freeze_files(folder: Path) -> None:
    for path in folder.iterdir():
        os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _thaw(folder: Path) -> None:
    if folder.exists():
        os.chmod(folder, 0o750)
        for path in folder.iterdir():
            os.chmod(path, 0o644)

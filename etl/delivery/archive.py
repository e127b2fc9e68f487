"""The tamper-evident report archive for auditors.

    archive/2026/W47/r1/           a weekly report (Monday to Sunday), revision 1
    archive/adhoc/<window>[...]/r1/ any other window or filter
    archive/index.jsonl             one line per event, each holding the SHA-256 of the line before

A revision is written once (storage.ArchiveStore builds it aside, makes it read-only and moves
it into place). Re-running a report makes r2 beside r1 and records in the index which revision it
supersedes and why. `verify` re-hashes every file and the chain and names whatever changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from etl.errors import ArchiveError
from etl.storage import Storage

GENESIS = "0" * 64
MANIFEST = "manifest.json"
RECEIPT = "receipt.json"


@dataclass(frozen=True)
class Revision:
    report_id: str
    number: int
    location: str  # inside the archive, e.g. 2026/W47/r1
    path: Path  # where an auditor finds it


class Archive:
    def __init__(self, storage: Storage):
        self.store = storage.archive

    # -- writing ---------------------------------------------------------------------------
    def add(self, rid: str, files: dict[str, bytes], manifest: dict, reason: str) -> Revision:
        """Archive one revision of `rid`: write the files and the manifest, read-only, then index it."""
        with self.store.lock():
            previous = self.revisions(rid)
            number = len(previous) + 1
            location = self.store.revision_location(rid, number)
            listed = {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                      for name, data in sorted(files.items())}
            full = {**manifest, "report_id": rid, "revision": number, "files": listed,
                    "supersedes": previous[-1].number if previous else None, "reason": reason}
            manifest_bytes = (json.dumps(full, indent=2, sort_keys=True) + "\n").encode("utf-8")
            self.store.create_revision(location, {**files, MANIFEST: manifest_bytes})
            self._append({"event": "archived", "report_id": rid, "revision": number, "path": location,
                          "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                          "supersedes": full["supersedes"], "reason": reason,
                          "created_at": manifest["generated_at"]})
        return self._revision(rid, number, location)

    def record_receipt(self, revision: Revision, receipt: dict) -> None:
        """The send receipt, written once beside the revision and chained into the index."""
        with self.store.lock():
            if self.store.read(revision.location, RECEIPT) is not None:
                raise ArchiveError(f"{revision.report_id} r{revision.number} was already sent")
            data = (json.dumps(receipt, indent=2, sort_keys=True) + "\n").encode("utf-8")
            self.store.add_file(revision.location, RECEIPT, data)
            self._append({"event": "sent", "report_id": revision.report_id, "revision": revision.number,
                          "receipt_sha256": hashlib.sha256(data).hexdigest(), "message_id": receipt["message_id"],
                          "created_at": receipt["sent_at"]})

    def _append(self, entry: dict) -> None:
        lines = self.store.index_lines()
        previous = hashlib.sha256(lines[-1]).hexdigest() if lines else GENESIS
        line = json.dumps({**entry, "prev_sha256": previous}, sort_keys=True, separators=(",", ":"))
        self.store.append_index(line.encode("utf-8"))

    # -- reading ---------------------------------------------------------------------------
    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.store.index_lines() if line.strip()]

    def _revision(self, rid: str, number: int, location: str) -> Revision:
        return Revision(rid, number, location, self.store.display(location))

    def revisions(self, rid: str) -> list[Revision]:
        return [self._revision(rid, e["revision"], e["path"]) for e in self.entries()
                if e["event"] == "archived" and e["report_id"] == rid]

    def revision(self, rid: str, number: int | None = None) -> Revision:
        found = self.revisions(rid)
        if not found:
            raise ArchiveError(f"no archived report {rid!r}; see `mailflow archive list`")
        if number is None:
            return found[-1]
        for rev in found:
            if rev.number == number:
                return rev
        raise ArchiveError(f"{rid} has no revision {number} (it has r1 to r{found[-1].number})")

    def manifest(self, revision: Revision) -> dict:
        return json.loads(self.store.read(revision.location, MANIFEST) or b"{}")

    def receipt(self, revision: Revision) -> dict | None:
        data = self.store.read(revision.location, RECEIPT)
        return json.loads(data) if data is not None else None

    def read(self, revision: Revision, name: str) -> bytes:
        data = self.store.read(revision.location, name)
        if data is None:
            raise ArchiveError(f"{revision.report_id} r{revision.number}: {name} missing; "
                               "run `mailflow archive verify`")
        return data

    # -- verifying -------------------------------------------------------------------------
    def verify(self, rid: str | None = None) -> list[str]:
        """Every problem found, one line each; empty when the archive is intact."""
        problems: list[str] = []
        if not self.store.has_index():
            return [] if self.store.is_empty() else [f"{self.store.index_location()}: missing"]
        previous = GENESIS
        entries = []
        for number, raw in enumerate(self.store.index_lines(), start=1):
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
        known = set()
        for number, entry in entries:
            if entry.get("event") != "archived" or (rid and entry["report_id"] != rid):
                continue
            known.add(entry["path"])
            problems += self._verify_revision(number, entry, receipts.get((entry["report_id"], entry["revision"])))
        if rid is None:
            problems += [f"{location}: revision not in the index"
                         for location in self.store.revision_locations(MANIFEST) if location not in known]
        return problems

    def _verify_revision(self, line: int, entry: dict, sent) -> list[str]:
        where = f"{entry['report_id']} r{entry['revision']}"
        location = entry["path"]
        manifest_bytes = self.store.read(location, MANIFEST)
        if manifest_bytes is None:
            return [f"{where}: {MANIFEST} missing"]
        problems = []
        if hashlib.sha256(manifest_bytes).hexdigest() != entry["manifest_sha256"]:
            problems.append(f"{where}: {MANIFEST} changed (index line {line})")
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError:
            return problems + [f"{where}: {MANIFEST} is not readable JSON; its files cannot be checked"]
        expected = set(manifest.get("files", {})) | {MANIFEST}
        for name, facts in sorted(manifest.get("files", {}).items()):
            digest = self.store.file_sha256(location, name)
            if digest is None:
                problems.append(f"{where}: {name} missing")
            elif digest != facts["sha256"]:
                problems.append(f"{where}: {name} changed")
        if sent is not None:
            expected.add(RECEIPT)
            digest = self.store.file_sha256(location, RECEIPT)
            if digest is None:
                problems.append(f"{where}: {RECEIPT} missing (index line {sent[0]} records a send)")
            elif digest != sent[1]["receipt_sha256"]:
                problems.append(f"{where}: {RECEIPT} changed")
        for name in self.store.file_names(location):
            if name not in expected:
                problems.append(f"{where}: unexpected file {name}")
        return problems

"""The tamper-evident report archive for auditors.

    archive/2026/W47/r1/           a weekly report (Monday to Sunday), revision 1
    archive/2026/11/r1/            a monthly report (a calendar month)
    archive/adhoc/<window>[...]/r1/ any other window or filter
    archive/index.jsonl             one line per event, each holding the SHA-256 of the line before
    archive/index.head              how many lines the index has, and the SHA-256 of the last

The archive lives beside the lake: a folder, or the same prefix in the bucket. A revision is
written once and never overwritten (storage.archive_files: read-only folders on disk, conditional
creates in a bucket), and the index has one writer at a time, on one host or many. Re-running
a report makes r2 beside r1 and records in the index which revision it supersedes and why.
`verify` re-hashes every file and the chain and names whatever changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from etl.delivery.signing import SIGNATURE, Signer, entry_verifies, key_file_name, load_public_key, public_pem, verifies
from etl.delivery.witness import HEADER, ChainHead, read_witnesses, with_witness
from etl.errors import ArchiveError
from etl.storage import Storage
from etl.storage.archive_files import MANIFEST

GENESIS = "0" * 64
RECEIPT = "receipt.json"
MESSAGE = "message.eml"
REPAIR = "mailflow archive repair"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Revision:
    report_id: str
    number: int
    location: str  # inside the archive, e.g. 2026/W47/r1
    path: Path | str  # where an auditor finds it: a folder, or its URL in a bucket


class Archive:
    def __init__(self, storage: Storage):
        self.store = storage.archive
        self.signer = Signer.from_setting(storage.settings.signing_key)
        self._keys: dict[str, object] = {}  # fingerprint -> the archive's copy of that public key
        self._trusted = None  # the public key `verify` was given

    # -- writing ---------------------------------------------------------------------------
    def add(self, rid: str, files: dict[str, bytes], manifest: dict, reason: str,
            numbered_files: Callable[[int], dict[str, bytes]] | None = None) -> Revision:
        """Archive one revision of `rid`: write the files and the manifest, read-only, then index it.
        `numbered_files` makes the files that name their own revision number (the PDF, and the
        message it is attached to), once the number is known, under the archive's lock."""
        with self.store.lock():
            self._repair_logged()
            previous = self.revisions(rid)
            number = len(previous) + 1
            location = self.store.revision_location(rid, number)
            files = {**files, **(numbered_files(number) if numbered_files else {})}
            listed = {name: {"sha256": sha256_hex(data), "bytes": len(data)}
                      for name, data in sorted(files.items())}
            full = {**manifest, "report_id": rid, "revision": number, "files": listed,
                    "supersedes": previous[-1].number if previous else None, "reason": reason}
            if self.signer:
                full["signed_by"] = self.signer.fingerprint
            manifest_bytes = (json.dumps(full, indent=2, sort_keys=True) + "\n").encode("utf-8")
            signature = {SIGNATURE: self.signer.sign(manifest_bytes)} if self.signer else {}
            self.store.create_revision(location, {**files, **signature, MANIFEST: manifest_bytes})
            self._append({"event": "archived", "report_id": rid, "revision": number, "path": location,
                          "manifest_sha256": sha256_hex(manifest_bytes),
                          "supersedes": full["supersedes"], "reason": reason,
                          "created_at": manifest["generated_at"]})
        return self._revision(rid, number, location)

    def record_receipt(self, revision: Revision, receipt: dict) -> None:
        """The send receipt, written once beside the revision and chained into the index."""
        with self.store.lock():
            self._repair_logged()
            if self.store.read(revision.location, RECEIPT) is not None:
                raise ArchiveError(f"{revision.report_id} r{revision.number} was already sent")
            data = (json.dumps(receipt, indent=2, sort_keys=True) + "\n").encode("utf-8")
            self.store.add_file(revision.location, RECEIPT, data)
            self._append({"event": "sent", "report_id": revision.report_id, "revision": revision.number,
                          "receipt_sha256": sha256_hex(data), "message_id": receipt["message_id"],
                          "created_at": receipt["sent_at"]})

    def _append(self, entry: dict) -> None:
        lines = self.store.index_lines()
        previous = sha256_hex(lines[-1]) if lines else GENESIS
        entry = {**entry, "prev_sha256": previous}
        if self.signer:
            self._publish_public_key()
            entry = self.signer.sign_entry(entry)
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8")
        self.store.append_index(line)
        self.store.write_head({"lines": len(lines) + 1, "last_sha256": sha256_hex(line)})

    def _publish_public_key(self) -> None:
        """The signing key's public half, in the archive (signing-keys/<fingerprint>.pem): what the
        evidence bundles carry. Auditors should compare it with a copy kept outside the archive."""
        name, pem = key_file_name(self.signer.public_key), public_pem(self.signer.public_key)
        if self.store.read_file(name) != pem:
            self.store.write_file(name, pem)

    # -- retention -------------------------------------------------------------------------
    def prunable(self, before: date) -> list[dict]:
        """The index lines of the revisions archived before `before` and not pruned yet."""
        entries = self.entries()
        pruned = {(e["report_id"], e["revision"]) for e in entries if e["event"] == "pruned"}
        return [e for e in entries if e["event"] == "archived" and e["created_at"][:10] < before.isoformat()
                and (e["report_id"], e["revision"]) not in pruned]

    def prune(self, before: date, now: datetime) -> list[str]:
        """Remove the revisions archived before `before`. Each is first recorded by a `pruned` line that
        keeps its manifest's SHA-256 (so the chain still proves what existed), then its files go."""
        done = []
        with self.store.lock():
            self._repair_logged()
            for entry in self.prunable(before):
                manifest = json.loads(self.store.read(entry["path"], MANIFEST) or b"{}")
                self._append({"event": "pruned", "report_id": entry["report_id"], "revision": entry["revision"],
                              "path": entry["path"], "manifest_sha256": entry["manifest_sha256"],
                              "window": manifest.get("window", {}).get("start", "") + " to "
                              + manifest.get("window", {}).get("end", ""),
                              "created_at": now.isoformat(timespec="seconds")})
                self.store.remove_revision(entry["path"])
                done.append(f"pruned {entry['report_id']} r{entry['revision']} (archived {entry['created_at']})")
        return done

    def pruned(self) -> dict[tuple[str, int], dict]:
        return {(e["report_id"], e["revision"]): e for e in self.entries() if e["event"] == "pruned"}

    # -- repairing -------------------------------------------------------------------------
    def repair(self) -> list[str]:
        """Finish what a crashed writer left half done; returns what was done, one line each.

        Only what the archive itself proves is added: a revision folder whose manifest describes
        its files exactly gets its index line; a receipt beside its revision gets its "sent" line;
        the index's end is anchored again when the chain up to it is intact. Nothing is removed
        but what never reached its place (half-built revisions and receipts in staging)."""
        with self.store.lock():
            return self._repair()

    def _repair_logged(self) -> None:
        """Repair on the next write: a crash must not block the next revision of the week."""
        for action in self._repair():
            log.warning("archive repair: %s", action)

    def _repair(self) -> list[str]:
        done = [f"removed {name} from staging: a writer crashed before moving it into place"
                for name in self.store.remove_abandoned_staging()]
        complete = self.store.torn_index_end()
        if complete is not None:
            # an append cut short: every whole line still agrees with the anchor, the torn one never counted
            lines = self.store.index_lines()[:-1]
            head = self.store.read_head()
            if head is None or head == {"lines": len(lines), "last_sha256": sha256_hex(lines[-1]) if lines else None}:
                self.store.truncate_index(complete)
                done.append("removed a torn last index line (an append cut short by a crash)")
        if _chain_problems(self.store.index_lines()):
            return done  # an edited index is evidence: verify names it, repair does not paper over it
        entries = self.entries()
        for entry in entries:
            if entry["event"] == "pruned" and entry["path"] in self.store.revision_locations():
                self.store.remove_revision(entry["path"])
                done.append(f"removed the files of {entry['report_id']} r{entry['revision']}, pruned before a crash "
                            "kept them from going")
        archived = {e["path"]: e for e in entries if e["event"] == "archived"}
        for location in self.store.revision_locations():
            manifest = self._intact_manifest(location)
            if location in archived or manifest is None:
                continue
            previous = [e for e in archived.values() if e["report_id"] == manifest["report_id"]]
            if manifest["revision"] != len(previous) + 1:
                continue
            manifest_bytes = self.store.read(location, MANIFEST)
            entry = {"event": "archived", "report_id": manifest["report_id"], "revision": manifest["revision"],
                     "path": location, "manifest_sha256": sha256_hex(manifest_bytes),
                     "supersedes": manifest["supersedes"], "reason": manifest["reason"],
                     "created_at": manifest["generated_at"], "repaired": True}
            self._append(entry)
            archived[location] = entry
            done.append(f"indexed {manifest['report_id']} r{manifest['revision']} ({location}), "
                        "written before a crash kept its index line from being added")
        sent = {(e["report_id"], e["revision"]) for e in self.entries() if e["event"] == "sent"}
        for entry in list(archived.values()):
            receipt = self.store.read(entry["path"], RECEIPT)
            if receipt is None or (entry["report_id"], entry["revision"]) in sent:
                continue
            facts = json.loads(receipt)
            self._append({"event": "sent", "report_id": entry["report_id"], "revision": entry["revision"],
                          "receipt_sha256": sha256_hex(receipt), "message_id": facts["message_id"],
                          "created_at": facts["sent_at"], "repaired": True})
            done.append(f"recorded the send of {entry['report_id']} r{entry['revision']} from its receipt")
        lines = self.store.index_lines()
        head = self.store.read_head()
        if lines and head != {"lines": len(lines), "last_sha256": sha256_hex(lines[-1])}:
            grown = head is not None and head["lines"] < len(lines)
            if head is None or (grown and sha256_hex(lines[head["lines"] - 1]) == head["last_sha256"]):
                self.store.write_head({"lines": len(lines), "last_sha256": sha256_hex(lines[-1])})
                done.append(f"anchored the index's end at line {len(lines)}")
        return done

    def _intact_manifest(self, location: str) -> dict | None:
        """A revision's manifest, if it is valid JSON and every file it lists is there as listed."""
        data = self.store.read(location, MANIFEST)
        try:
            manifest = json.loads(data) if data is not None else None
        except ValueError:
            return None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
            return None
        for name, facts in manifest["files"].items():
            if self.store.file_sha256(location, name) != facts.get("sha256"):
                return None
        return manifest

    # -- reading ---------------------------------------------------------------------------
    def chain_head(self) -> ChainHead:
        """The index's line count and the SHA-256 of its last line: what a mailed report witnesses."""
        lines = self.store.index_lines()
        return ChainHead(len(lines), sha256_hex(lines[-1]) if lines else GENESIS)

    def entries(self) -> list[dict]:
        entries = []
        for number, line in enumerate(self.store.index_lines(), start=1):
            try:
                entries.append(json.loads(line))
            except ValueError:
                raise ArchiveError(f"{self.store.index_location()}: line {number} is not valid JSON (truncated or "
                                   "edited); see `mailflow archive verify`") from None
        return entries

    def _revision(self, rid: str, number: int, location: str) -> Revision:
        return Revision(rid, number, location, self.store.display(location))

    def revisions(self, rid: str) -> list[Revision]:
        return [self._revision(rid, e["revision"], e["path"]) for e in self.entries()
                if e["event"] == "archived" and e["report_id"] == rid]

    def latest_revisions(self) -> list[Revision]:
        """The latest revision of every archived report, by report id."""
        latest = {e["report_id"]: e for e in self.entries() if e["event"] == "archived"}
        return [self._revision(rid, e["revision"], e["path"]) for rid, e in sorted(latest.items())]

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
        if data is None and (revision.report_id, revision.number) in self.pruned():
            raise ArchiveError(f"{revision.report_id} r{revision.number} was pruned (see index.jsonl); only its "
                               "manifest's SHA-256 is kept")
        if data is None:
            raise ArchiveError(f"{revision.report_id} r{revision.number}: {name} missing; "
                               "run `mailflow archive verify`")
        return data

    # -- verifying -------------------------------------------------------------------------
    def verify(self, rid: str | None = None, public_key=None) -> list[str]:
        """Every problem found, one line each; empty when the archive is intact. Signatures are
        checked against `public_key` when given (then anything unsigned is a problem too), else
        against the archive's own copy of the key each line names."""
        if not self.store.has_index():
            return [] if self.store.is_empty() else [f"{self.store.index_location()}: missing"]
        self._trusted = public_key
        lines = self.store.index_lines()
        problems = _chain_problems(lines) + self._head_problems(lines) + self._line_signature_problems(lines)
        entries = []
        for number, raw in enumerate(lines, start=1):
            try:
                entries.append((number, json.loads(raw)))
            except ValueError:
                continue  # named by _chain_problems
        receipts = {(e["report_id"], e["revision"]): (n, e) for n, e in entries if e.get("event") == "sent"}
        pruned = {(e["report_id"], e["revision"]): (n, e) for n, e in entries if e.get("event") == "pruned"}
        locations = set(self.store.revision_locations())
        known = set()
        for number, entry in entries:
            if entry.get("event") != "archived" or (rid and entry["report_id"] != rid):
                continue
            known.add(entry["path"])
            key = (entry["report_id"], entry["revision"])
            if key in pruned:
                problems += self._pruned_problems(number, entry, *pruned[key], still_there=entry["path"] in locations)
                continue
            problems += self._verify_revision(number, entry, receipts.get(key))
        if rid is None:
            for location in self.store.revision_locations():
                if location in known:
                    continue
                if self._intact_manifest(location) is not None:
                    problems.append(f"{location}: revision not in the index (a crash before its index line was "
                                    f"added?): `{REPAIR}` indexes it")
                else:
                    problems.append(f"{location}: a folder that no index line and no intact manifest describes")
        return problems

    def verify_witnesses(self, paths: list[Path]) -> tuple[list[str], list[str]]:
        """(problems, files checked): each saved email's chain head must still be a line of the index
        with the same SHA-256; the first witness a rewritten history contradicts is named."""
        lines = self.store.index_lines()
        problems, checked = [], []
        for file, head in read_witnesses(paths):
            if head is None:
                problems.append(f"{file}: no {HEADER} header (not a mailed report, or sent before witnesses)")
            elif head.line > len(lines):
                problems.append(f"{file}: witnesses index line {head.line}, but the index has {len(lines)} lines: "
                                "lines were removed")
            elif sha256_hex(lines[head.line - 1]) != head.sha256:
                problems.append(f"{file}: witnesses index line {head.line} with SHA-256 {head.sha256[:16]}..., "
                                f"which now hashes to {sha256_hex(lines[head.line - 1])[:16]}...: the archive's "
                                f"history up to line {head.line} was rewritten")
            else:
                checked.append(file)
        return problems, checked

    def _pruned_problems(self, line: int, entry: dict, pruned_line: int, pruned: dict, *,
                         still_there: bool) -> list[str]:
        """A pruned revision: gone, and its pruned line keeps the manifest hash its archived line has."""
        where = f"{entry['report_id']} r{entry['revision']}"
        problems = []
        if pruned["manifest_sha256"] != entry["manifest_sha256"]:
            problems.append(f"{where}: index line {pruned_line} prunes it with another manifest hash than line {line}")
        if still_there:
            problems.append(f"{where}: pruned (index line {pruned_line}) but its files remain; `{REPAIR}` removes them")
        return problems

    def _head_problems(self, lines: list[bytes]) -> list[str]:
        head = self.store.read_head()
        if not lines:
            return []
        if head is None:
            return [f"index.head missing: nothing anchors the index's end; `{REPAIR}` anchors it as it is now"]
        if head == {"lines": len(lines), "last_sha256": sha256_hex(lines[-1])}:
            return []
        return [f"index end: {len(lines)} lines, but index.head records {head['lines']} ending in "
                f"{head['last_sha256'][:12]}: a line at the end was changed, removed or added (only a crash "
                f"between an append and its anchor is mended by `{REPAIR}`)"]

    def signature_note(self, public_key=None) -> str:
        """What `verify` could say of signatures, in one line."""
        if public_key is not None:
            return "signatures checked against the public key given"
        if any(b'"signature":' in line for line in self.store.index_lines()):
            return ("signatures checked against the archive's own copy of its public key; pass --public-key "
                    "with a copy kept outside the archive (someone who can write the archive can replace its copy)")
        return "signatures not checked: the archive is not signed (MAILFLOW_SIGNING_KEY unset)"

    def _key_for(self, fingerprint: str | None):
        """The public key to check a signature by `fingerprint` with: the one given, or the archive's copy."""
        if self._trusted is not None:
            return self._trusted
        if fingerprint not in self._keys:
            data = self.store.read_file(f"signing-keys/{(fingerprint or '').removeprefix('ed25519:')[:16]}.pem")
            self._keys[fingerprint] = load_public_key(data, "signing key") if data else None
        return self._keys[fingerprint]

    def _line_signature_problems(self, lines: list[bytes]) -> list[str]:
        problems = []
        for number, raw in enumerate(lines, start=1):
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # named by _chain_problems
            problem = self._signature_problem(entry.get("signed_by"), "signature" in entry,
                                              lambda key, e=entry: entry_verifies(key, e))
            if problem:
                problems.append(f"index line {number}: {problem}")
        return problems

    def _signature_problem(self, signed_by: str | None, signed: bool, check) -> str | None:
        if not signed:
            return "unsigned" if self._trusted is not None else None
        key = self._key_for(signed_by)
        if key is None:
            return f"signed by {signed_by}, whose public key the archive does not hold"
        if not check(key):
            return "signature does not verify (changed after signing, or signed by another key)"
        return None

    def _verify_revision(self, line: int, entry: dict, sent) -> list[str]:
        where = f"{entry['report_id']} r{entry['revision']}"
        location = entry["path"]
        manifest_bytes = self.store.read(location, MANIFEST)
        if manifest_bytes is None:
            return [f"{where}: {MANIFEST} missing"]
        problems = []
        if sha256_hex(manifest_bytes) != entry["manifest_sha256"]:
            problems.append(f"{where}: {MANIFEST} changed (index line {line})")
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError:
            return problems + [f"{where}: {MANIFEST} is not readable JSON; its files cannot be checked"]
        expected = set(manifest.get("files", {})) | {MANIFEST}
        signature = self.store.read(location, SIGNATURE)
        if signature is not None:
            expected.add(SIGNATURE)
        problem = self._signature_problem(manifest.get("signed_by"), signature is not None,
                                          lambda key: verifies(key, signature, manifest_bytes))
        if problem:
            problems.append(f"{where}: {MANIFEST} {problem}")
        for name, facts in sorted(manifest.get("files", {}).items()):
            digest = self.store.file_sha256(location, name)
            if digest is None:
                problems.append(f"{where}: {name} missing")
            elif not isinstance(facts, dict) or digest != facts.get("sha256"):
                problems.append(f"{where}: {name} changed")
        if sent is not None:
            expected.add(RECEIPT)
            digest = self.store.file_sha256(location, RECEIPT)
            if digest is None:
                problems.append(f"{where}: {RECEIPT} missing (index line {sent[0]} records a send)")
            elif digest != sent[1]["receipt_sha256"]:
                problems.append(f"{where}: {RECEIPT} changed")
            else:
                problems += self._sent_problems(where, location)
        for name in self.store.file_names(location):
            if name not in expected:
                problems.append(f"{where}: unexpected file {name}")
        return problems


    def _sent_problems(self, where: str, location: str) -> list[str]:
        """The bytes a receipt says were mailed are the archived message with its witness added."""
        receipt = json.loads(self.store.read(location, RECEIPT))
        head = ChainHead(**receipt["witness"]) if receipt.get("witness") else None
        message = self.store.read(location, MESSAGE)
        if head is None or message is None:
            return []
        if sha256_hex(with_witness(message, head)) != receipt.get("sent_sha256"):
            return [f"{where}: the message its receipt says was mailed is not the archived {MESSAGE} with its witness"]
        return []


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _chain_problems(lines: list[bytes]) -> list[str]:
    """Each line of the index holds the SHA-256 of the line before it: name every break."""
    problems, previous = [], GENESIS
    for number, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw)
        except ValueError:
            problems.append(f"index line {number}: not valid JSON (edited or truncated)")
        else:
            if not isinstance(entry, dict) or entry.get("prev_sha256") != previous:
                problems.append(f"index line {number}: broken chain (the line before it was changed, "
                                "removed or inserted)")
        previous = sha256_hex(raw)
    return problems

"""archive/index.html: the archive as a page an auditor opens without our tools.

Every report id (weekly, monthly, ad hoc) with its window and headline, its revisions (reason,
time, code version, current or superseded, sent or not and to how many recipients) with links to
each revision's files, and the index's chain head. Regenerated whenever a revision is archived or
mailed; self-contained (inline CSS, a few lines of JS for the year and connector filters, with
everything listed when JS is off), names escaped like the report's.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict

from etl.delivery.archive import RECEIPT, Archive, sha256_hex
from etl.report.render import environment
from etl.storage.archive_files import MANIFEST

INDEX_PAGE = "index.html"
log = logging.getLogger(__name__)
# the files linked for each revision, in this order; any other file it holds follows
LINKED = ("report.html", "report.pdf", "report.txt", "report.json", "email.html", "message.eml")


def kind_of(report_id: str) -> str:
    if report_id.startswith("adhoc/"):
        return "ad hoc"
    period = report_id.split("/")[0].split("-", 1)[1]
    return "weekly" if period.startswith("W") else "monthly"


def index_page(archive: Archive) -> bytes:
    entries = archive.entries()
    sent = {(e["report_id"], e["revision"]): e for e in entries if e["event"] == "sent"}
    pruned = {(e["report_id"], e["revision"]): e for e in entries if e["event"] == "pruned"}
    by_report: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        if entry["event"] == "archived":
            by_report[entry["report_id"]].append(entry)
    reports, connectors = [], set()
    for report_id, archived in by_report.items():
        revisions = [_revision(archive, entry, sent.get((report_id, entry["revision"])), current=n == len(archived),
                               pruned=pruned.get((report_id, entry["revision"])))
                     for n, entry in enumerate(archived, start=1)]
        latest = revisions[-1]
        if latest["pruned_at"]:  # only the index lines are left: the pruned one says its window
            start, _, end = pruned[(report_id, latest["number"])].get("window", "").partition(" to ")
            latest["window"] = {"start": start, "end": end}
        names = [] if latest["pruned_at"] else _connectors(archive, archived[-1]["path"])
        connectors.update(names)
        reports.append({"report_id": report_id, "kind": kind_of(report_id), "window": latest["window"],
                        "year": latest["window"]["start"][:4], "headline": latest["headline"],
                        "connectors": names, "revisions": revisions[::-1]})
    reports.sort(key=lambda r: (r["window"]["start"], r["report_id"]), reverse=True)
    keys = {name: f"c{i}" for i, name in enumerate(sorted(connectors))}
    for report in reports:
        report["connector_keys"] = " ".join(keys[name] for name in report["connectors"])
    lines = archive.store.index_lines()
    head = {"lines": len(lines), "sha256": sha256_hex(lines[-1]) if lines else None}
    template = environment().get_template("archive_index.html.j2")
    return template.render(reports=reports, head=head, connectors=[{"key": k, "name": n} for n, k in keys.items()],
                           years=sorted({r["year"] for r in reports}, reverse=True)).encode("utf-8")


def _revision(archive: Archive, entry: dict, sent: dict | None, *, current: bool, pruned: dict | None) -> dict:
    location = entry["path"]
    manifest = {} if pruned else json.loads(archive.store.read(location, MANIFEST) or b"{}")
    receipt = json.loads(archive.store.read(location, RECEIPT) or b"null") if sent and not pruned else None
    files = sorted(manifest.get("files", {}), key=lambda n: (LINKED.index(n) if n in LINKED else len(LINKED), n))
    return {
        "number": entry["revision"], "reason": entry["reason"], "created_at": entry["created_at"],
        "code_version": manifest.get("code_version"), "current": current,
        "window": manifest.get("window") or {"start": "", "end": ""},
        "headline": (manifest.get("subject") or "").partition(": ")[2],
        "sent_at": receipt["sent_at"] if receipt else None,
        "recipients": len(receipt.get("recipients") or []) if receipt else 0,
        "signed": "signed_by" in manifest,
        "links": [] if pruned else [{"name": name, "href": f"{location}/{name}"} for name in [*files, MANIFEST]],
        "pruned_at": pruned["created_at"] if pruned else None,
        "manifest_sha256": entry["manifest_sha256"],
    }


def _connectors(archive: Archive, location: str) -> list[str]:
    """The connectors a report speaks of (its rows), for the connector filter; "No connector" included."""
    from etl.contract import connector_label

    try:
        report = json.loads(archive.store.read(location, "report.json") or b"{}")
    except ValueError:
        return []
    return sorted({connector_label(row.get("connector")) for row in report.get("connectors", [])})


def refresh_index_page(archive: Archive) -> None:
    """Write index.html again. It is derived from the index and the manifests, which are the record:
    a failure here is logged, never allowed to undo or repeat the archiving it follows."""
    try:
        archive.store.write_file(INDEX_PAGE, index_page(archive))
    except Exception:
        log.exception("archive index.html not regenerated; `mailflow archive repair` writes it again")

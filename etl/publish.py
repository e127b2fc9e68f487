"""Archive a report revision, and mail it at most once.

`archive_report` writes every output, one CSV per view and the exact .eml into a new revision;
`send_revision` delivers that archived .eml unless the revision's receipt says it already went.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime

from . import report as report_outputs
from .archive import MANIFEST, Archive, Revision, code_version, input_days, report_id
from .config import Settings
from .mail import SmtpSettings, build_message, deliver
from .report_csv import view_csvs


def archive_report(settings: Settings, report: dict, smtp: SmtpSettings, *, reason: str | None,
                   now: datetime) -> Revision:
    start, end = date.fromisoformat(report["window"]["start"]), date.fromisoformat(report["window"]["end"])
    rid = report_id(start, end, report["filters"]["connector"], report["filters"]["direction"])
    outputs = {report_outputs.OUTPUT_NAMES[fmt]: report_outputs.render(report, fmt)
               for fmt in report_outputs.FORMATS}
    csvs = view_csvs(report)
    message = build_message(report, rid, text=outputs["report.txt"], html=outputs["email.html"],
                            attachments=csvs, sender=smtp.sender, recipients=smtp.recipients, now=now)
    manifest = {
        "window": report["window"],
        "filters": report["filters"],
        "thresholds": report["thresholds"],
        "inputs": input_days(settings, start, end),
        "config": {"max_quarantined_pct": settings.max_quarantined_pct, "sender": smtp.sender,
                   "recipients": list(smtp.recipients)},
        "code_version": code_version(),
        "generated_at": report["generated_at"],
        "message_id": message["Message-ID"],
        "subject": message["Subject"],
        "content_sha256": content_sha256(report),
    }
    archive = Archive(settings)
    first = not archive.revisions(rid)
    files = {**outputs, **csvs, "message.eml": message.as_bytes()}
    return archive.add(rid, files, manifest, reason or ("first issue" if first else "rerun"))


def content_sha256(report: dict) -> str:
    """What the report says, without when it was said: equal for two runs over the same data."""
    said = {k: v for k, v in report.items() if k != "generated_at"}
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode("utf-8")).hexdigest()


def send_revision(settings: Settings, rid: str, number: int | None, smtp: SmtpSettings) -> dict:
    """Deliver the archived message once; a second call returns the first receipt unchanged, and a
    revision saying exactly what an already mailed one said is not mailed again."""
    archive = Archive(settings)
    revision = archive.revision(rid, number)
    existing = archive.receipt(revision)
    if existing is not None:
        return {**existing, "already_sent": True}
    manifest = json.loads((revision.path / MANIFEST).read_text(encoding="utf-8"))
    for earlier in archive.revisions(rid):
        if earlier.number == revision.number:
            continue
        receipt = archive.receipt(earlier)
        earlier_manifest = json.loads((earlier.path / MANIFEST).read_text(encoding="utf-8"))
        if receipt is not None and earlier_manifest.get("content_sha256") == manifest["content_sha256"]:
            return {**receipt, "already_sent": True, "same_as_revision": earlier.number}
    receipt = deliver((revision.path / "message.eml").read_bytes(), manifest["message_id"], smtp,
                      settings.home / "outbox")
    archive.record_receipt(revision, receipt)
    return receipt


def archive_saved(settings: Settings, report_path, smtp: SmtpSettings, *, reason: str | None,
                  now: datetime) -> dict:
    """Archive a report.json written by the weekly DAG's render step; returns its id and revision."""
    from pathlib import Path

    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    revision = archive_report(settings, report, smtp, reason=reason, now=now)
    return {"report_id": revision.report_id, "revision": revision.number, "path": str(revision.path)}

"""Archive a report run as a revision, and mail a revision at most once.

`archive_report` keeps every output, one CSV per view and the exact .eml in a new revision;
`send_revision` delivers that archived .eml (or writes it to the outbox when no SMTP server is
set) unless the revision's receipt says it already went.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime

from etl.delivery.archive import MESSAGE, Archive, Revision, sha256_hex
from etl.delivery.archive_index import refresh_index_page
from etl.delivery.mail import SmtpSettings, build_message, deliver, new_message_id, subject_for
from etl.delivery.witness import with_witness
from etl.report.document import Report
from etl.report.pdf import render_pdf, renderer
from etl.report.request import ReportRequest
from etl.storage import Storage
from etl.version import code_version

PDF = "report.pdf"
MAX_MESSAGE_BYTES = 10_000_000  # what most mail servers accept; the PDF stays out of a bigger message


def archive_report(storage: Storage, request: ReportRequest, report: Report, outputs: dict[str, bytes],
                   smtp: SmtpSettings, *, snapshots: dict[str, int | None], reason: str | None,
                   now: datetime) -> Revision:
    """A new revision of the request's report: `outputs` (every rendered file) and the message.
    `snapshots` are the lake table snapshots its figures were read from: tagged in the lake, so that
    expiring old snapshots keeps them, and recorded in the manifest, so that `archive reproduce`
    can read them again."""
    storage.lake.keep(snapshots)
    rid = request.report_id
    archive = Archive(storage)
    earlier = archive.revisions(rid)
    said = content_sha256(report)
    # A revision that says what an earlier one said is the same message: it keeps its Message-ID, so
    # that if the earlier one went out before a crash kept its receipt from being written, recipients'
    # mail clients see the resend as the same message.
    same = [manifest["message_id"] for manifest in map(archive.manifest, earlier)
            if manifest.get("content_sha256") == said]
    message_id = same[0] if same else new_message_id(smtp.sender)

    def numbered_files(number: int) -> dict[str, bytes]:
        """The PDF names its revision; the message carries the PDF after the CSVs, unless that would make
        it too big to mail (the archive and index.html keep it either way)."""
        pdf = render_pdf(report, outputs["report.html"], report_id=rid, revision=number, content_sha256=said)
        csvs = {n: d for n, d in sorted(outputs.items()) if n.endswith(".csv")}
        for attachments in ({**csvs, PDF: pdf}, csvs):
            message = build_message(report, rid, text=outputs["report.txt"], html=outputs["email.html"],
                                    attachments=attachments, sender=smtp.sender, recipients=smtp.recipients,
                                    now=now, message_id=message_id).as_bytes()
            if len(message) <= MAX_MESSAGE_BYTES:
                break
        return {PDF: pdf, MESSAGE: message}

    manifest = {
        "window": report["window"],
        "filters": report["filters"],
        "thresholds": report["thresholds"],
        "inputs": storage.fingerprints(request.start, request.end),
        "tables": snapshots,
        "config": {"max_quarantined_pct": storage.settings.max_quarantined_pct, "sender": smtp.sender,
                   "recipients": list(smtp.recipients)},
        "code_version": code_version(),
        "schema_version": report["schema_version"],
        "generated_at": report["generated_at"],
        "message_id": message_id,
        "subject": subject_for(report, rid),
        "content_sha256": said,
        "renderer": renderer(),
    }
    revision = archive.add(rid, outputs, manifest, reason or ("rerun" if earlier else "first issue"), numbered_files)
    refresh_index_page(archive)
    return revision


def content_sha256(report: Report) -> str:
    """What the report says, without when it was said: equal for two runs over the same data."""
    said = {k: v for k, v in report.items() if k != "generated_at"}
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode("utf-8")).hexdigest()


def send_revision(storage: Storage, rid: str, number: int | None, smtp: SmtpSettings) -> dict:
    """Deliver the archived message once; a second call returns the first receipt unchanged, and a
    revision saying exactly what an already mailed one said is not mailed again."""
    archive = Archive(storage)
    revision = archive.revision(rid, number)
    existing = archive.receipt(revision)
    if existing is not None:
        return {**existing, "already_sent": True}
    manifest = archive.manifest(revision)
    for earlier in archive.revisions(rid):
        if earlier.number == revision.number:
            continue
        receipt = archive.receipt(earlier)
        if receipt is not None and archive.manifest(earlier).get("content_sha256") == manifest["content_sha256"]:
            return {**receipt, "already_sent": True, "same_as_revision": earlier.number}
    # the archive's chain head now, its own revision's line included: the recipients' copy witnesses it
    head = archive.chain_head()
    message = with_witness(archive.read(revision, MESSAGE), head)
    # the recipients the message was built for (its To header): a subscription's, or the defaults then
    recipients = tuple(manifest.get("config", {}).get("recipients") or smtp.recipients)
    smtp = replace(smtp, recipients=recipients)
    if smtp.host:
        receipt = deliver(message, manifest["message_id"], smtp)
    else:
        path = storage.outbox_write(manifest["message_id"].strip("<>").replace("/", "_") + ".eml", message)
        receipt = {"sent_at": datetime.now(UTC).isoformat(timespec="seconds"), "message_id": manifest["message_id"],
                   "delivered_to": "outbox", "outbox_file": str(path), "recipients": list(smtp.recipients),
                   "refused": {}, "server_reply": None}
    receipt = {**receipt, "witness": {"line": head.line, "sha256": head.sha256}, "sent_sha256": sha256_hex(message)}
    archive.record_receipt(revision, receipt)
    refresh_index_page(archive)
    return receipt

"""The pipeline: every step of the daily load and of the report, and the two chains of them.

    load_day          ingest -> aggregate -> quality gate
    issue_report      plan -> views -> model -> publish (render, archive) -> send
    plan_reports      the reports a scheduled run owes: the organisation's, and one per subscription
    reproduce_report  an archived revision's views and model again, from the table snapshots it was
                      read from: the proof that its figures came from the data

The DAG tasks call the steps one by one (one task each, so Airflow retries and shows them one
by one); the CLI and backfill call the chains. Either way the same functions run in the same
order with the same defaults. Steps hand each other storage keys, never data or local paths,
so that each may run on another worker.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from etl.config import Settings
from etl.delivery.archive import Archive, Revision
from etl.delivery.mail import SmtpSettings
from etl.delivery.publish import archive_report, content_sha256, send_revision
from etl.errors import ArchiveError
from etl.load import tlsrpt_ingest
from etl.load.ingest import LoadResult, ingest_day
from etl.load.quality import check_day
from etl.load.warehouse import rebuild_day
from etl.report.document import SCHEMA_VERSION, Report
from etl.report.model import Thresholds, build_report
from etl.report.queries import completeness, query_views
from etl.report.render import render_all, to_json
from etl.report.request import ReportRequest
from etl.report.subscriptions import load_subscriptions
from etl.sources.detect import SourceOptions
from etl.storage import Storage

VIEWS_FILE = "views.json"
RUNS = "runs"  # reports/<window>/runs/<run>/: each run's views and report document, before publishing
REPORT_FILE = "report.json"


# -- the daily load ------------------------------------------------------------------------

def ingest(settings: Settings, day: date, files: list[Path] | None = None,
           options: SourceOptions | None = None) -> LoadResult:
    """The day's exports (default: the landing folder's) -> the day's lake tables."""
    Storage(settings).check()
    return ingest_day(settings, day, files, options)


def aggregate(settings: Settings, day: date) -> dict:
    """The day's lake rows -> the day's warehouse rows, reconciled."""
    Storage(settings).check()
    return rebuild_day(settings, day)


def gate(settings: Settings, day: date) -> dict:
    """The data-quality gate: raises DataQualityError when the loaded day is not fit to report on."""
    return check_day(settings, day)


@dataclass(frozen=True)
class DayLoad:
    load: LoadResult
    aggregates: dict
    quality: dict


def load_day(settings: Settings, day: date, files: list[Path] | None = None,
             options: SourceOptions | None = None) -> DayLoad:
    """Ingest, aggregate and gate one day, as the daily DAG does. A day that fails the gate stays
    loaded (as in the DAG, where the gate is the last task) and DataQualityError says why."""
    load = ingest(settings, day, files, options)
    aggregates = aggregate(settings, day)
    return DayLoad(load, aggregates, gate(settings, day))


def ingest_tlsrpt(settings: Settings, files: list[Path] | None = None) -> tlsrpt_ingest.TlsRptLoad:
    """SMTP TLS reports: `files` dropped into the landing folder, then every day whose reports there
    changed -> that day's TLS report tables (not tied to a business date: reports arrive late)."""
    Storage(settings).check()
    return tlsrpt_ingest.ingest_tlsrpt(settings, files)


# -- the report ----------------------------------------------------------------------------

def plan_report(settings: Settings, request: ReportRequest) -> dict:
    """Which days of the request's window are loaded (missing days are marked, not fatal)."""
    storage = Storage(settings)
    storage.check()
    return {"request": request.to_json(), **completeness(storage, request)}


def plan_reports(settings: Settings, request: ReportRequest, cadence: str | None = None) -> list[dict]:
    """The reports a run issues: `request` for the organisation (to the default recipients), and with a
    `cadence` (weekly, monthly) one per subscription of that cadence, narrowed to its connectors and
    direction, for its own recipients. Checked before anything is issued: a window without a loaded
    day, or a bad subscriptions file, stops the run with one line."""
    plan_report(settings, request)
    jobs = [{"request": request.to_json(), "subscription": None, "recipients": None, "skip_when_no_insights": False}]
    for subscription in load_subscriptions(settings.home) if cadence else []:
        if subscription.cadence == cadence:
            narrowed = replace(request, connectors=subscription.connectors, direction=subscription.direction,
                               subscription=subscription.name)
            jobs.append({"request": narrowed.to_json(), "subscription": subscription.name,
                         "recipients": list(subscription.recipients),
                         "skip_when_no_insights": subscription.skip_when_no_insights})
    return jobs


def report_views(settings: Settings, request: ReportRequest) -> str:
    """The report views' rows and the table snapshots they were read from, saved in a folder of this
    run's own (two runs of one window at once must not swap each other's intermediate files);
    returns their key."""
    storage = Storage(settings)
    views = query_views(storage, request)
    run = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"  # a name, not a business date
    return storage.write_bytes(storage.report_key(request.name, f"{RUNS}/{run}/{VIEWS_FILE}"),
                               (json.dumps(views, indent=2) + "\n").encode("utf-8"))


def report_model(settings: Settings, views_key: str, generated_at: datetime) -> str:
    """The report document (shares, insights) from saved views, saved beside them; returns its key."""
    storage = Storage(settings)
    saved = json.loads(storage.read_bytes(views_key))
    request = ReportRequest.from_json(saved["request"])
    report = _build(request, Thresholds.from_settings(settings), generated_at, saved["views"])
    return storage.write_bytes(_beside(views_key, REPORT_FILE), to_json(report))


def publish_report(settings: Settings, report_key: str, *, archive: bool, smtp: SmtpSettings,
                   reason: str | None, now: datetime) -> dict:
    """Render every output of a saved report into its window's folder (the latest run of the window)
    and, with `archive`, keep them all as a new archive revision. Returns the output keys and the
    revision (report_id, revision), if any."""
    storage = Storage(settings)
    report: Report = json.loads(storage.read_bytes(report_key))
    request = request_of(report)
    outputs = render_all(report)
    keys = {name: storage.write_bytes(storage.report_key(request.name, name), data) for name, data in outputs.items()}
    published = {"report": keys[REPORT_FILE], "outputs": keys, "archived": None}
    if archive:
        # the table snapshots the figures were read from (saved with this run's views): kept for reproduction
        snapshots = json.loads(storage.read_bytes(_beside(report_key, VIEWS_FILE)))["snapshots"]
        revision = archive_report(storage, request, report, outputs, smtp, snapshots=snapshots, reason=reason,
                                  now=now)
        published["archived"] = {"report_id": revision.report_id, "revision": revision.number}
    return published


def send_report(settings: Settings, report_id: str, revision: int, smtp: SmtpSettings,
                skip_when_no_insights: bool = False) -> dict:
    """Mail an archived revision to the recipients it was archived for, at most once (a retried send
    returns the first receipt). With `skip_when_no_insights`, a report where nothing fired and
    nothing was resolved stays archived and unsent."""
    storage = Storage(settings)
    if skip_when_no_insights:
        archive = Archive(storage)
        report = json.loads(archive.read(archive.revision(report_id, revision), REPORT_FILE))
        if not report["insights"]:
            return {"skipped": "no insights (skip_when_no_insights)", "message_id": None}
    return send_revision(storage, report_id, revision, smtp)


def _build(request: ReportRequest, thresholds: Thresholds, generated_at: datetime, views: dict) -> Report:
    return build_report(start=request.start, end=request.end, connector=request.connector, direction=request.direction,
                        connectors=request.connectors, subscription=request.subscription, thresholds=thresholds,
                        generated_at=generated_at, **views)


def request_of(report: Report) -> ReportRequest:
    window, filters = report["window"], report["filters"]
    return ReportRequest(date.fromisoformat(window["start"]), date.fromisoformat(window["end"]),
                         filters["connector"], filters["direction"], tuple(filters.get("connectors") or ()),
                         filters.get("subscription"))


@dataclass(frozen=True)
class IssuedReport:
    report: Report
    outputs: dict[str, str]  # file name -> its key in the storage
    revision: Revision | None
    receipt: dict | None


def issue_report(settings: Settings, request: ReportRequest, *, now: datetime, archive: bool = False,
                 send: bool = False, reason: str | None = None, smtp: SmtpSettings | None = None,
                 job: dict | None = None) -> IssuedReport:
    """The whole report chain, as the report DAGs run it; `send` implies `archive`. A `job` of
    plan_reports gives a subscription's recipients and whether to spare them an empty report."""
    storage = Storage(settings)
    smtp = smtp or SmtpSettings.from_env()
    if job and job["recipients"]:
        smtp = replace(smtp, recipients=tuple(job["recipients"]))
    report_key = report_model(settings, report_views(settings, request), now)
    published = publish_report(settings, report_key, archive=archive or send, smtp=smtp, reason=reason, now=now)
    outputs = published["outputs"]
    revision = receipt = None
    if published["archived"]:
        revision = Archive(storage).revision(published["archived"]["report_id"], published["archived"]["revision"])
        if send:
            receipt = send_report(settings, revision.report_id, revision.number, smtp,
                                  skip_when_no_insights=bool(job and job["skip_when_no_insights"]))
    return IssuedReport(json.loads(storage.read_bytes(report_key)), outputs, revision, receipt)


def _beside(key: str, name: str) -> str:
    """Another file of the same report run."""
    return f"{key.rsplit('/', 1)[0]}/{name}"


def reproduce_report(settings: Settings, report_id: str, number: int | None = None) -> dict:
    """Compute an archived revision again from the lake table snapshots its manifest records (Iceberg
    time travel), with its window, filters, thresholds and generation time, and compare what it says
    with what was archived."""
    storage = Storage(settings)
    archive = Archive(storage)
    revision = archive.revision(report_id, number)
    manifest = archive.manifest(revision)
    if not manifest.get("tables"):
        raise ArchiveError(f"{revision.report_id} r{revision.number} was archived before reports recorded the "
                           "table snapshots they read; it cannot be reproduced")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        # the content would differ by construction; only the code that wrote it can say the same again
        raise ArchiveError(f"{revision.report_id} r{revision.number} was written as report schema "
                           f"{manifest.get('schema_version')} by {manifest.get('code_version')}; this code writes "
                           f"schema {SCHEMA_VERSION}: reproduce it with the code version it names")
    archived: Report = json.loads(archive.read(revision, REPORT_FILE))
    request = request_of(archived)
    saved = query_views(storage, request, manifest["tables"])
    report = _build(request, Thresholds(**manifest["thresholds"]), datetime.fromisoformat(manifest["generated_at"]),
                    saved["views"])
    said = content_sha256(report)
    return {"report_id": revision.report_id, "revision": revision.number, "tables": manifest["tables"],
            "content_sha256": said, "archived_content_sha256": manifest["content_sha256"],
            "matches": said == manifest["content_sha256"],
            "report_json_identical": to_json(report) == archive.read(revision, REPORT_FILE),
            "differences": sorted(k for k in report.keys() | archived.keys() if report.get(k) != archived.get(k))}

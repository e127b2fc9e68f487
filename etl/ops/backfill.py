"""Backfill without a scheduler: the daily load for a range of days, then the weekly reports of
the weeks of the range. The same pipeline the DAGs run, day by day.

Resumable: a day whose landing files have the same SHA-256 as at its last load, and whose lake
and warehouse hold that same load, is skipped unless forced, so re-running after an interruption
only does what is left. With `reports`, every week of the range whose archived report is missing
or no longer matches the lake is issued (a week whose data changed after it was archived gets a
new revision with the reason "late data"): the organisation's and each weekly subscription's, as
the weekly DAG issues them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from etl.config import Settings
from etl.delivery.archive import Archive
from etl.delivery.mail import SmtpSettings
from etl.errors import DataQualityError, MailflowError
from etl.load.warehouse import day_problem, load_ids
from etl.pipeline import issue_report, load_day, plan_reports, send_report
from etl.report.request import ReportRequest
from etl.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class BackfillResult:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    reports: list[dict] = field(default_factory=list)


def weeks_of(days: list[date]) -> list[ReportRequest]:
    mondays = sorted({d - timedelta(days=d.weekday()) for d in days})
    return [ReportRequest(m, m + timedelta(days=6)) for m in mondays]


def backfill(settings: Settings, start: date, end: date, *, reports: bool = False, send: bool = False,
             force: bool = False, smtp: SmtpSettings | None = None,
             on_day: Callable[[date, str, int], None] | None = None) -> BackfillResult:
    """Load every day of [start, end] that needs it; then, with `reports`, issue the reports owed."""
    if end < start:
        raise MailflowError(f"the range ends ({end}) before it starts ({start})")
    storage = Storage(settings)
    result = BackfillResult()
    # as they were before this run: which loads the days' tables hold
    manifests, loads = storage.load_manifests(start, end), load_ids(storage, start, end)
    day = start
    while day <= end:
        plan = storage.landing_state(day)
        if plan == "same" and day_problem(day, manifests, loads):
            plan = "inconsistent"  # a crash between the lake's and the warehouse's commits: load it again
        rows = 0
        if plan == "missing":
            result.missing.append(day.isoformat())
        elif plan == "same" and not force:
            result.skipped.append(day.isoformat())
        else:
            loaded = True
            try:
                rows = load_day(settings, day).load.rows_read
            except DataQualityError as exc:  # loaded, but not fit to report on: its week still shows it
                rows = storage.read_load_manifest(day)["rows_read"]
                result.failed[day.isoformat()] = str(exc)
            except Exception as exc:  # one bad day must not stop the others; it is reported
                result.failed[day.isoformat()] = f"{type(exc).__name__}: {exc}"
                loaded = False
            if loaded:
                result.loaded.append(day.isoformat())
                result.rows_read += rows
        if on_day:
            on_day(day, plan if day.isoformat() not in result.failed else "failed", rows)
        day += timedelta(days=1)
    if reports:
        result.reports = _owed_reports(settings, start, end, send=send, smtp=smtp or SmtpSettings.from_env())
    return result


def _owed_reports(settings: Settings, start: date, end: date, *, send: bool, smtp: SmtpSettings) -> list[dict]:
    """Issue the weekly reports (the organisation's, each weekly subscription's) of every week of
    [start, end] with a loaded day whose latest archived revision is missing or no longer matches
    the lake (and, with `send`, mail it if it was not). Decided from the archive and the lake
    alone, so a backfill killed after its loads and re-run issues the reports the first run owed."""
    storage = Storage(settings)
    archive = Archive(storage)
    for action in archive.repair():  # what an earlier, interrupted run left half done
        log.warning("archive repair: %s", action)
    loaded = [start + timedelta(days=i) for i in range((end - start).days + 1)
              if storage.is_loaded(start + timedelta(days=i))]
    done = []
    for week in weeks_of(loaded):
        for job in plan_reports(settings, week, "weekly"):
            request = ReportRequest.from_json(job["request"])
            rid = request.report_id
            revisions = archive.revisions(rid)
            inputs = storage.fingerprints(request.start, request.end)
            if revisions and archive.manifest(revisions[-1]).get("inputs") == inputs:
                if send and archive.receipt(revisions[-1]) is None:
                    receipt = send_report(settings, rid, revisions[-1].number, smtp,
                                          skip_when_no_insights=job["skip_when_no_insights"])
                    if not receipt.get("skipped"):
                        done.append({"report_id": rid, "revision": revisions[-1].number, "reason": "not sent before",
                                     "sent": True})
                continue
            reason = "late data" if revisions else "backfill"
            issued = issue_report(settings, request, now=datetime.now(UTC), archive=True, send=send, reason=reason,
                                  smtp=smtp, job=job)
            done.append({"report_id": rid, "revision": issued.revision.number, "reason": reason,
                         "sent": issued.receipt is not None and not issued.receipt.get("skipped")})
    return done

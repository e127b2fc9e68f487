"""Backfill without a scheduler: the daily load for a range of days, then the weekly reports of
the weeks it touched. The same functions the DAGs call, day by day.

Resumable: a day whose landing files have the same SHA-256 as at its last load is skipped
unless forced, so re-running after an interruption only does what is left. A week whose data
changed after it was archived is re-issued as a new revision with the reason "late data".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from .archive import Archive, report_id, sha256_file
from .config import Settings
from .ingest import ingest_day
from .quality import DataQualityError, check_day
from .storage import Lake
from .warehouse import rebuild_day


@dataclass
class BackfillResult:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    reports: list[dict] = field(default_factory=list)


def day_plan(settings: Settings, day: date) -> str:
    """'missing' (no export), 'new' (never loaded), 'changed' (files differ from the last load) or 'same'."""
    lake = Lake(settings)
    files = lake.landing_files(day)
    if not files:
        return "missing"
    if not lake.load_manifest(day).exists():
        return "new"
    loaded = {(s["file"], s["sha256"]) for s in lake.read_load_manifest(day)["sources"]}
    current = {(f.name, sha256_file(f)) for f in files}
    return "same" if loaded == current else "changed"


def weeks_of(days: list[date]) -> list[tuple[date, date]]:
    mondays = sorted({d - timedelta(days=d.weekday()) for d in days})
    return [(m, m + timedelta(days=6)) for m in mondays]


def backfill(settings: Settings, start: date, end: date, *, reports: bool = False, send: bool = False,
             force: bool = False, smtp=None, on_day: Callable[[date, str, int], None] | None = None
             ) -> BackfillResult:
    """Load every day of [start, end] that needs it; then, with `reports`, re-issue the weeks touched."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    result = BackfillResult()
    touched: list[date] = []
    day = start
    while day <= end:
        plan = day_plan(settings, day)
        rows = 0
        if plan == "missing":
            result.missing.append(day.isoformat())
        elif plan == "same" and not force:
            result.skipped.append(day.isoformat())
        else:
            try:
                load = ingest_day(settings, day)
                rebuild_day(settings, day)
                rows = load.rows_read
                result.rows_read += rows
                result.loaded.append(day.isoformat())
                touched.append(day)
                check_day(settings, day)
            except DataQualityError as exc:
                result.failed[day.isoformat()] = str(exc)
            except Exception as exc:  # one bad day must not stop the others; it is reported
                result.failed[day.isoformat()] = f"{type(exc).__name__}: {exc}"
        if on_day:
            on_day(day, plan if day.isoformat() not in result.failed else "failed", rows)
        day += timedelta(days=1)
    if reports:
        result.reports = _reissue_weeks(settings, touched, send=send, smtp=smtp)
    return result


def _reissue_weeks(settings: Settings, days: list[date], *, send: bool, smtp) -> list[dict]:
    from .mail import SmtpSettings
    from .publish import archive_report, send_revision
    from .report import compute
    from .report_model import Thresholds

    smtp = smtp or SmtpSettings.from_env()
    archive = Archive(settings)
    issued = []
    for monday, sunday in weeks_of(days):
        rid = report_id(monday, sunday, None, None)
        reason = "late data" if archive.revisions(rid) else "backfill"
        now = datetime.now(UTC)
        report = compute(settings, monday, sunday, thresholds=Thresholds(settings.no_tls_pct, settings.tls10_pct),
                         generated_at=now)
        revision = archive_report(settings, report, smtp, reason=reason, now=now)
        entry = {"report_id": rid, "revision": revision.number, "reason": reason, "sent": False}
        if send:
            send_revision(settings, rid, revision.number, smtp)
            entry["sent"] = True
        issued.append(entry)
    return issued

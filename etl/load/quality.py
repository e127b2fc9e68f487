"""The data-quality gate of the daily run."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from etl.config import Settings
from etl.errors import DataQualityError
from etl.load.warehouse import day_problem, load_ids
from etl.shares import format_pct, percentage_above
from etl.storage import Storage


def check_day(settings: Settings, day: date, max_quarantined_pct: float | None = None) -> dict:
    """Fail when the day's lake and warehouse are not from one load, when too much of the day was
    quarantined, or when nothing at all was loaded."""
    limit = settings.max_quarantined_pct if max_quarantined_pct is None else max_quarantined_pct
    storage = Storage(settings)
    manifest = storage.read_load_manifest(day)
    problem = day_problem(day, {day: manifest}, load_ids(storage, day, day))
    if problem:
        raise DataQualityError(f"{day}: {problem}; run `mailflow backfill --from {day} --to {day}` to load it again")
    read, quarantined = manifest["rows_read"], manifest["rows_quarantined"]
    share = percentage_above(quarantined, read, limit)
    verdict = {"date": day.isoformat(), "rows_read": read, "rows_loaded": manifest["rows_loaded"],
               "rows_quarantined": quarantined, "quarantined_pct": share, "limit_pct": limit}
    if manifest["rows_loaded"] == 0:
        raise DataQualityError(f"{day}: no rows loaded from {read} read; the export looks empty or broken")
    if Fraction(100 * quarantined, read) > Fraction(str(limit)):  # exact: 1 of 100 is not above 1%
        reasons = ", ".join(f"{k}={v}" for k, v in manifest["quarantine_reasons"].items())
        raise DataQualityError(
            f"{day}: {format_pct(share)} of rows quarantined ({quarantined} of {read}: {reasons}), above the "
            f"{format_pct(limit)} limit (MAILFLOW_MAX_QUARANTINED_PCT); see `mailflow quarantine --date {day}`")
    return verdict

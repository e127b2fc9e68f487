"""The data-quality gate of the daily run."""

from __future__ import annotations

from datetime import date

from etl.config import Settings
from etl.errors import DataQualityError
from etl.storage import Storage


def check_day(settings: Settings, day: date, max_quarantined_pct: float | None = None) -> dict:
    """Fail when too much of the day was quarantined, or when nothing at all was loaded."""
    limit = settings.max_quarantined_pct if max_quarantined_pct is None else max_quarantined_pct
    manifest = Storage(settings).read_load_manifest(day)
    read, quarantined = manifest["rows_read"], manifest["rows_quarantined"]
    share = 100.0 * quarantined / read if read else 0.0
    verdict = {"date": day.isoformat(), "rows_read": read, "rows_loaded": manifest["rows_loaded"],
               "rows_quarantined": quarantined, "quarantined_pct": round(share, 3), "limit_pct": limit}
    if manifest["rows_loaded"] == 0:
        raise DataQualityError(f"{day}: no rows loaded from {read} read; the export looks empty or broken")
    if share > limit:
        reasons = ", ".join(f"{k}={v}" for k, v in manifest["quarantine_reasons"].items())
        raise DataQualityError(
            f"{day}: {share:.2f}% of rows quarantined ({quarantined} of {read}: {reasons}), "
            f"above the {limit}% limit (MAILFLOW_MAX_QUARANTINED_PCT); see lake/quarantine/date={day}")
    return verdict

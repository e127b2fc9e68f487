"""What has been loaded: one line per day, from the warehouse's load ledger."""

from __future__ import annotations

from .config import Settings
from .duck import connect


def loaded_days(settings: Settings) -> list[dict]:
    if not settings.warehouse.exists():
        return []
    con = connect(settings.warehouse, read_only=True)
    try:
        rows = con.execute(
            "select date, rows_read, rows_loaded, rows_quarantined, duplicates_removed, messages "
            "from daily_load order by date").fetchall()
    finally:
        con.close()
    keys = ("date", "rows_read", "rows_loaded", "rows_quarantined", "duplicates_removed", "messages")
    return [dict(zip(keys, row, strict=True)) for row in rows]

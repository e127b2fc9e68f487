"""Keeping the lake small: old table snapshots expired, the files only they referenced deleted.

Iceberg keeps every snapshot until told otherwise, so each reload of a day keeps the files it
replaced. Expiring snapshots older than the retention (and the unreferenced files with them)
frees that space; the snapshots archived reports were read from are tagged when archived and
never expire, so `archive reproduce` keeps working for every revision.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from etl.config import Settings
from etl.errors import ConfigError
from etl.storage import Storage


def expire_snapshots(settings: Settings, keep_days: int, now: datetime) -> dict[str, dict[str, int]]:
    """Expire snapshots older than `keep_days` (except the current and the tagged ones) in every table."""
    if keep_days < 1:
        raise ConfigError(f"--keep-days {keep_days}: keep at least one day of snapshots (loads in flight use them)")
    return Storage(settings).lake.expire(now - timedelta(days=keep_days))

"""What an operator needs to know after an outage: what is loaded, what is missing, what changed
since it was loaded, and which archived reports no longer match their inputs."""

from __future__ import annotations

from datetime import date, timedelta

from etl.config import Settings
from etl.delivery.archive import Archive
from etl.load.warehouse import inconsistent_days
from etl.shares import percentage
from etl.storage import Storage


def loaded_days(storage: Storage) -> list[dict]:
    keys = ["date", "rows_read", "rows_loaded", "rows_quarantined", "duplicates_removed", "messages"]
    days = sorted(storage.lake.read("daily_load", columns=keys).to_pylist(), key=lambda d: d["date"])
    for d in days:
        d["quarantined_pct"] = percentage(d["rows_quarantined"], d["rows_read"])
    return days


def status(settings: Settings, *, check_inputs: bool = True) -> dict:
    """Days loaded; days missing between the first and the last (or waiting in the landing folder);
    days whose exports changed since they were loaded; days whose lake and warehouse are not from
    the same load; reports whose inputs changed since archived."""
    storage = Storage(settings)
    manifests = storage.load_manifests()
    # each day's load as it was recorded with its commit: when, by which load, from which exports
    days = [{**d, "load": _load_record(manifests.get(d["date"]))} for d in loaded_days(storage)]
    loaded = {date.fromisoformat(str(d["date"])) for d in days}
    landing_days = storage.landing_days()
    span = sorted(loaded | landing_days)
    missing = []
    if span:
        day = span[0]
        while day <= span[-1]:
            if day not in loaded:
                missing.append({"date": day.isoformat(), "export_waiting": bool(storage.landing_files(day))})
            day += timedelta(days=1)
    changed = [d.isoformat() for d in sorted(loaded & landing_days)
               if check_inputs and storage.landing_state(d) == "changed"]
    inconsistent = [{"date": d.isoformat(), "problem": problem} for d, problem in inconsistent_days(settings).items()]
    return {"days": [{**d, "date": str(d["date"])} for d in days], "missing": missing,
            "changed_since_load": changed, "inconsistent": inconsistent, "stale_reports": stale_reports(storage)}


def stale_reports(storage: Storage) -> list[dict]:
    """The latest revision of each archived report whose input days no longer hash the same."""
    archive = Archive(storage)
    stale = []
    for revision in archive.latest_revisions():
        manifest = archive.manifest(revision)
        window = manifest["window"]
        now = storage.fingerprints(date.fromisoformat(window["start"]), date.fromisoformat(window["end"]))
        changed = [new["date"] for old, new in zip(manifest["inputs"], now, strict=True) if old != new]
        if changed:
            stale.append({"report_id": revision.report_id, "revision": revision.number, "changed_days": changed})
    return stale


def _load_record(manifest: dict | None) -> dict | None:
    if manifest is None:
        return None
    keys = ("load_id", "loaded_at", "quarantine_reasons", "warnings", "sources")
    return {k: manifest[k] for k in keys}

"""The warehouse: the daily aggregates reports read, rebuilt from one day of the lake at a time.

Rebuilding a day computes its aggregates in DuckDB from the day's rows of the trace table (an
Arrow dataset: local disk or object storage alike), reconciles them, then replaces the day in
each aggregate table in one commit per table, `daily_load` last. A re-run replaces and never
appends; a failed run changes nothing it did not finish. Every row records the load it was
aggregated from, so a day whose tables hold different loads (a crash between two commits, or
two loads of one day at once) is seen, by the quality gate and by `status`, and never reported
as if whole. No lock: any worker may rebuild any day, and the catalog orders the commits.
"""

from __future__ import annotations

import json
from datetime import date

from etl import sql
from etl.config import Settings
from etl.contract import NOT_COUNTED_STATUSES
from etl.duck import connect, one, run
from etl.errors import ReconciliationError
from etl.storage import QUARANTINE, TRACE, Storage

TABLES = ("daily_connector_tls", "daily_remote_domain_tls", "daily_load")


def rebuild_day(settings: Settings, day: date) -> dict:
    """Replace `day` in the warehouse with aggregates of its rows in the lake."""
    storage = Storage(settings)
    manifest = storage.read_load_manifest(day)
    load_id = manifest["load_id"]
    params = {"day": day, "load_id": load_id, "not_counted_statuses": list(NOT_COUNTED_STATUSES)}
    with storage.staged_day() as staged:
        con = connect(memory_limit=settings.memory_limit, spill_dir=staged.spill)
        try:
            con.register("trace_rows", storage.lake.dataset(TRACE, day, day))
            lake_loads = {row[0] for row in con.execute("select distinct load_id from trace_rows").fetchall()}
            if lake_loads - {load_id}:
                raise ReconciliationError(
                    f"{day}: the trace table holds another load than the one recorded for the day; "
                    f"a load of {day} ran at the same time, or was cut short: load the day again")
            for table in ("daily_connector_tls", "daily_remote_domain_tls"):
                run(con, f"create temp table {table} as " + sql.load(f"load/{table}"), params)
            run(con, "create temp table daily_load as " + sql.load("load/daily_load"), {
                "day": day,
                "rows_read": manifest["rows_read"],
                "rows_loaded": manifest["rows_loaded"],
                "rows_quarantined": manifest["rows_quarantined"],
                "duplicates_removed": manifest["duplicates_removed"],
                "quarantine_reasons": json.dumps(manifest["quarantine_reasons"], sort_keys=True),
                "sources": json.dumps(manifest["sources"], sort_keys=True),
                "loaded_at": manifest["loaded_at"],
                "load_id": load_id,
            })
            summary = _reconcile(con, day)
            rows = {table: con.sql(f"select * from {table}").to_arrow_table() for table in TABLES}
        finally:
            con.close()
    for table in TABLES:  # daily_load last: a day is aggregated once its daily_load row is in
        storage.lake.replace_day(table, day, rows[table], {"mailflow.load_id": load_id})
    return summary


def _reconcile(con, day: date) -> dict:
    """Every loaded row is either a counted message or a placeholder that is not one; both
    aggregates count the same messages."""
    by_connector = one(con, "select coalesce(sum(messages), 0) from daily_connector_tls")[0]
    by_domain = one(con, "select coalesce(sum(messages), 0) from daily_remote_domain_tls")[0]
    rows_loaded, not_counted = one(con, "select rows_loaded, rows_not_counted from daily_load")
    expanded, in_lake = one(con, "select count(*) filter (where list_contains($not_counted_statuses, status)), "
                                 "count(*) from trace_rows", {"not_counted_statuses": list(NOT_COUNTED_STATUSES)})
    if (by_connector != by_domain or not_counted != expanded or by_connector + expanded != rows_loaded
            or in_lake != rows_loaded):
        raise ReconciliationError(
            f"{day}: aggregates do not reconcile (loaded {rows_loaded}, in the lake {in_lake}, counted "
            f"{by_connector}, by domain {by_domain}, expanded {expanded})")
    return {"date": day.isoformat(), "messages": by_connector, "rows_not_counted": expanded}


def load_ids(storage: Storage, start: date | None = None, end: date | None = None) -> dict[str, dict[date, set]]:
    """Which loads each table's rows of each day come from."""
    return {table: storage.load_ids(table, start, end) for table in (TRACE, QUARANTINE, *TABLES)}


def day_problem(day: date, manifests: dict[date, dict], loads: dict[str, dict[date, set]]) -> str | None:
    """Why the day's tables are not all from the one load the loads table records for it, or None."""
    manifest = manifests.get(day)
    if manifest is None:
        if day in loads["daily_load"]:
            return "in the warehouse but not in the lake"
        if day in loads[TRACE] or day in loads[QUARANTINE]:
            return "a load was cut short: the lake holds rows of a load never recorded"
        return None
    load_id = manifest["load_id"]
    expected = {TRACE: manifest["rows_loaded"], QUARANTINE: manifest["rows_quarantined"]}
    for table, rows in expected.items():
        if loads[table].get(day, set()) != ({load_id} if rows else set()):
            return f"the {table} table holds another load than the one recorded for the day"
    if day not in loads["daily_load"]:
        return "in the lake but not in the warehouse"
    if any(loads[table].get(day, {load_id}) != {load_id} for table in TABLES):
        return "the warehouse holds another load than the lake"
    return None


def inconsistent_days(settings: Settings) -> dict[date, str]:
    """Days whose tables are not all from the same load, and why: what a crash (or a failed step)
    between the commits of a load and of its aggregates leaves behind."""
    storage = Storage(settings)
    manifests = storage.load_manifests()
    loads = load_ids(storage)
    days = set(manifests) | {day for by_day in loads.values() for day in by_day}
    problems = {day: day_problem(day, manifests, loads) for day in days}
    return {day: problem for day, problem in sorted(problems.items()) if problem}

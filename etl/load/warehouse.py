"""The DuckDB warehouse: daily aggregates rebuilt from one lake partition at a time.

Rebuilding a day deletes and inserts that day's rows of every table in one
transaction, so a re-run replaces and never appends, and a failed run changes
nothing. Each day records the load id of the lake partition it was built from. One writer
at a time: a lock file serialises processes, whether Airflow tasks, backfills or the CLI.
Readers open a snapshot of the warehouse published after each commit, never the writers' file.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import date

import duckdb

from etl import sql
from etl.config import Settings
from etl.contract import NOT_COUNTED_STATUSES
from etl.duck import connect, one, run
from etl.errors import ReconciliationError
from etl.storage import Storage

TABLES = ("daily_connector_tls", "daily_remote_domain_tls", "daily_load")




def ensure_schema(con) -> None:
    for table in TABLES:
        run(con, sql.load(f"load/schema/{table}"))
    run(con, sql.load("load/schema/daily_load_load_id"))


def rebuild_day(settings: Settings, day: date) -> dict:
    """Replace `day` in the warehouse with aggregates of its lake partition."""
    storage = Storage(settings)
    manifest = storage.read_load_manifest(day)
    trace_files = storage.trace_files(day)
    model_params = {"trace_files": trace_files, "day": day, "not_counted_statuses": list(NOT_COUNTED_STATUSES)}
    with storage.lock("warehouse"):
        con = _connect_for_writing(storage, settings)
        try:
            ensure_schema(con)
            run(con, "begin transaction")
            try:
                for table in TABLES:
                    run(con, f"delete from {table} where date = $day", {"day": day})
                for table in ("daily_connector_tls", "daily_remote_domain_tls"):
                    run(con, f"insert into {table} " + sql.load(f"load/{table}"), model_params)
                run(con, "insert into daily_load " + sql.load("load/daily_load"), {
                    "day": day,
                    "rows_read": manifest["rows_read"],
                    "rows_loaded": manifest["rows_loaded"],
                    "rows_quarantined": manifest["rows_quarantined"],
                    "duplicates_removed": manifest["duplicates_removed"],
                    "quarantine_reasons": json.dumps(manifest["quarantine_reasons"], sort_keys=True),
                    "sources": json.dumps(manifest["sources"], sort_keys=True),
                    "loaded_at": manifest["loaded_at"],
                    "load_id": manifest.get("load_id"),
                })
                summary = _reconcile(con, day, trace_files)
                run(con, "commit")
            except BaseException:
                # a failed statement may have ended the transaction already (a full disk does):
                # then rollback fails too, and must not hide the error that matters
                with contextlib.suppress(duckdb.Error):
                    run(con, "rollback")
                raise
            run(con, "checkpoint")  # everything in the one file, for the snapshot
        finally:
            con.close()
        storage.publish_warehouse_snapshot()
    return summary


def _connect_for_writing(storage: Storage, settings: Settings, wait_seconds: float = 60.0):
    """The writers' connection. Our own writers take turns by the lock; a stray reader of the
    writers' file (an analyst's DuckDB shell) is waited out with backoff rather than failing the load."""
    delay, waited = 0.1, 0.0
    while True:
        try:
            return connect(storage.warehouse, memory_limit=settings.memory_limit)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or waited >= wait_seconds:
                raise
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)


def warehouse_load_ids(storage: Storage) -> dict[date, str | None]:
    """The load id each day of the warehouse was aggregated from (readers' snapshot)."""
    if not storage.warehouse_snapshot.exists():
        return {}
    con = connect(storage.warehouse_snapshot, read_only=True)
    try:
        return dict(con.execute("select date, load_id from daily_load").fetchall())
    finally:
        con.close()


def day_problem(storage: Storage, day: date, warehouse: dict[date, str | None]) -> str | None:
    """Why the day's lake partitions and warehouse rows are not all from one load, or None."""
    if not storage.is_loaded(day):
        return "in the warehouse but not in the lake" if day in warehouse else None
    load_id = storage.read_load_manifest(day).get("load_id")
    if day not in warehouse:
        return "in the lake but not in the warehouse"
    if warehouse[day] != load_id:
        return "the warehouse holds another load than the lake"
    if storage.quarantine_load_id(day) != load_id:
        return "the quarantine partition is from another load than the trace partition"
    return None


def inconsistent_days(settings: Settings) -> dict[date, str]:
    """Days whose lake partitions and warehouse rows are not all from the same load, and why:
    what a crash (or a failed step) between the lake's commit and the warehouse's leaves behind."""
    storage = Storage(settings)
    warehouse = warehouse_load_ids(storage)
    problems = {day: day_problem(storage, day, warehouse) for day in set(storage.lake_days()) | set(warehouse)}
    return {day: problem for day, problem in sorted(problems.items()) if problem}


def _reconcile(con, day: date, trace_files: list[str]) -> dict:
    """Every loaded row is either a counted message or a placeholder that is not one; both
    aggregates count the same messages."""
    by_connector = one(con, "select coalesce(sum(messages), 0) from daily_connector_tls where date = $day",
                       {"day": day})[0]
    by_domain = one(con, "select coalesce(sum(messages), 0) from daily_remote_domain_tls where date = $day",
                    {"day": day})[0]
    rows_loaded, not_counted = one(con, "select rows_loaded, rows_not_counted from daily_load where date = $day",
                                   {"day": day})
    expanded = one(con, "select count(*) from read_parquet($trace_files, hive_partitioning = false) "
                        "where list_contains($not_counted_statuses, status)",
                   {"trace_files": trace_files, "not_counted_statuses": list(NOT_COUNTED_STATUSES)})[0]
    if by_connector != by_domain or not_counted != expanded or by_connector + expanded != rows_loaded:
        raise ReconciliationError(
            f"{day}: aggregates do not reconcile (loaded {rows_loaded}, counted {by_connector}, "
            f"by domain {by_domain}, expanded {expanded})")
    return {"date": day.isoformat(), "messages": by_connector, "rows_not_counted": expanded}

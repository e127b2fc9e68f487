"""The DuckDB warehouse: daily aggregates rebuilt from one lake partition at a time.

Rebuilding a day deletes and inserts that day's rows of every table in one
transaction, so a re-run replaces and never appends, and a failed run changes
nothing. One writer at a time: a lock file serialises processes, whether Airflow tasks,
backfills or the CLI.
"""

from __future__ import annotations

import json
from datetime import date

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


def rebuild_day(settings: Settings, day: date) -> dict:
    """Replace `day` in the warehouse with aggregates of its lake partition."""
    storage = Storage(settings)
    manifest = storage.read_load_manifest(day)
    trace_files = storage.trace_files(day)
    model_params = {"trace_files": trace_files, "day": day, "not_counted_statuses": list(NOT_COUNTED_STATUSES)}
    with storage.lock("warehouse"):
        con = connect(storage.warehouse, memory_limit=settings.memory_limit)
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
                })
                summary = _reconcile(con, day, trace_files)
                run(con, "commit")
            except BaseException:
                run(con, "rollback")
                raise
        finally:
            con.close()
    return summary


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

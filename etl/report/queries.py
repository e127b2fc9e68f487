"""The report views (sql/report/*.sql) run on the warehouse's daily aggregates, never on raw rows:
the window's rows of each aggregate table as of one snapshot, scanned by DuckDB in memory."""

from __future__ import annotations

import time
from datetime import date

import duckdb

from etl import sql
from etl.contract import REPORTED_DIRECTIONS
from etl.duck import connect, run
from etl.errors import ReportError
from etl.load.warehouse import TABLES as AGGREGATES
from etl.report.model import RULES
from etl.report.request import ReportRequest
from etl.storage import Storage

TOP_DOMAINS = 5


def _rows(con, name: str, params: dict | None = None) -> list[dict]:
    cursor = con.execute(sql.load(f"report/{name}"), params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def connect_views(tables: dict) -> duckdb.DuckDBPyConnection:
    """An in-memory connection on which the report views run over `tables` (name -> Arrow data)."""
    con = connect()
    for name, data in tables.items():
        con.register(name, data)
    run(con, sql.load("report/report_rows"))
    return con


def snapshot_ids(storage: Storage) -> dict[str, int | None]:
    """The aggregate tables' current snapshots: what a report reads, and records that it read."""
    return {table: storage.lake.snapshot_id(table) for table in AGGREGATES}


def open_window(storage: Storage, start: date, end: date, snapshots: dict[str, int | None] | None = None,
                attempts: int = 5) -> tuple[duckdb.DuckDBPyConnection, dict[str, int | None]]:
    """The window's aggregates, each table as of one snapshot (the current ones unless given), with
    the report views on them. A day whose tables are caught between a rebuild's commits is read
    again from newer snapshots; if it stays mixed, the report stops and says which day."""
    for attempt in range(attempts):
        pinned = snapshots or snapshot_ids(storage)
        # read once into memory (a year of aggregates is small): the views scan them many times
        con = connect_views({table: storage.lake.read(table, start, end, snapshot_id=pinned[table])
                             for table in AGGREGATES})
        mixed = [row["date"] for row in _rows(con, "report_mixed_days")]
        if not mixed:
            return con, pinned
        con.close()
        if snapshots is not None or attempt == attempts - 1:
            break
        time.sleep(0.5 * (attempt + 1))
    days = ", ".join(day.isoformat() for day in mixed)
    raise ReportError(f"the aggregates of {days} are not all from one load (a rebuild is running or was cut "
                      f"short); run `mailflow backfill --from {mixed[0]} --to {mixed[-1]}`")


def query_views(storage: Storage, request: ReportRequest, snapshots: dict[str, int | None] | None = None) -> dict:
    """The rows of every report view for the request's window and filters (dates as ISO text), read
    from the aggregate tables' current snapshots, or from `snapshots` (time travel: a reproduction)."""
    window = {"start": request.start, "end": request.end}
    filters = {**window, "connector": request.connector, "direction": request.direction,
               "directions": list(REPORTED_DIRECTIONS)}
    con, snapshots = open_window(storage, request.start, request.end, snapshots)
    try:
        _require_a_loaded_day(_rows(con, "report_days", window), request)
        views = {
            "days": _rows(con, "report_days", window),
            "daily": _rows(con, "report_daily_flow", filters),
            "connector_tls": _rows(con, "report_connector_tls", filters),
            "snapshot_tls": _rows(con, "report_snapshot_tls", {
                **window, "direction": request.direction, "directions": list(REPORTED_DIRECTIONS)}),
            "remote_domains": _rows(con, "report_remote_domains", {
                **filters, "buckets": [rule.bucket for rule in RULES], "top": TOP_DOMAINS}),
        }
    finally:
        con.close()
    for rows in views.values():
        for row in rows:
            if isinstance(row.get("date"), date):
                row["date"] = row["date"].isoformat()
    return {"request": request.to_json(), "snapshots": snapshots, "views": views}


def completeness(storage: Storage, request: ReportRequest) -> dict:
    """Which days of the window are loaded. A missing day does not stop the report: it is marked."""
    con, _ = open_window(storage, request.start, request.end)
    try:
        days = _rows(con, "report_days", {"start": request.start, "end": request.end})
    finally:
        con.close()
    _require_a_loaded_day(days, request)
    return {"days_expected": len(days), "days_present": sum(1 for d in days if d["loaded"]),
            "missing_days": [d["date"].isoformat() for d in days if not d["loaded"]]}


def _require_a_loaded_day(days: list[dict], request: ReportRequest) -> None:
    """A report of a window with no day loaded would say nothing true: it is refused, not sent."""
    if not any(day["loaded"] for day in days):
        raise ReportError(f"no day of {request.start} to {request.end} is loaded; load them first "
                          f"(mailflow backfill --from {request.start} --to {request.end})")

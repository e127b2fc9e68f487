"""The report views (sql/report/*.sql) run on the warehouse's daily aggregates, never on raw rows."""

from __future__ import annotations

from datetime import date

import duckdb

from etl import sql
from etl.contract import REPORTED_DIRECTIONS
from etl.duck import connect, run
from etl.errors import ReportError
from etl.report.model import RULES
from etl.report.request import ReportRequest
from etl.storage import Storage

TOP_DOMAINS = 5


def _rows(con, name: str, params: dict) -> list[dict]:
    cursor = con.execute(sql.load(f"report/{name}"), params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def connect_views(database) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse on which the report views can run."""
    con = connect(database, read_only=True)
    run(con, sql.load("report/report_rows"))
    return con


def _open_warehouse(storage: Storage) -> duckdb.DuckDBPyConnection:
    """The readers' snapshot of the warehouse: a report never holds the file loads write."""
    if not storage.warehouse_snapshot.exists():
        raise ReportError(f"no warehouse at {storage.warehouse_snapshot}; load some days first (mailflow ingest)")
    return connect_views(storage.warehouse_snapshot)


def query_views(storage: Storage, request: ReportRequest) -> dict:
    """The rows of every report view for the request's window and filters (dates as ISO text)."""
    window = {"start": request.start, "end": request.end}
    filters = {**window, "connector": request.connector, "direction": request.direction,
               "directions": list(REPORTED_DIRECTIONS)}
    con = _open_warehouse(storage)
    try:
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
    return {"request": request.to_json(), "views": views}


def completeness(storage: Storage, request: ReportRequest) -> dict:
    """Which days of the window are loaded. A missing day does not stop the report: it is marked."""
    con = _open_warehouse(storage)
    try:
        days = _rows(con, "report_days", {"start": request.start, "end": request.end})
    finally:
        con.close()
    return {"days_expected": len(days), "days_present": sum(1 for d in days if d["loaded"]),
            "missing_days": [d["date"].isoformat() for d in days if not d["loaded"]]}

"""The report views (sql/report/*.sql) run on the warehouse's daily aggregates, never on raw rows:
the window's rows of each aggregate table as of one snapshot, scanned by DuckDB in memory."""

from __future__ import annotations

import time
from datetime import date, timedelta

import duckdb

from etl import sql
from etl.contract import REPORTED_DIRECTIONS
from etl.duck import connect, run
from etl.errors import ReportError
from etl.load.warehouse import TABLES as AGGREGATES
from etl.report.request import ReportRequest
from etl.report.rules import RULES
from etl.storage import Storage
from etl.storage.lake import empty

TOP_DOMAINS = 5
# the SMTP TLS report tables a report reads, beside the trace aggregates
TLSRPT_READ = ("daily_tlsrpt_policy", "daily_tlsrpt_failure", "tlsrpt_loads")
# how far back an insight's history (since when it fires) and the trend look: two years
HISTORY_DAYS = 731


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
    run(con, sql.load("report/report_series"))
    return con


def snapshot_ids(storage: Storage) -> dict[str, int | None]:
    """The aggregate tables' current snapshots: what a report reads, and records that it read."""
    return {table: storage.lake.snapshot_id(table) for table in (*AGGREGATES, *TLSRPT_READ)}


def series_of(request: ReportRequest, loaded_days: list[date]) -> list[ReportRequest]:
    """The windows the report is compared with, newest first: its own, then the ones before it, back
    to the first loaded day, but no further than HISTORY_DAYS before its end."""
    horizon = request.end - timedelta(days=HISTORY_DAYS)
    first = min((day for day in loaded_days if day >= horizon), default=request.start)
    return request.series(back_to=max(first, horizon))


def open_window(storage: Storage, request: ReportRequest, snapshots: dict[str, int | None] | None = None,
                attempts: int = 5, history: bool = True,
                ) -> tuple[duckdb.DuckDBPyConnection, dict[str, int | None], list[ReportRequest]]:
    """The aggregates of the request's window and (with `history`) of the windows before it (its
    series), each table as of one snapshot (the current ones unless given), with the report views on
    them. A day whose tables are caught between a rebuild's commits is read again from newer
    snapshots; if it stays mixed, the report stops and says which day."""
    for attempt in range(attempts):
        pinned = snapshots or snapshot_ids(storage)
        lake = storage.lake
        loads = lake.read("daily_load", request.end - timedelta(days=HISTORY_DAYS), request.end,
                          snapshot_id=pinned["daily_load"])
        series = series_of(request, loads["date"].to_pylist()) if history else [request]

        # read once into memory (a year of aggregates is small): the views scan them many times;
        # remote domains only for the report's window and the one before, the places they are used
        con = connect_views({
            "daily_load": loads,
            "daily_connector_tls": _pinned(lake, "daily_connector_tls", series[-1].start, request.end, pinned),
            "daily_remote_domain_tls": _pinned(lake, "daily_remote_domain_tls", request.earlier().start, request.end,
                                               pinned),
            **{table: _pinned(lake, table, min(series[-1].start, request.earlier().start), request.end, pinned)
               for table in TLSRPT_READ},
        })
        mixed = sorted({row["date"] for view in ("report_mixed_days", "report_tlsrpt_mixed_days")
                        for row in _rows(con, view)})
        if not mixed:
            return con, pinned, series
        con.close()
        if snapshots is not None or attempt == attempts - 1:
            break
        time.sleep(0.5 * (attempt + 1))
    days = ", ".join(day.isoformat() for day in mixed)
    raise ReportError(f"the aggregates of {days} are not all from one load (a rebuild is running or was cut "
                      f"short); run `mailflow backfill --from {mixed[0]} --to {mixed[-1]}`")


def _pinned(lake, table: str, start: date, end: date, pinned: dict[str, int | None]):
    """A table's rows of [start, end] as of its pinned snapshot; empty when it was empty (or did not
    exist) when pinned, whatever it holds now."""
    if pinned.get(table) is None:
        return empty(table)
    return lake.read(table, start, end, snapshot_id=pinned[table])


def query_views(storage: Storage, request: ReportRequest, snapshots: dict[str, int | None] | None = None) -> dict:
    """The rows of every report view for the request's window and filters (dates as ISO text), and
    of its series of earlier windows, read from the aggregate tables' current snapshots, or from
    `snapshots` (time travel: a reproduction)."""
    window = {"start": request.start, "end": request.end}
    filters = {**window, "connector": request.connector, "direction": request.direction,
               "directions": list(REPORTED_DIRECTIONS), "connectors": list(request.connectors)}
    con, snapshots, series = open_window(storage, request, snapshots)
    windows = {"starts": [w.start for w in series], "ends": [w.end for w in series]}
    previous = series[1] if len(series) > 1 else request.earlier()
    try:
        _require_a_loaded_day(_rows(con, "report_days", window), request)
        views = {
            "days": _rows(con, "report_days", window),
            "daily": _rows(con, "report_daily_flow", filters),
            "connector_tls": _rows(con, "report_connector_tls", filters),
            "snapshot_tls": _rows(con, "report_snapshot_tls", {
                **window, "direction": request.direction, "directions": list(REPORTED_DIRECTIONS)}),
            "remote_domains": _rows(con, "report_remote_domains", {
                **filters, "buckets": [rule.bucket for rule in RULES if rule.bucket], "top": TOP_DOMAINS}),
            "previous_days": _rows(con, "report_days", {"start": previous.start, "end": previous.end}),
            "history_days": _rows(con, "report_history_days", windows),
            "history": _rows(con, "report_history", {
                **windows, "connector": request.connector, "direction": request.direction,
                "directions": list(REPORTED_DIRECTIONS), "connectors": list(request.connectors)}),
            **_tlsrpt_views(con, request, previous, windows, filters),
        }
    finally:
        con.close()
    for rows in views.values():
        for row in rows:
            for key, value in row.items():
                if isinstance(value, date):
                    row[key] = value.isoformat()
    return {"request": request.to_json(), "snapshots": snapshots, "views": views}


def _tlsrpt_views(con, request: ReportRequest, previous: ReportRequest, windows: dict, filters: dict) -> dict:
    """What SMTP TLS reports say of the window (and the windows before it), and what the traces say of
    the domains they speak of: under the report's filters (the connectors linked), and without them
    (whether we sent mail to a domain at all, which tells its direction when our domains are not set)."""
    window = {"start": request.start, "end": request.end}
    both = {**window, "previous_start": previous.start, "previous_end": previous.end,
            "directions": list(REPORTED_DIRECTIONS)}
    return {
        "tlsrpt_domains": _rows(con, "report_tlsrpt_domains", window),
        "tlsrpt_failures": _rows(con, "report_tlsrpt_failures", window),
        "tlsrpt_days": _rows(con, "report_tlsrpt_days", windows),
        "tlsrpt_history": _rows(con, "report_tlsrpt_history", windows),
        "tlsrpt_traces": _rows(con, "report_tlsrpt_traces", {
            **both, **{k: filters[k] for k in ("connector", "direction", "connectors")}}),
        "tlsrpt_sent": _rows(con, "report_tlsrpt_traces", {
            **both, "connector": None, "direction": None, "connectors": []}),
    }


def completeness(storage: Storage, request: ReportRequest) -> dict:
    """Which days of the window are loaded. A missing day does not stop the report: it is marked.
    Only the window itself is read: the windows before it matter to the figures, not to the plan."""
    con, _, _ = open_window(storage, request, history=False)
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

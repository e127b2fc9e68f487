"""Load the SMTP TLS reports (RFC 8460) of the landing folder into the lake, one UTC day at a time.

Reports arrive a day or more after the day they cover, out of order, by file and by mail, and the
same report may arrive twice. So a load reads every report the landing folder holds (files given
on the command line are dropped there first: it is the record of everything received), files each
under its day (`etl.sources.tlsrpt.report_day`), keeps the first copy of each (organization,
report-id) in name order, and replaces each day whose reports changed since it was last loaded,
tables in one commit each, its tlsrpt_loads row last. A day none of whose reports is in the
landing folder any more is left as it is: pruning the folder loses nothing from the lake.

Counts reconcile, per day and in all: reports read = loaded + quarantined + duplicates.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

from etl import sql
from etl.config import Settings
from etl.duck import connect, one, run
from etl.errors import ExportError, ReconciliationError
from etl.sources.tlsrpt import TlsReport, day_from_name, parse_report
from etl.sources.tlsrpt_files import Payload, Refusal, read_reports
from etl.storage import TLSRPT_TABLES, Storage
from etl.storage.lake import table_schema


@dataclass
class DayReports:
    """One day's reports as read: kept, refused, and copies of reports kept elsewhere."""

    reports: list[TlsReport] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    duplicates: list[TlsReport] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.reports) + len(self.refused) + len(self.duplicates)

    def reasons(self) -> Counter[str]:
        return Counter(refusal.reason for refusal in self.refused)

    def sources(self) -> list[dict]:
        """Every file (and part) the day's reports came in, duplicates included: its fingerprint."""
        found = {(item.source, item.file_sha256) for item in (*self.reports, *self.refused, *self.duplicates)}
        return [{"file": source, "sha256": digest} for source, digest in sorted(found)]


@dataclass
class TlsRptLoad:
    reports_read: int = 0
    reports_loaded: int = 0
    reports_quarantined: int = 0
    duplicates: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    days_loaded: list[str] = field(default_factory=list)  # replaced by this load
    days_unchanged: list[str] = field(default_factory=list)  # their reports were loaded already, as they are


def ingest_tlsrpt(settings: Settings, files: list[Path] | None = None) -> TlsRptLoad:
    """Drop `files` (reports, mail, mbox files, maildir folders) into the landing folder, then load
    every day whose reports there changed."""
    storage = Storage(settings)
    for path in files or []:
        if not path.exists():
            raise ExportError(f"{path}: no such file or folder")
    for path in files or []:
        storage.put_tlsrpt(path)
    # one load at a time, on every host that shares the catalog: two would replace the same days
    with storage.lake.exclusive("tlsrpt"), storage.staged_day() as staged:
        folder = storage.fetch_tlsrpt(staged.exports)
        days = file_by_day(read_reports([folder]) if folder else [])
        loaded = storage.tlsrpt_loads()
        result = TlsRptLoad()
        for day, found in sorted(days.items()):
            _count(result, found)
            if day in loaded and loaded[day]["sources"] == found.sources():
                result.days_unchanged.append(day.isoformat())
                continue
            load_id = uuid.uuid4().hex
            storage.commit_tlsrpt_day(day, day_tables(day, found, load_id), load_id)
            result.days_loaded.append(day.isoformat())
    return result


def file_by_day(items: Iterable[Payload | Refusal]) -> dict[date, DayReports]:
    """Parse every report read and file it under its day; the first copy of a report (in the order
    read) is kept, later ones are duplicates, each counted on its own day."""
    days: dict[date, DayReports] = {}
    kept: set[tuple[str, str]] = set()
    for item in items:
        parsed = parse_report(item) if isinstance(item, Payload) else item
        if isinstance(parsed, Refusal):
            day = parsed.day or day_from_name(parsed.source) or parsed.landed
            days.setdefault(day, DayReports()).refused.append(parsed)
        elif parsed.key in kept:
            days.setdefault(parsed.day, DayReports()).duplicates.append(parsed)
        else:
            kept.add(parsed.key)
            days.setdefault(parsed.day, DayReports()).reports.append(parsed)
    return days


def _count(result: TlsRptLoad, found: DayReports) -> None:
    result.reports_read += found.read
    result.reports_loaded += len(found.reports)
    result.reports_quarantined += len(found.refused)
    result.duplicates += len(found.duplicates)
    result.quarantine_reasons = dict(Counter(result.quarantine_reasons) + found.reasons())


def day_tables(day: date, found: DayReports, load_id: str) -> dict[str, pa.Table]:
    """The day's rows of every TLS report table, its aggregates reconciled with its reports."""
    policies, failures = [], []
    for report in found.reports:
        head = {"date": day, "organization": report.organization, "report_id": report.report_id,
                "source": report.source, "file_sha256": report.file_sha256, "load_id": load_id}
        for policy in report.policies:
            policies.append({
                **head, "start_datetime": report.start, "end_datetime": report.end,
                "contact_info": report.contact_info, "policy_type": policy.policy_type,
                "policy_domain": policy.policy_domain, "policy_strings": json.dumps(list(policy.policy_strings)),
                "mx_hosts": json.dumps(list(policy.mx_hosts)), "successful_sessions": policy.successful_sessions,
                "failed_sessions": policy.failed_sessions, "extra": json.dumps(report.extra, sort_keys=True)})
            for failure in policy.failures:
                failures.append({**head, "policy_type": policy.policy_type, "policy_domain": policy.policy_domain,
                                 **vars(failure)})
    tables = {
        "tlsrpt_policy": _table("tlsrpt_policy", policies),
        "tlsrpt_failure": _table("tlsrpt_failure", failures),
        "tlsrpt_quarantine": _table("tlsrpt_quarantine", [
            {"date": day, "source": r.source, "file_sha256": r.file_sha256, "reason": r.reason, "load_id": load_id}
            for r in found.refused]),
    }
    con = connect()
    try:
        con.register("tlsrpt_policy_rows", tables["tlsrpt_policy"])
        con.register("tlsrpt_failure_rows", tables["tlsrpt_failure"])
        for name in ("daily_tlsrpt_policy", "daily_tlsrpt_failure"):
            run(con, f"create temp table {name} as " + sql.load(f"load/{name}"), {"load_id": load_id})
            tables[name] = con.sql(f"select * from {name}").to_arrow_table()
        _reconcile(con, day, tables)
    finally:
        con.close()
    tables["tlsrpt_loads"] = _table("tlsrpt_loads", [{
        "date": day, "load_id": load_id, "loaded_at": datetime.now(UTC),
        "reports_read": found.read,
        "reports_loaded": len(found.reports), "reports_quarantined": len(found.refused),
        "duplicates": len(found.duplicates), "quarantine_reasons": json.dumps(dict(found.reasons()), sort_keys=True),
        "sources": json.dumps(found.sources())}])
    return {name: tables[name].cast(table_schema(name)) for name in TLSRPT_TABLES}


def _table(name: str, rows: list[dict]) -> pa.Table:
    schema = table_schema(name)
    return pa.Table.from_pylist([{column: row.get(column) for column in schema.names} for row in rows],
                                schema=schema)


def _reconcile(con, day: date, tables: dict[str, pa.Table]) -> None:
    """The aggregates count every session the reports do, no more, no fewer."""
    reported = one(con, "select coalesce(sum(successful_sessions), 0), coalesce(sum(failed_sessions), 0) "
                        "from tlsrpt_policy_rows")
    detailed = one(con, "select coalesce(sum(failed_sessions), 0) from tlsrpt_failure_rows")[0]
    by_policy = tables["daily_tlsrpt_policy"]
    by_result = tables["daily_tlsrpt_failure"]
    aggregated = (sum(by_policy["successful_sessions"].to_pylist()), sum(by_policy["failed_sessions"].to_pylist()))
    if aggregated != tuple(reported) or sum(by_result["failed_sessions"].to_pylist()) != detailed:
        raise ReconciliationError(f"{day}: TLS report aggregates do not reconcile (reported {reported}, "
                                  f"aggregated {aggregated}; failure details {detailed})")

"""Command line: python -m etl {sample,ingest,aggregate,check,report,status,bench} ...

Errors a user can act on are printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from .config import settings
from .csv_source import ExportError
from .quality import DataQualityError
from .report import ReportError
from .warehouse import ReconciliationError

USER_ERRORS = (ExportError, DataQualityError, ReconciliationError, ReportError, FileNotFoundError, ValueError)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m etl", description="Mail-flow TLS compliance pipeline")
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="write realistic sample trace exports")
    sample.add_argument("--start", type=_day, required=True)
    sample.add_argument("--days", type=_positive, default=14)
    sample.add_argument("--out", type=Path, required=True)
    sample.add_argument("--rows-per-day", type=_positive, default=2000, help="weekday volume (weekends ~30%%)")
    sample.add_argument("--seed", type=int, default=42)

    ingest = commands.add_parser("ingest", help="load one UTC day into the lake and the warehouse")
    ingest.add_argument("--date", type=_day, required=True)
    ingest.add_argument("--json", action="store_true", help="print the load counts as JSON")
    ingest.add_argument("files", nargs="*", type=Path, help="exports to load (default: the landing folder's)")

    aggregate = commands.add_parser("aggregate", help="rebuild one day of warehouse aggregates from the lake")
    aggregate.add_argument("--date", type=_day, required=True)

    check = commands.add_parser("check", help="data-quality gate for one loaded day")
    check.add_argument("--date", type=_day, required=True)

    report = commands.add_parser("report", help="the mail flow & TLS report for a window of days")
    report.add_argument("--from", dest="start", type=_day, help="first UTC day (default: 7 days ago)")
    report.add_argument("--to", dest="end", type=_day, help="last UTC day (default: yesterday)")
    report.add_argument("--connector", help="only this connector")
    report.add_argument("--direction", choices=["inbound", "outbound"])
    report.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    report.add_argument("--format", default="html,email,txt,json",
                        help="comma-separated: html,email,txt,json (default: all four)")

    status = commands.add_parser("status", help="days loaded into the warehouse")
    status.add_argument("--json", action="store_true")

    bench = commands.add_parser("bench", help="benchmarks")
    bench.add_argument("what", choices=["ingest"])
    bench.add_argument("--rows", type=_positive, default=1_000_000)
    bench.add_argument("--workdir", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or the machine (disk full, ...): still one line, unless asked
        if os.environ.get("MAILFLOW_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc}".splitlines()[0]
              + " (set MAILFLOW_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _run(args) -> int:
    if args.command == "sample":
        from .sample import generate

        paths = generate(args.start, args.days, args.out, rows_per_day=args.rows_per_day, seed=args.seed)
        print(f"wrote {len(paths)} exports to {args.out}")
        return 0
    if args.command == "ingest":
        from .ingest import ingest_day
        from .warehouse import rebuild_day

        cfg = settings()
        result = ingest_day(cfg, args.date, args.files or None)
        rebuild_day(cfg, args.date)
        if args.json:
            print(json.dumps(result.summary()))
        else:
            print(f"{result.date}: read {result.rows_read}, loaded {result.rows_loaded}, "
                  f"quarantined {result.rows_quarantined}, duplicates removed {result.duplicates_removed}")
            for name, count in result.warnings.items():
                print(f"warning: {count} rows with {name.replace('_', ' ')}", file=sys.stderr)
        return 0
    if args.command == "aggregate":
        from .warehouse import rebuild_day

        print(json.dumps(rebuild_day(settings(), args.date)))
        return 0
    if args.command == "check":
        from .quality import check_day

        print(json.dumps(check_day(settings(), args.date)))
        return 0
    if args.command == "report":
        from datetime import UTC, datetime

        from . import report
        from .report_model import Thresholds

        cfg = settings()
        now = datetime.now(UTC)
        start, end = args.start, args.end
        if start is None or end is None:
            default_start, default_end = report.last_complete_days(now.date())
            start, end = start or default_start, end or default_end
        formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
        unknown = [f for f in formats if f not in report.FORMATS]
        if unknown or not formats:
            raise report.ReportError(f"unknown format {', '.join(unknown) or '(none)'}; "
                                     f"choose from {', '.join(report.FORMATS)}")
        data = report.compute(cfg, start, end, connector=args.connector, direction=args.direction,
                              thresholds=Thresholds(cfg.no_tls_pct, cfg.tls10_pct), generated_at=now)
        for path in report.write(data, args.out, formats):
            print(path)
        print(f"{data['title']} {start} to {end}: {data['headline']}", file=sys.stderr)
        return 0
    if args.command == "status":
        from .status import loaded_days

        days = loaded_days(settings())
        if args.json:
            print(json.dumps(days, default=str))
        else:
            print(f"{'date':<12}{'read':>10}{'loaded':>10}{'quarantined':>13}{'duplicates':>12}{'messages':>10}")
            for d in days:
                print(f"{d['date']!s:<12}{d['rows_read']:>10}{d['rows_loaded']:>10}{d['rows_quarantined']:>13}"
                      f"{d['duplicates_removed']:>12}{d['messages']:>10}")
        return 0
    if args.command == "bench":
        from .bench import bench_ingest

        return bench_ingest(args.rows, args.workdir)
    raise AssertionError(args.command)

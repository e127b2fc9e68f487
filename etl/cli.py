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

from .archive import ArchiveError
from .config import settings
from .export_file import ExportError
from .mail import DeliveryError
from .quality import DataQualityError
from .report import ReportError
from .sources import FORMATS, SourceOptions
from .warehouse import ReconciliationError

USER_ERRORS = (ExportError, DataQualityError, ReconciliationError, ReportError, ArchiveError, DeliveryError,
               FileNotFoundError, ValueError)


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
    ingest.add_argument("--source", choices=FORMATS, default=None,
                        help="what the files are: csv (trace exports, Exchange's too), postfix (mail logs) or "
                             "auto, detected per file (default: $MAILFLOW_SOURCE or auto)")
    ingest.add_argument("--connectors", type=Path, default=None,
                        help="connector rules (TOML) for Postfix logs (default: $MAILFLOW_CONNECTORS or "
                             "$MAILFLOW_HOME/connectors.toml)")
    ingest.add_argument("--no-tls-logging", action="store_true",
                        help="Postfix does not log TLS sessions: a missing TLS line means unknown, not none")
    ingest.add_argument("--log-timezone", default=None,
                        help="time zone of classic syslog timestamps (default: $MAILFLOW_LOG_TIMEZONE or UTC)")

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
    report.add_argument("--archive", action="store_true", help="archive this run as a new revision")
    report.add_argument("--send", action="store_true", help="mail the archived revision (implies --archive)")
    report.add_argument("--reason", help="why this revision exists (e.g. 'late data'); recorded in the index")

    archive = commands.add_parser("archive", help="the report archive, for auditors")
    archive_commands = archive.add_subparsers(dest="archive_command", required=True)
    archive_list = archive_commands.add_parser("list", help="every archived report and revision")
    archive_list.add_argument("--json", action="store_true")
    archive_show = archive_commands.add_parser("show", help="a revision's files and manifest summary")
    archive_show.add_argument("report_id", help="e.g. 2026-W47, or adhoc/2026-11-10_2026-11-12")
    archive_show.add_argument("--rev", type=_positive, help="revision number (default: the latest)")
    archive_verify = archive_commands.add_parser("verify", help="re-hash every file and the index chain")
    archive_verify.add_argument("report_id", nargs="?", help="only this report (the chain is always checked)")

    status = commands.add_parser("status", help="days loaded, missing, changed; reports gone stale")
    status.add_argument("--json", action="store_true")

    backfill = commands.add_parser("backfill", help="load a range of days, then re-issue the weeks touched")
    backfill.add_argument("--from", dest="start", type=_day, required=True)
    backfill.add_argument("--to", dest="end", type=_day, required=True)
    backfill.add_argument("--reports", action="store_true", help="archive the weekly report of every week touched")
    backfill.add_argument("--send", action="store_true", help="and mail them (implies --reports)")
    backfill.add_argument("--force", action="store_true", help="reload days whose exports did not change")

    bench = commands.add_parser("bench", help="benchmarks")
    bench.add_argument("what", choices=["ingest", "postfix"])
    bench.add_argument("--rows", type=_positive, default=1_000_000, help="ingest: rows in the export")
    bench.add_argument("--messages", type=_positive, default=500_000, help="postfix: messages in the log")
    bench.add_argument("--workdir", type=Path, default=None)
    bench.add_argument("--variants", default="utf-8,utf-16,gzip",
                       help="comma-separated: utf-8 (against DuckDB's copy), utf-16, gzip (against utf-8)")
    return parser


POSTFIX_LINE_LABELS = {"lines_other_days": "of other days", "lines_other_programs": "of other programs",
                       "lines_blank": "blank", "deferred": "deferred",
                       "deliveries_not_counted": "final lines of other agents or statuses"}


def _postfix_lines(source: dict) -> str:
    """`mail.log: 74 lines; 1 of other days, 3 of other programs, 1 deferred`"""
    counts = source["lines"]
    details = [f"{counts[name]} {label}" for name, label in POSTFIX_LINE_LABELS.items() if counts.get(name)]
    return f"{source['file']}: {counts.get('lines', 0)} lines" + (f"; {', '.join(details)}" if details else "")


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


def _print_receipt(receipt: dict) -> None:
    if receipt.get("already_sent"):
        same = f" (r{receipt['same_as_revision']} said the same)" if "same_as_revision" in receipt else ""
        print(f"not sent again: {receipt['message_id']} went out at {receipt['sent_at']}{same}", file=sys.stderr)
        return
    if receipt["delivered_to"] == "outbox":
        print(f"no SMTP server configured (MAILFLOW_SMTP_HOST): message written to {receipt['outbox_file']}",
              file=sys.stderr)
    else:
        print(f"sent {receipt['message_id']} via {receipt['delivered_to']} ({receipt.get('tls') or 'no TLS'}) "
              f"to {', '.join(receipt['recipients'])}: {receipt['server_reply']}", file=sys.stderr)
    for recipient, reply in receipt.get("refused", {}).items():
        print(f"warning: {recipient} refused: {reply}", file=sys.stderr)


def _backfill_with_progress(args):
    """The backfill with a progress bar on stderr: days done, and rows read per second."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .backfill import backfill

    days = (args.end - args.start).days + 1
    started = time.monotonic()
    rows_total = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=Console(stderr=True)) as progress:
        task = progress.add_task("backfill", total=days, rate="")

        def on_day(day, outcome, rows):
            nonlocal rows_total
            rows_total += rows
            rate = rows_total / max(time.monotonic() - started, 1e-6)
            progress.update(task, advance=1, description=f"{day} {outcome:<8}", rate=f"{rate:,.0f} rows/s")

        return backfill(settings(), args.start, args.end, reports=args.reports or args.send, send=args.send,
                        force=args.force, on_day=on_day)


def _archive_command(args) -> int:
    from .archive import MANIFEST, Archive

    archive = Archive(settings())
    if args.archive_command == "list":
        entries = archive.entries()
        sent = {(e["report_id"], e["revision"]): e for e in entries if e["event"] == "sent"}
        rows = [{"report_id": e["report_id"], "revision": e["revision"], "created_at": e["created_at"],
                 "reason": e["reason"], "supersedes": e["supersedes"], "path": str(archive.root / e["path"]),
                 "sent": (e["report_id"], e["revision"]) in sent} for e in entries if e["event"] == "archived"]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                print(f"{r['report_id']:<40} r{r['revision']:<3} {r['created_at']}  "
                      f"{'sent' if r['sent'] else 'not sent':<9} {r['reason']}")
        return 0
    if args.archive_command == "show":
        revision = archive.revision(args.report_id, args.rev)
        manifest = json.loads((revision.path / MANIFEST).read_text(encoding="utf-8"))
        print(f"{revision.report_id} r{revision.number}  {revision.path}")
        print(f"window    {manifest['window']['start']} to {manifest['window']['end']}; "
              f"missing {', '.join(manifest['window']['missing_days']) or 'none'}")
        print(f"filters   {manifest['filters']}")
        print(f"generated {manifest['generated_at']} by {manifest['code_version']}")
        print(f"reason    {manifest['reason']}" + (f" (supersedes r{manifest['supersedes']})"
                                                    if manifest["supersedes"] else ""))
        print(f"subject   {manifest['subject']}")
        receipt = archive.receipt(revision)
        print(f"sent      {receipt['sent_at'] + ' to ' + receipt['delivered_to'] if receipt else 'no'}")
        for name, facts in sorted(manifest["files"].items()):
            print(f"  {facts['sha256']}  {facts['bytes']:>9}  {revision.path / name}")
        return 0
    problems = archive.verify(args.report_id)
    for problem in problems:
        print(problem)
    if problems:
        print(f"archive verify: {len(problems)} problem{'s' if len(problems) > 1 else ''}", file=sys.stderr)
        return 1
    print("archive verify: intact", file=sys.stderr)
    return 0


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
        defaults = SourceOptions.from_settings(cfg)
        options = SourceOptions(
            format=args.source or defaults.format,
            connectors=args.connectors or defaults.connectors,
            tls_logging=defaults.tls_logging and not args.no_tls_logging,
            timezone=args.log_timezone or defaults.timezone,
        )
        result = ingest_day(cfg, args.date, args.files or None, options)
        rebuild_day(cfg, args.date)
        if args.json:
            print(json.dumps(result.summary()))
        else:
            print(f"{result.date}: read {result.rows_read}, loaded {result.rows_loaded}, "
                  f"quarantined {result.rows_quarantined}, duplicates removed {result.duplicates_removed}")
            for source in result.sources:
                if source["format"] == "postfix":
                    print(_postfix_lines(source))
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
        if args.archive or args.send:
            from .mail import SmtpSettings
            from .publish import archive_report, send_revision

            smtp = SmtpSettings.from_env()
            revision = archive_report(cfg, data, smtp, reason=args.reason, now=now)
            print(f"archived {revision.report_id} r{revision.number}: {revision.path}", file=sys.stderr)
            if args.send:
                receipt = send_revision(cfg, revision.report_id, revision.number, smtp)
                _print_receipt(receipt)
        return 0
    if args.command == "archive":
        return _archive_command(args)
    if args.command == "status":
        from .status import status

        state = status(settings())
        if args.json:
            print(json.dumps(state, indent=2, default=str))
            return 0
        print(f"{'date':<12}{'read':>10}{'loaded':>10}{'quarantined':>13}{'share':>8}{'duplicates':>12}"
              f"{'messages':>10}")
        for d in state["days"]:
            print(f"{d['date']:<12}{d['rows_read']:>10}{d['rows_loaded']:>10}{d['rows_quarantined']:>13}"
                  f"{d['quarantined_pct']:>7.2f}%{d['duplicates_removed']:>12}{d['messages']:>10}")
        for m in state["missing"]:
            waiting = "  (export waiting in the landing folder)" if m["export_waiting"] else ""
            print(f"missing   {m['date']}{waiting}")
        for d in state["changed_since_load"]:
            print(f"changed   {d}  (its export differs from what was loaded: run backfill for it)")
        for r in state["stale_reports"]:
            print(f"stale     {r['report_id']} r{r['revision']}  (inputs changed: {', '.join(r['changed_days'])})")
        return 0
    if args.command == "backfill":

        result = _backfill_with_progress(args)
        print(json.dumps({k: v for k, v in result.__dict__.items()}, indent=2))
        return 1 if result.failed else 0
    if args.command == "bench":
        from .bench import VARIANTS, bench_ingest, bench_postfix

        if args.what == "postfix":
            return bench_postfix(args.messages, args.workdir)

        variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown or not variants:
            wrong = unknown[0] if unknown else "(none)"
            raise ValueError(f"unknown variant {wrong!r} (expected {', '.join(VARIANTS)})")
        return bench_ingest(args.rows, args.workdir, variants=variants)
    raise AssertionError(args.command)

"""The command line: `mailflow COMMAND ...` (or `python -m etl COMMAND ...`).

    sample      write realistic sample exports
    ingest      load one UTC day: lake, warehouse, quality gate
    aggregate   rebuild one day of warehouse aggregates from the lake
    check       the data-quality gate for one loaded day
    report      the mail flow & TLS report for a window; --archive, --send
    archive     list | show | verify | reproduce | repair the auditors' archive
    quarantine  the records a day's load refused
    tlsrpt      ingest: SMTP TLS reports (RFC 8460) received from other domains
    lake        expire: old table snapshots and the files only they referenced
    status      days loaded, missing, changed; reports gone stale
    backfill    load a range of days, then re-issue the weeks touched
    bench       benchmarks (ingest against DuckDB's plain copy; Postfix logs; hostile input)

The project's own errors (etl.errors.MailflowError) are printed as one line and exit 2; anything
else is a bug or the machine, printed as one line with exit 1 (MAILFLOW_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from etl.config import settings
from etl.errors import ConfigError, MailflowError, ReportError
from etl.sources.detect import FORMATS as SOURCE_FORMATS

PROG = "mailflow"


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


def _positive_list(text: str) -> list[int]:
    """`1000000,5000000`: one or more positive integers."""
    try:
        return [_positive(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("must be positive integers separated by commas") from None


# -- the commands: one function each -------------------------------------------------------

def cmd_sample(args) -> int:
    import tempfile

    from etl.devtools.sample import generate
    from etl.devtools.tlsrpt_sample import generate_reports
    from etl.storage import TLSRPT, Storage

    if args.out:
        paths = generate(args.start, args.days, args.out, rows_per_day=args.rows_per_day, seed=args.seed)
        reports = generate_reports(args.start, args.days, args.out / TLSRPT, seed=args.seed)
        print(f"wrote {len(paths)} exports to {args.out}, {len(reports)} SMTP TLS reports to {args.out / TLSRPT}")
        return 0
    storage = Storage(settings())
    with tempfile.TemporaryDirectory() as folder:
        paths = generate(args.start, args.days, Path(folder), rows_per_day=args.rows_per_day, seed=args.seed)
        for path in paths:
            storage.put_landing(path)
        reports = generate_reports(args.start, args.days, Path(folder) / TLSRPT, seed=args.seed)
        for path in reports:
            storage.put_tlsrpt(path)
    print(f"wrote {len(paths)} exports to {storage.landing_location}, {len(reports)} SMTP TLS reports to "
          f"{storage.tlsrpt_landing_location}")
    return 0


POSTFIX_LINE_LABELS = {"lines_other_days": "of other days", "lines_other_programs": "of other programs",
                       "lines_blank": "blank", "deferred": "deferred",
                       "deliveries_not_counted": "final lines of other agents or statuses"}


def _postfix_lines(source: dict) -> str:
    """`mail.log: 74 lines; 1 of other days, 3 of other programs, 1 deferred`"""
    counts = source["lines"]
    details = [f"{counts[name]} {label}" for name, label in POSTFIX_LINE_LABELS.items() if counts.get(name)]
    return f"{source['file']}: {counts.get('lines', 0)} lines" + (f"; {', '.join(details)}" if details else "")


def cmd_ingest(args) -> int:
    from etl.errors import DataQualityError
    from etl.pipeline import aggregate, gate, ingest
    from etl.sources.detect import SourceOptions

    cfg = settings()
    defaults = SourceOptions.from_settings(cfg)
    options = SourceOptions(
        format=args.source or defaults.format,
        connectors=args.connectors or defaults.connectors,
        tls_logging=defaults.tls_logging and not args.no_tls_logging,
        timezone=args.log_timezone or defaults.timezone,
    )
    # the steps of pipeline.load_day, one by one so that the counts print before the gate's verdict
    result = ingest(cfg, args.date, args.files or None, options)
    aggregate(cfg, args.date)
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
    if not args.no_gate:
        try:
            gate(cfg, args.date)
        except DataQualityError as exc:
            raise DataQualityError(f"{exc} (the day is loaded; --no-gate skips this check)") from None
    return 0


def cmd_aggregate(args) -> int:
    from etl.pipeline import aggregate

    print(json.dumps(aggregate(settings(), args.date)))
    return 0


def cmd_check(args) -> int:
    from etl.pipeline import gate

    print(json.dumps(gate(settings(), args.date)))
    return 0


def cmd_report(args) -> int:
    from etl.pipeline import issue_report, plan_reports
    from etl.report.render import OUTPUT_NAMES, parse_formats
    from etl.report.request import ReportRequest

    formats = parse_formats(args.format)
    now = datetime.now(UTC)  # the command line's one clock: the default window and generated_at
    request = ReportRequest.resolve(today=now.date(), start=args.start, end=args.end, month=args.month,
                                    connector=args.connector, direction=args.direction)
    config = settings()
    jobs = [None]
    if args.subscriptions:
        if request.connector or request.direction:
            raise ReportError("--subscriptions issues the organisation's report and its subscriptions' own; "
                              "leave out --connector and --direction")
        cadence = request.cadence
        if cadence is None:
            raise ReportError("subscriptions are weekly (a Monday to Sunday) or monthly (--month); "
                              f"{request.start} to {request.end} is neither")
        jobs = plan_reports(config, request, cadence)
    for job in jobs:
        narrowed = ReportRequest.from_json(job["request"]) if job else request
        issued = issue_report(config, narrowed, now=now, archive=args.archive, send=args.send, reason=args.reason,
                              job=job)
        _print_outputs(config, issued, [OUTPUT_NAMES[fmt] for fmt in formats], args.out)
        label = f" ({narrowed.subscription})" if narrowed.subscription else ""
        print(f"{issued.report['title']} {request.start} to {request.end}{label}: {issued.report['headline']}",
              file=sys.stderr)
        if issued.revision is not None:
            print(f"archived {issued.revision.report_id} r{issued.revision.number}: {issued.revision.path}",
                  file=sys.stderr)
        if issued.receipt is not None and issued.receipt.get("skipped"):
            print(f"not mailed: {issued.receipt['skipped']}", file=sys.stderr)
        elif issued.receipt is not None:
            _print_receipt(issued.receipt)
    return 0


def _print_outputs(config, issued, names: list[str], out: Path | None) -> None:
    """Where each output is; with --out, copied there (a subscription's into a folder of its own)."""
    from etl.storage import Storage
    from etl.storage.local import write_bytes_atomic

    storage = Storage(config)
    subscription = issued.report["filters"]["subscription"]
    target = out / subscription if out is not None and subscription else out
    for name in names:
        key = issued.outputs[name]
        if target is None:
            print(storage.where(key))
            continue
        target.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target / name, storage.read_bytes(key))
        print(target / name)


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


def cmd_archive_list(args) -> int:
    from etl.delivery.archive import Archive
    from etl.storage import Storage

    archive = Archive(Storage(settings()))
    entries = archive.entries()
    sent = {(e["report_id"], e["revision"]) for e in entries if e["event"] == "sent"}
    rows = [{"report_id": e["report_id"], "revision": e["revision"], "created_at": e["created_at"],
             "reason": e["reason"], "supersedes": e["supersedes"],
             "path": str(archive.store.display(e["path"])), "sent": (e["report_id"], e["revision"]) in sent}
            for e in entries if e["event"] == "archived"]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['report_id']:<40} r{r['revision']:<3} {r['created_at']}  "
              f"{'sent' if r['sent'] else 'not sent':<9} {r['reason']}")
    return 0


def cmd_archive_show(args) -> int:
    from etl.delivery.archive import Archive
    from etl.storage import Storage

    archive = Archive(Storage(settings()))
    revision = archive.revision(args.report_id, args.rev)
    manifest = archive.manifest(revision)
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
        print(f"  {facts['sha256']}  {facts['bytes']:>9}  {revision.path}/{name}")
    return 0


def cmd_archive_verify(args) -> int:
    from etl.delivery.archive import Archive
    from etl.delivery.signing import load_public_key
    from etl.storage import Storage

    archive = Archive(Storage(settings()))
    public_key = None
    if args.public_key:
        try:
            public_key = load_public_key(args.public_key.read_bytes(), str(args.public_key))
        except OSError as exc:
            raise ConfigError(f"{args.public_key}: {exc.strerror}") from None
    problems = archive.verify(args.report_id, public_key)
    print(archive.signature_note(public_key), file=sys.stderr)
    if args.witness:
        witness_problems, witnessed = archive.verify_witnesses(args.witness)
        problems += witness_problems
        print(f"witnesses: {len(witnessed)} saved email{'s' if len(witnessed) != 1 else ''} agree with the index",
              file=sys.stderr)
    for problem in problems:
        print(problem)
    if problems:
        print(f"archive verify: {len(problems)} problem{'s' if len(problems) > 1 else ''}", file=sys.stderr)
        return 1
    print("archive verify: intact", file=sys.stderr)
    return 0


def cmd_archive_export(args) -> int:
    from etl.delivery.archive import Archive
    from etl.delivery.evidence import export_bundle
    from etl.storage import Storage
    from etl.storage.local import write_bytes_atomic

    archive = Archive(Storage(settings()))
    revision = archive.revision(args.report_id, args.rev)
    write_bytes_atomic(args.out, export_bundle(archive, revision))
    print(f"{revision.report_id} r{revision.number}: evidence bundle {args.out} (unzip it and follow VERIFY.txt)")
    return 0


def cmd_archive_prune(args) -> int:
    from etl.delivery.archive import Archive
    from etl.delivery.archive_index import refresh_index_page
    from etl.storage import Storage

    archive = Archive(Storage(settings()))
    if not args.yes:
        for entry in archive.prunable(args.before):
            print(f"would prune {entry['report_id']} r{entry['revision']} (archived {entry['created_at']})")
        print("archive prune: nothing removed; --yes removes them", file=sys.stderr)
        return 0
    done = archive.prune(args.before, datetime.now(UTC))
    refresh_index_page(archive)
    for line in done:
        print(line)
    print(f"archive prune: {len(done)} revision{'s' if len(done) != 1 else ''} pruned; their index lines and "
          "manifest hashes stay", file=sys.stderr)
    return 0


def cmd_archive_keygen(args) -> int:
    from etl.delivery.signing import fingerprint, generate_key, public_pem

    try:
        public_key = generate_key(args.out)
    except FileExistsError:
        raise ConfigError(f"{args.out} exists; a signing key is never overwritten") from None
    public = args.out.with_name(args.out.name + ".pub")
    public.write_bytes(public_pem(public_key))
    print(f"private key {args.out} (set MAILFLOW_SIGNING_KEY to it; keep it out of the archive and backups "
          f"auditors' opponents can reach)\npublic key  {public}  {fingerprint(public_key)}\n"
          "give auditors the public key through another channel than the archive")
    return 0


def cmd_archive_reproduce(args) -> int:
    from etl.pipeline import reproduce_report

    result = reproduce_report(settings(), args.report_id, args.rev)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        tables = ", ".join(f"{name}@{snapshot}" for name, snapshot in sorted(result["tables"].items()))
        print(f"{result['report_id']} r{result['revision']}: recomputed from {tables}")
        verdict = "matches" if result["matches"] else "DIFFERS from"
        print(f"content sha256 {result['content_sha256']} {verdict} the archived {result['archived_content_sha256']}"
              + ("; report.json is byte-identical" if result["report_json_identical"] else ""))
        if not result["matches"]:
            print(f"differs in: {', '.join(result['differences'])}")
    return 0 if result["matches"] else 1


def cmd_archive_repair(args) -> int:
    from etl.delivery.archive import Archive
    from etl.delivery.archive_index import INDEX_PAGE, index_page
    from etl.storage import Storage

    archive = Archive(Storage(settings()))
    done = archive.repair()
    archive.store.write_file(INDEX_PAGE, index_page(archive))
    for action in done:
        print(action)
    print("archive repair: nothing to do" if not done else
          f"archive repair: {len(done)} done; now run `mailflow archive verify`", file=sys.stderr)
    return 0


def cmd_lake_expire(args) -> int:
    from etl.ops.maintenance import expire_snapshots

    done = expire_snapshots(settings(), args.keep_days, datetime.now(UTC))
    if args.json:
        print(json.dumps(done, indent=2))
        return 0
    for table, counts in done.items():
        print(f"{table:<26} {counts['snapshots_expired']:>6} snapshots expired "
              f"{counts['files_deleted']:>6} files deleted")
    return 0


def cmd_quarantine(args) -> int:
    import csv

    from etl.report.csv_views import neutralise
    from etl.storage import QUARANTINE, Storage

    rows = Storage(settings()).lake.read(QUARANTINE, args.date, args.date).sort_by(
        [("source_file", "ascending"), ("source_line", "ascending")]).to_pylist()
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["source_file", "source_line", "reason", "raw"])
    for row in rows[:args.limit] if args.limit else rows:
        # the raw text is the export's, as read: neutralised like every CSV we write
        writer.writerow([neutralise(row["source_file"]), row["source_line"], row["reason"], neutralise(row["raw"])])
    print(f"{len(rows)} record{'s' if len(rows) != 1 else ''} quarantined on {args.date}", file=sys.stderr)
    return 0


def cmd_tlsrpt_ingest(args) -> int:
    from dataclasses import asdict

    from etl.pipeline import ingest_tlsrpt

    result = ingest_tlsrpt(settings(), args.files or None)
    if args.json:
        print(json.dumps(asdict(result)))
        return 0
    print(f"TLS reports: read {result.reports_read}, loaded {result.reports_loaded}, quarantined "
          f"{result.reports_quarantined}, duplicates {result.duplicates}; days replaced "
          f"{len(result.days_loaded)}, unchanged {len(result.days_unchanged)}")
    for reason, count in sorted(result.quarantine_reasons.items()):
        print(f"quarantined: {count} x {reason}", file=sys.stderr)
    return 0


def cmd_status(args) -> int:
    from etl.ops.status import status
    from etl.shares import format_pct

    state = status(settings())
    if args.json:
        print(json.dumps(state, indent=2, default=str))
        return 0
    if args.date:
        return _print_load(state, args.date.isoformat())
    print(f"{'date':<12}{'read':>10}{'loaded':>10}{'quarantined':>13}{'share':>8}{'duplicates':>12}{'messages':>10}")
    for d in state["days"]:
        print(f"{d['date']:<12}{d['rows_read']:>10}{d['rows_loaded']:>10}{d['rows_quarantined']:>13}"
              f"{format_pct(d['quarantined_pct']):>8}{d['duplicates_removed']:>12}{d['messages']:>10}")
    for m in state["missing"]:
        waiting = "  (export waiting in the landing folder)" if m["export_waiting"] else ""
        print(f"missing   {m['date']}{waiting}")
    for d in state["changed_since_load"]:
        print(f"changed   {d}  (its export differs from what was loaded: run backfill for it)")
    for d in state["inconsistent"]:
        print(f"inconsistent {d['date']}  ({d['problem']}: run `mailflow backfill --from {d['date']} "
              f"--to {d['date']}`)")
    for r in state["stale_reports"]:
        print(f"stale     {r['report_id']} r{r['revision']}  (inputs changed: {', '.join(r['changed_days'])})")
    return 0


def _print_load(state: dict, day: str) -> int:
    """One day's load record: its counts, reasons, warnings and the exports it read."""
    (found,) = [d for d in state["days"] if d["date"] == day] or [None]
    if found is None or found["load"] is None:
        raise MailflowError(f"{day} is not loaded")
    load = found["load"]
    print(f"{day}  load {load['load_id']} at {load['loaded_at']}: read {found['rows_read']}, loaded "
          f"{found['rows_loaded']}, quarantined {found['rows_quarantined']}, duplicates removed "
          f"{found['duplicates_removed']}, messages {found['messages']}")
    for reason, rows in load["quarantine_reasons"].items():
        print(f"  quarantined {reason}: {rows}")
    for warning, rows in load["warnings"].items():
        print(f"  warning {warning}: {rows}")
    for source in load["sources"]:
        print(f"  source {source['file']}  sha256 {source['sha256']}  {source['bytes']} bytes, "
              f"{source['records']} records")
    return 0


def cmd_backfill(args) -> int:
    """The backfill with a progress bar on stderr: days done, and rows read per second."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from etl.ops.backfill import backfill

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

        result = backfill(settings(), args.start, args.end, reports=args.reports or args.send, send=args.send,
                          force=args.force, on_day=on_day)
    print(json.dumps(dict(result.__dict__), indent=2))
    return 1 if result.failed else 0


def cmd_bench(args) -> int:
    from etl.devtools.bench import bench_hostile, bench_ingest, bench_postfix, bench_report, parse_variants

    if args.workdir is not None:  # a scratch folder of the user's choosing: made if it is not there yet
        args.workdir.mkdir(parents=True, exist_ok=True)
    if args.what == "postfix":
        return bench_postfix(args.messages, args.workdir, against_pflogsumm=args.vs == "pflogsumm")
    if args.what == "hostile":
        return bench_hostile(args.workdir)
    if args.what == "report":
        return bench_report(args.days, args.workdir, s3_storage=args.s3)
    return bench_ingest(args.rows, args.workdir, variants=parse_variants(args.variants), s3_storage=args.s3)


# -- the parser ----------------------------------------------------------------------------

def _command(commands, name: str, handler: Callable, help_text: str, examples: str):
    parser = commands.add_parser(name, help=help_text, description=help_text,
                                 epilog="example:\n  " + examples.replace("\n", "\n  "),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Mail-flow TLS compliance pipeline",
                                     epilog="commands:\n" + __doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sample = _command(commands, "sample", cmd_sample, "write realistic sample trace exports and SMTP TLS reports",
                      f"{PROG} sample --start 2026-11-09 --days 14 --out data/landing")
    sample.add_argument("--start", type=_day, required=True)
    sample.add_argument("--days", type=_positive, default=14)
    sample.add_argument("--out", type=Path, help="a folder (default: the landing folder or prefix)")
    sample.add_argument("--rows-per-day", type=_positive, default=2000, help="weekday volume (weekends ~30%%)")
    sample.add_argument("--seed", type=int, default=42)

    ingest = _command(commands, "ingest", cmd_ingest,
                      "load one UTC day into the lake and the warehouse, then apply the quality gate",
                      f"{PROG} ingest --date 2026-11-20                      # the landing folder's exports\n"
                      f"{PROG} ingest --date 2026-11-20 mail.log mail.log.1.gz --connectors connectors.toml")
    ingest.add_argument("--date", type=_day, required=True)
    ingest.add_argument("--json", action="store_true", help="print the load counts as JSON")
    ingest.add_argument("files", nargs="*", type=Path, help="exports to load (default: the landing folder's)")
    ingest.add_argument("--source", choices=SOURCE_FORMATS, default=None,
                        help="what the files are: csv (trace exports, Exchange's too), postfix (mail logs) or "
                             "auto, detected per file (default: $MAILFLOW_SOURCE or auto)")
    ingest.add_argument("--connectors", type=Path, default=None,
                        help="connector rules (TOML) for Postfix logs (default: $MAILFLOW_CONNECTORS or "
                             "$MAILFLOW_HOME/connectors.toml)")
    ingest.add_argument("--no-tls-logging", action="store_true",
                        help="Postfix does not log TLS sessions: a missing TLS line means unknown, not none")
    ingest.add_argument("--log-timezone", default=None,
                        help="time zone of classic syslog timestamps (default: $MAILFLOW_LOG_TIMEZONE or UTC)")
    ingest.add_argument("--no-gate", action="store_true",
                        help="skip the data-quality gate (MAILFLOW_MAX_QUARANTINED_PCT) that the daily DAG applies")

    aggregate = _command(commands, "aggregate", cmd_aggregate,
                         "rebuild one day of warehouse aggregates from the lake",
                         f"{PROG} aggregate --date 2026-11-20")
    aggregate.add_argument("--date", type=_day, required=True)

    check = _command(commands, "check", cmd_check, "data-quality gate for one loaded day",
                     f"{PROG} check --date 2026-11-20")
    check.add_argument("--date", type=_day, required=True)

    report = _command(commands, "report", cmd_report,
                      "the mail flow & TLS report for a window of days (default: last Monday to Sunday)",
                      f"{PROG} report --out out/                                  # last week\n"
                      f"{PROG} report --from 2026-11-16 --to 2026-11-22 --archive --send\n"
                      f"{PROG} report --month 2026-11 --archive                   # a calendar month\n"
                      f"{PROG} report --from 2026-11-16 --connector 'Partner Northwind Legacy' --format html")
    report.add_argument("--from", dest="start", type=_day,
                        help="first UTC day (alone: a 7-day window from it; default: the previous Monday)")
    report.add_argument("--to", dest="end", type=_day,
                        help="last UTC day (alone: the 7 days ending there; default: the previous Sunday)")
    report.add_argument("--month", metavar="YYYY-MM",
                        help="a calendar month, compared with the month before (archived as e.g. 2026-11)")
    report.add_argument("--connector", help="only this connector")
    report.add_argument("--direction", choices=["inbound", "outbound"])
    report.add_argument("--out", type=Path,
                        help="also copy the outputs here (they are always in $MAILFLOW_HOME/reports/<window>/)")
    report.add_argument("--format", default="html,email,txt,json",
                        help="outputs to print (and copy to --out), comma-separated: html,email,txt,json")
    report.add_argument("--subscriptions", action="store_true",
                        help="also one report per subscription of the window's cadence (weekly or monthly), as "
                             "the scheduled DAG runs do ($MAILFLOW_HOME/subscriptions.toml)")
    report.add_argument("--archive", action="store_true", help="archive this run as a new revision")
    report.add_argument("--send", action="store_true", help="mail the archived revision (implies --archive)")
    report.add_argument("--reason", help="why this revision exists (e.g. 'late data'); recorded in the index")

    archive = commands.add_parser("archive", help="the report archive, for auditors",
                                  description="the report archive, for auditors")
    archive_commands = archive.add_subparsers(dest="archive_command", required=True, metavar="COMMAND")
    archive_list = _command(archive_commands, "list", cmd_archive_list, "every archived report and revision",
                            f"{PROG} archive list --json")
    archive_list.add_argument("--json", action="store_true")
    archive_show = _command(archive_commands, "show", cmd_archive_show, "a revision's files and manifest summary",
                            f"{PROG} archive show 2026-W47 --rev 2")
    archive_show.add_argument("report_id", help="e.g. 2026-W47, or adhoc/2026-11-10_2026-11-12")
    archive_show.add_argument("--rev", type=_positive, help="revision number (default: the latest)")
    archive_verify = _command(archive_commands, "verify", cmd_archive_verify,
                              "re-hash every file and the index chain; check saved emails as witnesses",
                              f"{PROG} archive verify --witness ~/mail/mailflow-2026-Q3.eml")
    archive_verify.add_argument("report_id", nargs="?", help="only this report (the chain is always checked)")
    archive_verify.add_argument("--public-key", type=Path, metavar="PEM",
                                help="check every signature with this public key (a copy kept outside the archive); "
                                     "anything unsigned is then a problem too")
    archive_verify.add_argument("--witness", nargs="+", type=Path, metavar="EML",
                                help="saved report emails (.eml files or folders of them): each one's chain head "
                                     "must still be in the index, or its history was rewritten")
    archive_export = _command(archive_commands, "export", cmd_archive_export,
                              "an evidence bundle of one revision (zip): its files, the index up to it, the public "
                              "key, and VERIFY.txt, which checks it all with standard tools",
                              f"{PROG} archive export 2026-W47 --rev 1 --out 2026-W47-r1.zip")
    archive_export.add_argument("report_id", help="e.g. 2026-W47, or adhoc/2026-11-10_2026-11-12")
    archive_export.add_argument("--rev", type=_positive, help="revision number (default: the latest)")
    archive_export.add_argument("--out", type=Path, required=True, help="the zip file to write")
    archive_prune = _command(archive_commands, "prune", cmd_archive_prune,
                             "remove revisions archived before a date (retention; default: never): each leaves a "
                             "pruned line in the index with its manifest's SHA-256",
                             f"{PROG} archive prune --before 2020-01-01 --yes")
    archive_prune.add_argument("--before", type=_day, required=True, help="revisions archived before this UTC day")
    archive_prune.add_argument("--yes", action="store_true", help="remove them (without it: list them only)")
    archive_keygen = _command(archive_commands, "keygen", cmd_archive_keygen,
                              "make an Ed25519 key to sign the archive with (MAILFLOW_SIGNING_KEY)",
                              f"{PROG} archive keygen --out /etc/mailflow/archive-signing.pem")
    archive_keygen.add_argument("--out", type=Path, required=True, help="the private key file to write (mode 600)")
    archive_reproduce = _command(archive_commands, "reproduce", cmd_archive_reproduce,
                                 "recompute a revision from the lake snapshots it was read from and compare",
                                 f"{PROG} archive reproduce 2026-W47 --rev 1")
    archive_reproduce.add_argument("report_id", help="e.g. 2026-W47, or adhoc/2026-11-10_2026-11-12")
    archive_reproduce.add_argument("--rev", type=_positive, help="revision number (default: the latest)")
    archive_reproduce.add_argument("--json", action="store_true")
    _command(archive_commands, "repair", cmd_archive_repair,
             "finish what a crashed writer left half done (a revision without its index line, a receipt "
             "without its sent line, the index's end not anchored) and write index.html again",
             f"{PROG} archive repair")

    quarantine = _command(commands, "quarantine", cmd_quarantine,
                          "the records a day's load refused, with file, line, reason and text (CSV)",
                          f"{PROG} quarantine --date 2026-11-09 --limit 20")
    quarantine.add_argument("--date", type=_day, required=True)
    quarantine.add_argument("--limit", type=_positive, help="at most this many records")

    tlsrpt = commands.add_parser("tlsrpt", help="SMTP TLS reports (RFC 8460) received from other domains",
                                 description="SMTP TLS reports (RFC 8460) received from other domains")
    tlsrpt_commands = tlsrpt.add_subparsers(dest="tlsrpt_command", required=True, metavar="COMMAND")
    tlsrpt_ingest = _command(tlsrpt_commands, "ingest", cmd_tlsrpt_ingest,
                             "drop reports (.json, .json.gz, .zip, .eml, mbox files, maildir folders) into the "
                             "landing folder's tlsrpt/, then load every day whose reports changed",
                             f"{PROG} tlsrpt ingest                        # what the landing folder holds\n"
                             f"{PROG} tlsrpt ingest ~/Maildir/.TLS-reports 'google.com!example.com!1763683200!"
                             "1763769599!001.json.gz'")
    tlsrpt_ingest.add_argument("files", nargs="*", type=Path,
                               help="report files, mail, mbox files or maildir folders (default: none; the landing "
                                    "folder's reports are loaded either way)")
    tlsrpt_ingest.add_argument("--json", action="store_true", help="print the load counts as JSON")

    lake = commands.add_parser("lake", help="the lake's tables: maintenance", description="the lake's tables")
    lake_commands = lake.add_subparsers(dest="lake_command", required=True, metavar="COMMAND")
    lake_expire = _command(lake_commands, "expire", cmd_lake_expire,
                           "expire old table snapshots and delete the files only they referenced (the "
                           "snapshots archived reports were read from are kept)", f"{PROG} lake expire --keep-days 30")
    lake_expire.add_argument("--keep-days", type=int, default=30, help="keep snapshots younger than this (30)")
    lake_expire.add_argument("--json", action="store_true")

    status = _command(commands, "status", cmd_status, "days loaded, missing, changed; reports gone stale",
                      f"{PROG} status --json")
    status.add_argument("--json", action="store_true")
    status.add_argument("--date", type=_day, help="one day's load record: counts, reasons, warnings, exports")

    backfill = _command(commands, "backfill", cmd_backfill,
                        "load a range of days, then re-issue the weeks touched",
                        f"{PROG} backfill --from 2026-11-01 --to 2026-11-30 --reports")
    backfill.add_argument("--from", dest="start", type=_day, required=True)
    backfill.add_argument("--to", dest="end", type=_day, required=True)
    backfill.add_argument("--reports", action="store_true", help="archive the weekly report of every week touched")
    backfill.add_argument("--send", action="store_true", help="and mail them (implies --reports)")
    backfill.add_argument("--force", action="store_true", help="reload days whose exports did not change")

    bench = _command(commands, "bench", cmd_bench, "benchmarks",
                     f"{PROG} bench ingest --rows 1000000,5000000,20000000\n"
                     f"{PROG} bench postfix --messages 200000 --vs pflogsumm\n"
                     f"{PROG} bench hostile                      # huge lines, garbage lines, a gzip bomb\n"
                     f"{PROG} bench report --days 366 [--s3 s3://bucket/prefix]")
    bench.add_argument("what", choices=["ingest", "postfix", "hostile", "report"])
    bench.add_argument("--days", type=_positive, default=366, help="report: days in the window")
    bench.add_argument("--rows", type=_positive_list, default=[1_000_000],
                       help="ingest: rows in the export; several (1000000,5000000,20000000) show the cost per row")
    bench.add_argument("--messages", type=_positive, default=500_000,
                       help="postfix: messages in the log (200000 make about 1,500,000 lines)")
    bench.add_argument("--vs", choices=["pflogsumm"], help="postfix: also time Debian's pflogsumm on the same log "
                                                          "(installed with apt-get if missing)")
    bench.add_argument("--workdir", type=Path, default=None)
    bench.add_argument("--s3", metavar="URL", help="ingest: also into tables on this store; report: read from it "
                                                   "(s3://bucket/prefix; AWS_ENDPOINT_URL and the credentials from "
                                                   "the environment)")
    bench.add_argument("--variants", default="utf-8,utf-16,gzip",
                       help="comma-separated: utf-8 (against DuckDB's copy), utf-16, gzip (against utf-8)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except MailflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mailflow archive list | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # a bug or the machine (disk full, ...): still one line, unless asked
        if os.environ.get("MAILFLOW_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc}".splitlines()[0]
              + " (set MAILFLOW_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1

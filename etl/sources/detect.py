"""Which reader takes which file: CSV trace exports (the contract, and Exchange's own) or
Postfix mail logs, chosen per file by `--source`, `auto` by default.

Every reader gives the same thing: batches of contract records with their line numbers,
plus rejects; so the checks, the lake and the reports do not care where records came from.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from etl.config import Settings
from etl.contract import COLUMN_ALIASES, header_key
from etl.errors import ConfigError, ExportError
from etl.sources.connectors import load_rules
from etl.sources.csv_reader import POWERSHELL_TYPE_LINE, CsvReader
from etl.sources.files import SourceReader, read_head
from etl.sources.postfix_log import SYSLOG_LINE, PostfixTracker, first_time, is_postfix_program
from etl.sources.postfix_reader import PostfixReader

FORMATS = ("auto", "csv", "postfix")
KNOWN_HEADERS = {header_key(alias) for aliases in COLUMN_ALIASES.values() for alias in aliases}


@dataclass(frozen=True)
class SourceOptions:
    format: str = "auto"
    connectors: Path | None = None  # connector rules for Postfix logs
    tls_logging: bool = True  # Postfix logs TLS sessions (smtpd/smtp_tls_loglevel >= 1)
    timezone: str = "UTC"  # of classic syslog timestamps

    @classmethod
    def from_settings(cls, settings: Settings) -> SourceOptions:
        return cls(settings.source_format, settings.connectors_file, settings.postfix_tls_logging,
                   settings.log_timezone)

    def tz(self):
        try:
            return UTC if self.timezone.upper() == "UTC" else ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {self.timezone!r} (expected an IANA name, e.g. Europe/Berlin)"
                             ) from None


def detect_format(path: Path, head: str | None = None) -> str:
    """`csv` or `postfix` from the start of the file (`head`, read when not given); a file that is
    neither is one clear error."""
    head = read_head(path) if head is None else head
    if not head.strip():
        raise ExportError(f"{path.name}: empty file, expected a CSV header line or Postfix log lines")
    if not looks_like_text(head):
        raise ExportError(f"{path.name}: not a recognised export: binary data, not text")
    if "\n" not in head and "\r" in head.rstrip("\r"):  # a line ends in CR, and another follows it
        raise ExportError(f"{path.name}: not a recognised export: its lines end in a carriage return alone "
                          "(old Mac line ends); save it with LF or CRLF line ends")
    lines = head.splitlines()[:200]
    syslog = [m for m in (SYSLOG_LINE.fullmatch(line) for line in lines) if m]
    if any(is_postfix_program(m["program"]) for m in syslog):
        return "postfix"
    if head[:len(POWERSHELL_TYPE_LINE)].upper() == POWERSHELL_TYPE_LINE.decode():
        return "csv"  # PowerShell's Export-Csv
    try:
        header = next(csv.reader(io.StringIO(head.partition("\n")[0].rstrip("\r"))), [])
    except csv.Error:
        header = []
    if any(header_key(name) in KNOWN_HEADERS for name in header):
        return "csv"  # the CSV reader says which required column is missing, if any
    if syslog:
        raise ExportError(f"{path.name}: a syslog file with no Postfix line in its first 64 KiB; "
                          "if it is a Postfix mail log, load it with --source postfix")
    raise ExportError(f"{path.name}: not a recognised export: expected a CSV trace export whose header names "
                      "Received, SenderAddress, RecipientAddress and Direction (or Exchange's names for them), "
                      "or a Postfix mail log (syslog lines of postfix/smtpd, postfix/qmgr, ...)")


def looks_like_text(head: str) -> bool:
    """Text has few control characters (a stray NUL in a field is the record's problem, quarantined
    with it); an executable, an image or an archive has them everywhere."""
    controls = sum(1 for ch in head if (ord(ch) < 0x20 and ch not in "\t\r\n\f") or ch == "\ufffd")
    return controls <= max(16, len(head) // 50)


def open_readers(files: list[Path], day: date, options: SourceOptions) -> list[SourceReader]:
    """One reader per file, Postfix logs oldest first and sharing one tracker."""
    if options.format not in FORMATS:
        raise ConfigError(f"unknown source {options.format!r} (expected one of {', '.join(FORMATS)})")
    heads = {path: read_head(path) for path in files} if options.format != "csv" else {}
    formats = {path: options.format if options.format != "auto" else detect_format(path, heads[path])
               for path in files}
    logs = [path for path in files if formats[path] == "postfix"]
    readers: list[SourceReader] = [CsvReader(path) for path in files if formats[path] == "csv"]
    if logs:
        tz = options.tz()
        tracker = PostfixTracker(day, load_rules(options.connectors), options.tls_logging, tz)
        far_future = datetime.max.replace(tzinfo=UTC)
        logs.sort(key=lambda path: (first_time(heads[path], day, tz) or far_future, path.name))
        readers += [PostfixReader(path, tracker) for path in logs]
    return readers

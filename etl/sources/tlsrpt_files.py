"""SMTP TLS reports (RFC 8460) as they are received: the report documents inside files and mail.

Told apart by content, not by name: a gzip or a zip archive (one JSON document inside), a JSON
document, a mail message (.eml, or one of a maildir folder or an mbox file) whose report is a
MIME part of type application/tlsrpt+gzip or application/tlsrpt+json, or an attachment named
like a report (google.com!example.com!1763683200!1763769599!001.json.gz). Every report found is
a Payload naming where it came from; a file or a part that holds none is a Refusal with the
reason. Nothing here raises on bad input.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import mailbox
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

GZIP_MAGIC, ZIP_MAGIC = b"\x1f\x8b", b"PK\x03\x04"
REPORT_TYPES = ("application/tlsrpt+gzip", "application/tlsrpt+json")
REPORT_NAME_ENDINGS = (".json", ".json.gz", ".gz", ".zip")
# A report of a busy domain is some kilobytes; anything that inflates past this is not one (a bomb).
MAX_REPORT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Payload:
    """One report document: its bytes, the file it came in and that file's SHA-256."""

    source: str  # the file, and where inside it: "inbox.mbox: message 3: part report.json.gz"
    file_sha256: str
    data: bytes
    landed: date | None = None  # the UTC day the file was last written (where it waits to be read)


@dataclass(frozen=True)
class Refusal:
    source: str
    file_sha256: str
    reason: str
    landed: date | None = None
    day: date | None = None  # the day the refused report's own date-range gives, when it can be read


def read_reports(paths: list[Path]) -> Iterator[Payload | Refusal]:
    """Every report in the files, maildir folders and other folders given, in name order."""
    for path in paths:
        if path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir():
            for name in ("new", "cur"):
                for message in sorted(p for p in (path / name).iterdir() if p.is_file()):
                    yield from _file(message, f"{path.name}/{name}/{message.name}")
        elif path.is_dir():
            yield from read_reports(sorted(p for p in path.iterdir() if not p.name.startswith(".")))
        else:
            yield from _file(path, path.name)


def _file(path: Path, label: str) -> Iterator[Payload | Refusal]:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    landed = datetime.fromtimestamp(path.stat().st_mtime, UTC).date()
    if data.startswith(b"From "):
        found = _mbox(path, label, digest)
    elif _looks_like_mail(data):
        found = _message(email.message_from_bytes(data, policy=email.policy.default), label, digest)
    else:
        found = iter([_document(data, label, digest)])
    for item in found:
        yield replace(item, landed=landed)


def _mbox(path: Path, label: str, digest: str) -> Iterator[Payload | Refusal]:
    box = mailbox.mbox(path, factory=None, create=False)
    try:
        for number, key in enumerate(box.keys(), 1):
            message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            yield from _message(message, f"{label}: message {number}", digest)
    finally:
        box.close()


def _looks_like_mail(data: bytes) -> bool:
    """Header lines before a blank line, one of them a header every message has."""
    head = data[:8192].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0].lower()
    return data[:1] not in (b"{", b"[") and any(
        line.startswith(name) for line in head.splitlines() for name in (b"from:", b"content-type:", b"mime-version:"))


def _message(message, label: str, digest: str) -> Iterator[Payload | Refusal]:
    found = False
    for part in message.walk():
        if part.is_multipart():
            continue
        name = part.get_filename() or ""
        if part.get_content_type() in REPORT_TYPES or name.lower().endswith(REPORT_NAME_ENDINGS):
            found = True
            payload = part.get_payload(decode=True) or b""
            yield _document(payload, f"{label}: part {name or part.get_content_type()}", digest)
    if not found:
        yield Refusal(label, digest, "a mail message without a TLS report part (application/tlsrpt+gzip or "
                                     "application/tlsrpt+json, or an attachment named like a report)")


def _document(data: bytes, label: str, digest: str) -> Payload | Refusal:
    """The JSON document a gzip or zip archive holds, or the bytes themselves."""
    try:
        if data.startswith(GZIP_MAGIC):
            data = _gunzip(data)
        elif data.startswith(ZIP_MAGIC):
            data = _unzip(data)
    except ValueError as exc:
        return Refusal(label, digest, str(exc))
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return Refusal(label, digest, "not a TLS report: neither JSON, gzip, zip nor a mail message")
    return Payload(label, digest, data)


def _gunzip(data: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_REPORT_BYTES + 1)
    except zlib.error as exc:
        raise ValueError(f"a damaged gzip file: {exc}") from None
    if len(out) > MAX_REPORT_BYTES:
        raise ValueError(f"inflates past {MAX_REPORT_BYTES // 1024 // 1024} MiB: not a TLS report")
    if not inflater.eof:
        raise ValueError("a gzip file cut short")
    if inflater.unused_data.startswith(GZIP_MAGIC):  # concatenated members: read them all, still bounded
        return out + _gunzip(inflater.unused_data)
    return out


def _unzip(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise ValueError(f"a zip file with {len(members)} files; a TLS report zip holds one")
            if members[0].file_size > MAX_REPORT_BYTES:
                raise ValueError(f"inflates past {MAX_REPORT_BYTES // 1024 // 1024} MiB: not a TLS report")
            with archive.open(members[0]) as member:
                out = member.read(MAX_REPORT_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"a damaged zip file: {exc}") from None
    if len(out) > MAX_REPORT_BYTES:
        raise ValueError(f"inflates past {MAX_REPORT_BYTES // 1024 // 1024} MiB: not a TLS report")
    if out.startswith(GZIP_MAGIC):
        return _gunzip(out)
    return out


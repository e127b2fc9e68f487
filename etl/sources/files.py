"""Open an export file of any kind as a stream of UTF-8 bytes, hashing the file as it is read.

Shared by every source (CSV exports, Postfix logs) and by format detection:
- gzip is undone when the name ends in .gz;
- the encoding is taken from a byte-order mark (UTF-8, UTF-16 LE/BE), or, with none, from
  the byte pattern: text in UTF-16 without a BOM (as Exchange historical-search files often
  come) has a zero byte in every other position, which UTF-8 text never has;
- UTF-16 is transcoded to UTF-8 on the fly, newlines and all, so line numbers hold.
The SHA-256 and size are of the file's own bytes, as stored.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from etl.errors import ExportError

UTF8_BOM = codecs.BOM_UTF8
SNIFF_BYTES = 64 * 1024
# A gzipped export that inflates past this many times its own size, beyond GZIP_RATIO_FLOOR bytes,
# is not an export but a decompression bomb (trace exports compress 5 to 20 times).
GZIP_RATIO_LIMIT = 100
GZIP_RATIO_FLOOR = 64 * 1024 * 1024




# A record (a CSV record, a log line) longer than this is quarantined as record_too_long and never
# held whole: a trace record is a few hundred bytes, a syslog line at most a few KiB; a 1 MB field
# still loads. The quarantine keeps the first RAW_SAMPLE_BYTES of a rejected record's text.
MAX_RECORD_BYTES = 1024 * 1024 + 64 * 1024
RAW_SAMPLE_BYTES = 64 * 1024


def cut_raw(raw: str, length: int | None = None) -> str:
    """Quarantine text of at most RAW_SAMPLE_BYTES characters; when cut, the record's true length
    (in bytes, its line end not counted) is noted."""
    if len(raw) <= RAW_SAMPLE_BYTES and length is None:
        return raw
    true_length = length if length is not None else len(raw.encode("utf-8", "surrogateescape"))
    return raw[:RAW_SAMPLE_BYTES] + f" [... cut: the record is {true_length:,} bytes]"


@dataclass(frozen=True)
class Reject:
    source_file: str
    source_line: int
    reason: str
    raw: str


@dataclass
class Batch:
    """Records as contract columns of text plus `source_line`; and the rejected records of
    the same stretch of the file."""

    table: pa.Table
    rejects: list[Reject] = field(default_factory=list)


def detect_encoding(head: bytes) -> tuple[str, int]:
    """(codec name, length of the byte-order mark) from the first bytes of a file."""
    if head.startswith(UTF8_BOM):
        return "utf-8", len(UTF8_BOM)
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    # the first line is a header (or a log's syslog prefix): ASCII even where the data is not, so in
    # UTF-16 the high byte of nearly every code unit of it is zero
    newline = head.find(b"\n", 0, 1024)
    sample = head[:newline + 2 if newline >= 0 else 1024]
    pairs = len(sample) // 2
    if pairs:
        zeros_even, zeros_odd = sample[0:pairs * 2:2].count(0), sample[1:pairs * 2:2].count(0)
        if zeros_odd >= 0.6 * pairs and zeros_even <= 0.05 * pairs:
            return "utf-16-le", 0
        if zeros_even >= 0.6 * pairs and zeros_odd <= 0.05 * pairs:
            return "utf-16-be", 0
    return "utf-8", 0


class _HashingReader(io.RawIOBase):
    """Hashes the bytes of the file as they are read, so the file is read only once."""

    def __init__(self, raw):
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        if n:
            self.sha256.update(memoryview(buffer)[:n])
            self.size += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class _InflateGuard:
    """Stops reading a gzip stream whose output grows out of all proportion to its input."""

    def __init__(self, stream, hasher: _HashingReader, name: str):
        self._stream = stream
        self._hasher = hasher
        self._name = name
        self.inflated = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.inflated += len(data)
        if self.inflated > GZIP_RATIO_FLOOR and self.inflated > GZIP_RATIO_LIMIT * self._hasher.size:
            raise ExportError(f"{self._name}: inflates to more than {GZIP_RATIO_LIMIT} times its size "
                              f"({self.inflated >> 20} MiB from {self._hasher.size >> 20} MiB read), a decompression "
                              "bomb, not an export; stopped")
        return data


class _Utf16ToUtf8:
    """A read()-able stream of UTF-8 bytes from a stream of UTF-16 ones."""

    def __init__(self, stream, encoding: str, name: str):
        self._stream = stream
        # a lone surrogate passes through and then fails UTF-8 validation: that record is quarantined
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="surrogatepass")
        self._name = name
        self._done = False

    def read(self, size: int) -> bytes:
        while not self._done:
            raw = self._stream.read(size)
            try:
                text = self._decoder.decode(raw, final=not raw)
            except UnicodeDecodeError:
                raise ExportError(f"{self._name}: ends inside a UTF-16 character (odd number of bytes)") from None
            self._done = not raw
            if text:
                return text.encode("utf-8", "surrogatepass")
        return b""


class _Prefixed:
    """A stream whose first bytes were already read to detect the encoding."""

    def __init__(self, head: bytes, stream):
        self._head = head
        self._stream = stream

    def read(self, size: int) -> bytes:
        if self._head:
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._stream.read(size)


class ExportStream:
    """An open export: `read(n)` gives UTF-8 bytes (no BOM); `encoding` is the file's own.
    Read errors and bad gzip data become one-line ExportErrors naming the file."""

    def __init__(self, path: Path):
        self.name = path.name
        self._hasher = _HashingReader(self._guard(open, path, "rb", buffering=0))
        self._raw = io.BufferedReader(self._hasher, buffer_size=1 << 20)
        compressed = (_InflateGuard(gzip.GzipFile(fileobj=self._raw, mode="rb"), self._hasher, self.name)
                      if path.name.endswith(".gz") else self._raw)
        try:
            head = self._guard(compressed.read, SNIFF_BYTES)
        except ExportError:
            self._raw.close()
            raise
        self.encoding, bom = detect_encoding(head)
        self._stream = _Prefixed(head[bom:], compressed)
        if self.encoding != "utf-8":
            self._stream = _Utf16ToUtf8(self._stream, self.encoding, self.name)

    def _guard(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise ExportError(f"{self.name}: truncated or corrupt gzip data ({exc})") from None
        except OSError as exc:
            raise ExportError(f"{self.name}: cannot read ({exc.strerror or exc})") from None

    def read(self, size: int) -> bytes:
        return self._guard(self._stream.read, size)

    def finish(self) -> None:
        """Read the rest of the file, so that the hash covers all of it."""
        while self._guard(self._raw.read, 1 << 20):
            pass

    def close(self) -> None:
        self._raw.close()

    @property
    def sha256(self) -> str:
        return self._hasher.sha256.hexdigest()

    @property
    def size(self) -> int:
        return self._hasher.size


@contextlib.contextmanager
def open_export(path: Path) -> Iterator[ExportStream]:
    """Open `path` for reading as UTF-8 bytes."""
    stream = ExportStream(Path(path))
    try:
        yield stream
    finally:
        stream.close()


class SourceReader:
    """What ingest asks of a reader of one file: `batches()` of contract records; then, once read,
    the file's `sha256` and `size`, `records` seen (good or bad), and `source_stats()` for the load
    manifest; `raw_text(table)` gives the raw text of a batch's records for the quarantine."""

    format = ""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name
        self.records = 0
        self._stream: ExportStream | None = None

    @property
    def sha256(self) -> str:
        assert self._stream is not None, "read the batches first"
        return self._stream.sha256

    @property
    def size(self) -> int:
        assert self._stream is not None, "read the batches first"
        return self._stream.size

    @property
    def encoding(self) -> str:
        return self._stream.encoding if self._stream else ""

    def batches(self) -> Iterator[Batch]:
        raise NotImplementedError

    def raw_text(self, table: pa.Table) -> list[str]:
        raise NotImplementedError

    def source_stats(self) -> dict:
        return {"format": self.format, "encoding": self.encoding}


def read_head(path: Path, size: int = SNIFF_BYTES) -> str:
    """The first `size` bytes of the file as text (undecodable bytes replaced), to tell formats apart."""
    with open_export(path) as stream:
        return stream.read(size).decode("utf-8", "replace")

"""The archive's files, on a local folder or in an object store bucket (see etl/delivery/archive.py
for what they hold). Both keep the same promises: a revision is written once and never
overwritten, and the index has one writer at a time.

    FolderArchiveStore   revisions built aside, made read-only and renamed into place; the index
                         appended to; one writer through a lock file (one host)
    BucketArchiveStore   every object created with `If-None-Match: *` (the store refuses to
                         overwrite it), the manifest last, so a revision counts once its manifest is
                         in; the index rewritten with `If-Match: <its ETag>`; one writer across hosts
                         through the catalog database (etl.storage.lake.Lake.exclusive)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

from etl.errors import ArchiveError, StorageError
from etl.storage.local import sha256_file, write_bytes_atomic

MANIFEST = "manifest.json"
INDEX = "index.jsonl"
HEAD = "index.head"
_REVISION = re.compile(r"r\d+")


def revision_location(report_id: str, number: int) -> str:
    """`2026-W47` -> `2026/W47/r1`; `2026-11` -> `2026/11/r1`; `adhoc/<window>` -> `adhoc/<window>/r1`."""
    if report_id.startswith("adhoc/"):
        return f"{report_id}/r{number}"
    year, period = report_id.split("-", 1)
    return f"{year}/{period}/r{number}"


class FolderArchiveStore:
    """The archive's files in a local folder: write-once revision folders and an append-only index.

    Revisions are named by a relative location (`2026/W47/r1`); files inside them by name.
    A revision is built aside, made read-only and renamed into place, so it appears whole.
    """

    INDEX = INDEX
    HEAD = HEAD

    def __init__(self, root: Path, lock: Callable[[], contextlib.AbstractContextManager[None]]):
        self.root = root
        self.lock = lock  # one writer of the archive at a time: revision numbers and the index chain stay in order

    revision_location = staticmethod(revision_location)

    def display(self, location: str) -> Path:
        """Where an auditor finds a revision on disk."""
        return self.root / location

    def create_revision(self, location: str, files: dict[str, bytes]) -> None:
        """Write a revision's files once; fails if the revision exists already."""
        target = self.root / location
        if target.exists():
            raise ArchiveError(f"{target} exists but the index does not know it; run `archive verify`")
        staging = self.root / ".staging" / uuid.uuid4().hex
        staging.mkdir(parents=True)
        try:
            for name, data in sorted(files.items()):
                (staging / name).write_bytes(data)
                os.chmod(staging / name, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, target)
            os.chmod(target, 0o550)  # after the move: moving a folder needs it writable
        except BaseException:
            if staging.exists():
                os.chmod(staging, 0o750)
                for path in staging.iterdir():
                    os.chmod(path, 0o644)
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def add_file(self, location: str, name: str, data: bytes) -> None:
        """Add one file to a revision, once (a send receipt); the revision stays read-only. The file is
        written in the staging folder and linked into place whole, so a crash leaves nothing half
        written in the revision (only a staging file the next repair removes), and an existing file
        is never replaced."""
        folder = self.root / location
        staging = self.root / ".staging"
        staging.mkdir(parents=True, exist_ok=True)
        tmp = staging / f"{uuid.uuid4().hex}.{name}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o444)
        os.chmod(folder, 0o750)
        try:
            os.link(tmp, folder / name)
        except FileExistsError:
            raise ArchiveError(f"{location}/{name} exists already") from None
        finally:
            os.chmod(folder, 0o550)
            tmp.unlink(missing_ok=True)

    def read(self, location: str, name: str) -> bytes | None:
        path = self.root / location / name
        return path.read_bytes() if path.exists() else None

    def remove_revision(self, location: str) -> None:
        """Delete a revision's files (retention: its pruned line is in the index first)."""
        folder = self.root / location
        if not folder.exists():
            return
        os.chmod(folder, 0o750)
        for path in folder.iterdir():
            os.chmod(path, 0o640)
        shutil.rmtree(folder)

    def file_names(self, location: str) -> list[str]:
        return sorted(p.name for p in (self.root / location).iterdir())

    def file_sha256(self, location: str, name: str) -> str | None:
        path = self.root / location / name
        return sha256_file(path) if path.exists() else None

    def revision_locations(self) -> list[str]:
        """Every revision folder (`.../r<N>`), whatever it holds; staging excluded."""
        if not self.root.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("r*")
                      if p.is_dir() and p.name[1:].isdigit() and ".staging" not in p.parts)

    def is_empty(self) -> bool:
        return not self.root.exists() or not any(self.root.iterdir())

    def remove_abandoned_staging(self) -> list[str]:
        """Revisions half-built by a crashed writer (call with the archive lock held)."""
        staging = self.root / ".staging"
        if not staging.exists():
            return []
        left = sorted(p.name for p in staging.iterdir())
        for name in left:
            path = staging / name
            if path.is_dir():
                os.chmod(path, 0o750)
                for child in path.iterdir():
                    os.chmod(child, 0o644)
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return left

    # The index: one JSON line per event, appended; `index.head` anchors its end (how many lines,
    # and the SHA-256 of the last), so that an edit of the last line, or a removed one, shows too.
    def index_lines(self) -> list[bytes]:
        index = self.root / self.INDEX
        return index.read_bytes().splitlines() if index.exists() else []

    def has_index(self) -> bool:
        return (self.root / self.INDEX).exists()

    def index_location(self) -> Path:
        return self.root / self.INDEX

    def read_head(self) -> dict | None:
        path = self.root / self.HEAD
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def write_head(self, head: dict) -> None:
        write_bytes_atomic(self.root / self.HEAD, (json.dumps(head, sort_keys=True) + "\n").encode("utf-8"))

    def torn_index_end(self) -> int | None:
        """If the index does not end with a line end (an append cut short), the length of its
        complete lines; else None."""
        index = self.root / self.INDEX
        if not index.exists():
            return None
        data = index.read_bytes()
        return None if not data or data.endswith(b"\n") else data.rfind(b"\n") + 1

    def truncate_index(self, length: int) -> None:
        with open(self.root / self.INDEX, "r+b") as fh:
            fh.truncate(length)
            fh.flush()
            os.fsync(fh.fileno())

    def write_file(self, name: str, data: bytes) -> None:
        """A file of the archive's own, beside the index (its public key, its index.html): replaced whole."""
        (self.root / name).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.root / name, data)

    def read_file(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.exists() else None

    def append_index(self, line: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / self.INDEX, "ab") as fh:
            fh.write(line + b"\n")
            fh.flush()
            os.fsync(fh.fileno())


class BucketArchiveStore:
    """The archive's objects under `s3://bucket/prefix/`: the same layout as the folder, keys for paths.

    An object store has no rename, no read-only flag and no append, so: every file of a revision
    is created with `If-None-Match: *`, the store refusing to overwrite what exists (checked: a
    refusal is an ArchiveError, never a silent replace); the manifest goes last, so a revision
    without one is half-built and never counted; the index is rewritten whole with `If-Match` on
    the ETag it was read with, so a write that raced another is refused rather than lost."""

    INDEX = INDEX
    HEAD = HEAD

    def __init__(self, client, bucket: str, prefix: str, lock: Callable[[], contextlib.AbstractContextManager[None]]):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.lock = lock  # one writer at a time across hosts: a lock in the catalog database

    revision_location = staticmethod(revision_location)

    def _key(self, location: str, name: str | None = None) -> str:
        return "/".join(part for part in (self.prefix, location, name) if part)

    def display(self, location: str) -> str:
        """Where an auditor finds a revision: its URL."""
        return f"s3://{self.bucket}/{self._key(location)}"

    # -- objects ---------------------------------------------------------------------------
    def _get(self, key: str) -> tuple[bytes, str] | None:
        """An object's bytes and ETag, or None if there is none."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read(), response["ETag"]
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._failure(key, exc) from None

    def _put(self, key: str, data: bytes, **condition: str) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **condition)
        except Exception as exc:
            if _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise ArchiveError(f"s3://{self.bucket}/{key}: "
                                   + ("exists already; an archived file is never overwritten"
                                      if "IfNoneMatch" in condition else
                                      "changed by another writer since it was read; nothing was written")) from None
            raise self._failure(key, exc) from None

    def _create(self, key: str, data: bytes) -> None:
        """Write an object that must not exist yet: the store checks it (`If-None-Match: *`)."""
        self._put(key, data, IfNoneMatch="*")

    def _keys(self, prefix: str) -> list[str]:
        keys, token = [], None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            try:
                response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, **extra)
            except Exception as exc:
                raise self._failure(prefix, exc) from None
            keys += [item["Key"] for item in response.get("Contents", [])]
            token = response.get("NextContinuationToken")
            if not response.get("IsTruncated") or not token:
                return keys

    def _failure(self, key: str, exc: Exception) -> StorageError:
        from etl.storage.objects import describe_failure

        return describe_failure(f"s3://{self.bucket}/{key}", exc)

    # -- revisions -------------------------------------------------------------------------
    def create_revision(self, location: str, files: dict[str, bytes]) -> None:
        """Create a revision's objects once, the manifest last; fails if any exists."""
        if self._keys(self._key(location) + "/"):
            raise ArchiveError(f"{self.display(location)} exists but the index does not know it; "
                               "run `archive verify`")
        for name in sorted(files, key=lambda n: (n == MANIFEST, n)):
            self._create(self._key(location, name), files[name])

    def add_file(self, location: str, name: str, data: bytes) -> None:
        """Add one file to a revision, once (a send receipt)."""
        self._create(self._key(location, name), data)

    def read(self, location: str, name: str) -> bytes | None:
        found = self._get(self._key(location, name))
        return found[0] if found else None

    def remove_revision(self, location: str) -> None:
        """Delete a revision's objects (retention: its pruned line is in the index first). Under S3 Object
        Lock they cannot go before their retention date: the error says so."""
        for key in self._keys(self._key(location) + "/"):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key)
            except Exception as exc:
                raise self._failure(key, exc) from None

    def file_names(self, location: str) -> list[str]:
        below = self._key(location) + "/"
        return sorted(key[len(below):] for key in self._keys(below) if "/" not in key[len(below):])

    def file_sha256(self, location: str, name: str) -> str | None:
        data = self.read(location, name)
        return hashlib.sha256(data).hexdigest() if data is not None else None

    def revision_locations(self) -> list[str]:
        """Every revision (`.../r<N>`) that has an object, whatever it holds."""
        below = f"{self.prefix}/" if self.prefix else ""
        found = set()
        for key in self._keys(below):
            parts = key[len(below):].split("/")[:-1]
            if parts and _REVISION.fullmatch(parts[-1]):
                found.add("/".join(parts))
        return sorted(found)

    def is_empty(self) -> bool:
        return not self._keys(f"{self.prefix}/" if self.prefix else "")

    def remove_abandoned_staging(self) -> list[str]:
        """Revisions half-built by a crashed writer (call with the archive lock held): no manifest,
        and no index line names them. Their objects are removed, so that the number is free again.
        (Under S3 Object Lock they cannot be; `archive verify` then names them.)"""
        indexed = {_indexed_path(line) for line in self.index_lines()}
        left = [location for location in self.revision_locations()
                if location not in indexed and self.read(location, MANIFEST) is None]
        for location in left:
            for key in self._keys(self._key(location) + "/"):
                try:
                    self.client.delete_object(Bucket=self.bucket, Key=key)
                except Exception as exc:
                    raise self._failure(key, exc) from None
        return left

    # -- the index -------------------------------------------------------------------------
    def index_lines(self) -> list[bytes]:
        found = self._get(self._key(INDEX))
        return found[0].splitlines() if found else []

    def has_index(self) -> bool:
        return self._get(self._key(INDEX)) is not None

    def index_location(self) -> str:
        return self.display(INDEX)

    def read_head(self) -> dict | None:
        found = self._get(self._key(HEAD))
        return json.loads(found[0]) if found else None

    def write_head(self, head: dict) -> None:
        self._put(self._key(HEAD), (json.dumps(head, sort_keys=True) + "\n").encode("utf-8"))

    def write_file(self, name: str, data: bytes) -> None:
        """An object of the archive's own, beside the index (its public key, its index.html): replaced whole."""
        self._put(self._key(name), data)

    def read_file(self, name: str) -> bytes | None:
        found = self._get(self._key(name))
        return found[0] if found else None

    def torn_index_end(self) -> None:
        """Never: an object is written whole by one PUT, so the index never ends mid-line."""
        return None

    def append_index(self, line: bytes) -> None:
        """The index with one more line, written only if nobody changed it since it was read."""
        key = self._key(INDEX)
        found = self._get(key)
        if found is None:
            self._put(key, line + b"\n", IfNoneMatch="*")
        else:
            self._put(key, found[0] + line + b"\n", IfMatch=found[1])


def _indexed_path(line: bytes) -> str | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry.get("path") if isinstance(entry, dict) else None


def _error_code(exc: Exception) -> str | None:
    """The S3 error code of a boto3 ClientError (None for anything else)."""
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None

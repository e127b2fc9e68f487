"""Where the storage is: a local folder or an object store, as a pyarrow filesystem and a base path.

`MAILFLOW_STORAGE` is a folder (the default: `MAILFLOW_HOME`) or `s3://bucket/prefix` for S3 and
S3-compatible stores. Credentials, region and endpoint come from the standard AWS variables
(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`), which pyarrow's
S3 client reads itself; nothing here holds a secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from etl.errors import ConfigError, StorageError


def open_location(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of a folder or URL, and the path inside it (no trailing slash)."""
    scheme = urlparse(location).scheme if "://" in location else ""
    if scheme in ("", "file"):
        return pafs.LocalFileSystem(), str(Path(location.removeprefix("file://")).resolve())
    if scheme != "s3":
        raise ConfigError(f"{location}: storage must be a folder or s3://bucket/prefix")
    parsed = urlparse(location)
    if not parsed.netloc:
        raise ConfigError(f"{location}: no bucket named (s3://bucket/prefix)")
    # pyarrow reads the credentials itself (variables, profile, instance role); the endpoint and
    # region are passed so that a store that does not answer fails in seconds, not minutes
    filesystem = pafs.S3FileSystem(endpoint_override=os.environ.get("AWS_ENDPOINT_URL") or None,
                                   region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
                                   connect_timeout=5, request_timeout=60,
                                   retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3))
    return filesystem, f"{parsed.netloc}{parsed.path}".rstrip("/")


def s3_client():
    """A boto3 S3 client for what pyarrow cannot do: conditional writes (the archive). Credentials as
    pyarrow finds them (variables, profile, instance role); the same endpoint, region and timeouts."""
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                    s3={"addressing_style": "path"} if endpoint else None)
    return boto3.client("s3", endpoint_url=endpoint, config=config,
                        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None)


def is_local(filesystem: pafs.FileSystem) -> bool:
    return isinstance(filesystem, pafs.LocalFileSystem)


def iceberg_io_properties(location: str) -> dict[str, str]:
    """What pyiceberg's own S3 client needs to reach the same store (never a secret in a log: these
    are passed to it in memory, from the environment)."""
    if not location.startswith("s3://"):
        return {}
    names = {"s3.endpoint": "AWS_ENDPOINT_URL", "s3.region": "AWS_REGION", "s3.access-key-id": "AWS_ACCESS_KEY_ID",
             "s3.secret-access-key": "AWS_SECRET_ACCESS_KEY", "s3.session-token": "AWS_SESSION_TOKEN"}
    return {prop: os.environ[var] for prop, var in names.items() if os.environ.get(var)}


def describe_failure(location: str, exc: BaseException) -> StorageError:
    """An object store's error as one line naming where and what: bad credentials, no bucket,
    no answer."""
    text = _first_line(exc)
    plain = text.lower().replace("_", "")  # pyarrow says NO_SUCH_BUCKET, boto3 NoSuchBucket
    for marker, meaning in (("SIGNATURE_DOES_NOT_MATCH", "the credentials are refused"),
                            ("INVALID_ACCESS_KEY_ID", "the access key is unknown"),
                            ("ACCESS_DENIED", "access denied: the credentials are refused, or may not use this bucket"),
                            ("NO_SUCH_BUCKET", "no such bucket"),
                            ("NETWORK_CONNECTION", "the endpoint does not answer"),
                            ("Couldn't connect", "the endpoint does not answer"),
                            ("Could not connect", "the endpoint does not answer")):
        if marker.lower().replace("_", "") in plain:
            return StorageError(f"{location}: {meaning} ({text})")
    return StorageError(f"{location}: {text}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]

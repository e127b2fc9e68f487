"""All configuration in one place: environment variables with defaults.

Read when called, not at import, so that tests and Airflow tasks can point
`MAILFLOW_HOME` elsewhere. No secrets live here.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from etl.errors import ConfigError


def _path(name: str, value: str) -> Path:
    """A configured location as an absolute path; a symlink loop is a configuration error."""
    try:
        return Path(value).resolve()
    except (RuntimeError, OSError) as exc:
        raise ConfigError(f"{name}={value!r} cannot be used: {exc}") from None


def _location(name: str, value: str) -> str:
    """A configured folder (made absolute) or URL (kept as it is)."""
    return value.rstrip("/") if "://" in value else str(_path(name, value))


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class Settings:
    home: Path  # this machine's working folder (staging; the embedded catalog)
    landing: str | None  # MAILFLOW_LANDING, a folder or URL; None: the storage's own landing folder
    max_quarantined_pct: float
    memory_limit: str
    no_tls_pct: float
    tls10_pct: float
    regression_pp: float = 10.0
    regression_min_messages: int = 100
    source_format: str = "auto"
    connectors_file: Path | None = None
    postfix_tls_logging: bool = True
    log_timezone: str = "UTC"
    catalog: str | None = None  # MAILFLOW_CATALOG; None: the SQLite file in MAILFLOW_HOME
    storage: str | None = None  # MAILFLOW_STORAGE, a folder or s3://bucket/prefix; None: MAILFLOW_HOME
    tlsrpt_failure_pct: float = 5.0
    tlsrpt_min_sessions: int = 20
    tlsrpt_top: int = 20
    own_domains: tuple[str, ...] = ()  # MAILFLOW_OWN_DOMAINS; empty: told from the traces (etl.report.tlsrpt)
    signing_key: str | None = field(default=None, repr=False)  # MAILFLOW_SIGNING_KEY: a PEM file, or the PEM


def settings() -> Settings:
    home = _path("MAILFLOW_HOME", os.environ.get("MAILFLOW_HOME") or "data")
    landing = os.environ.get("MAILFLOW_LANDING")
    return Settings(
        home=home,
        landing=_location("MAILFLOW_LANDING", landing) if landing else None,
        # data-quality gate: the daily run fails above this share of quarantined rows
        max_quarantined_pct=_float("MAILFLOW_MAX_QUARANTINED_PCT", 1.0),
        # DuckDB spills to disk beyond this, which keeps ingest memory flat
        memory_limit=os.environ.get("MAILFLOW_DUCKDB_MEMORY") or "1GB",
        # report insights fire strictly above these shares
        no_tls_pct=_float("MAILFLOW_NO_TLS_PCT", 25.0),
        tls10_pct=_float("MAILFLOW_TLS10_PCT", 50.0),
        # a regression: the encrypted share fell by more than this many points against the previous
        # window, with at least this many messages in both
        regression_pp=_float("MAILFLOW_REGRESSION_PP", 10.0),
        regression_min_messages=int(_float("MAILFLOW_REGRESSION_MIN_MESSAGES", 100)),
        # what the exports are: auto (per file), csv or postfix
        source_format=os.environ.get("MAILFLOW_SOURCE") or "auto",
        # connector rules for Postfix logs; $MAILFLOW_HOME/connectors.toml when there is one
        connectors_file=_connectors_file(home),
        # 0 when Postfix does not log TLS sessions: then a missing TLS line means unknown, not none
        postfix_tls_logging=os.environ.get("MAILFLOW_POSTFIX_TLS_LOGGING", "1") != "0",
        # time zone of classic syslog timestamps (Nov 20 08:01:02), which carry none
        log_timezone=os.environ.get("MAILFLOW_LOG_TIMEZONE") or "UTC",
        # the lake's Iceberg catalog: a SQLAlchemy URL (postgresql+psycopg://... when distributed)
        catalog=os.environ.get("MAILFLOW_CATALOG") or None,
        # where the landing folder, the lake, the reports, the archive and the outbox live
        storage=_location("MAILFLOW_STORAGE", storage) if (storage := os.environ.get("MAILFLOW_STORAGE")) else None,
        # SMTP TLS reports: a receiving domain needs attention above this share of failed sessions, with
        # at least this many sessions; the report lists the domains with the most sessions, this many
        tlsrpt_failure_pct=_float("MAILFLOW_TLSRPT_FAILURE_PCT", 5.0),
        tlsrpt_min_sessions=int(_float("MAILFLOW_TLSRPT_MIN_SESSIONS", 20)),
        tlsrpt_top=int(_float("MAILFLOW_TLSRPT_TOP", 20)),
        # our own mail domains (a report about one of them, or a subdomain, is about mail sent to us)
        own_domains=own_domains(os.environ.get("MAILFLOW_OWN_DOMAINS") or ""),
        # the archive's Ed25519 signing key: a PEM file (or the PEM itself); unset, nothing is signed
        signing_key=os.environ.get("MAILFLOW_SIGNING_KEY") or None,
    )


def own_domains(text: str) -> tuple[str, ...]:
    """`Contoso.com, fabrikam.example.` -> ("contoso.com", "fabrikam.example"); a name that is not a
    domain is one error naming it."""
    domains = []
    for item in text.replace(";", ",").split(","):
        domain = item.strip().lower().rstrip(".")
        if not domain:
            continue
        if "." not in domain or any(c.isspace() or c in "@/:" for c in domain):
            raise ConfigError(f"MAILFLOW_OWN_DOMAINS: {item.strip()!r} is not a domain name")
        domains.append(domain)
    return tuple(sorted(set(domains)))


def _connectors_file(home: Path) -> Path | None:
    configured = os.environ.get("MAILFLOW_CONNECTORS")
    if configured:
        return _path("MAILFLOW_CONNECTORS", configured)
    default = home / "connectors.toml"
    return default if default.is_file() else None


def toml_entries(data: bytes, source: str, table: str) -> list[dict]:
    """The `[[table]]` entries of a configuration file (connectors.toml, subscriptions.toml); a file
    that is not TOML, or holds anything else, is one line naming it."""
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(document) - {table}
    if unknown:
        raise ConfigError(f"{source}: unknown table {sorted(unknown)[0]!r}; expected [[{table}]] entries")
    entries = document.get(table, [])
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: {table!r} must be written [[{table}]], one table per entry")
    return entries

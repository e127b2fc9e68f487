"""Report subscriptions: who receives which report besides the organisation-wide one.

    # $MAILFLOW_HOME/subscriptions.toml (or the file MAILFLOW_SUBSCRIPTIONS names)
    [[subscription]]
    name = "partners"                      # its archive id: 2026-W47/partners
    recipients = ["partner-manager@contoso.com"]
    cadence = "weekly"                     # or "monthly"
    connectors = ["Partner *"]             # names or shell-style globs; all when left out
    direction = "outbound"                 # inbound | outbound; both when left out
    skip_when_no_insights = true           # archived, but not mailed, when nothing fired or resolved

Each scheduled run of the weekly (monthly) report issues one report per weekly (monthly)
subscription, archived under its own id and mailed to its own recipients only, besides the
organisation-wide report to the default recipients. A mistake in the file is one line naming
the file and the entry, and stops the run before anything is issued.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from etl.config import toml_entries
from etl.contract import REPORTED_DIRECTIONS
from etl.errors import ConfigError

CADENCES = ("weekly", "monthly")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
KEYS = {"name", "recipients", "cadence", "connectors", "direction", "skip_when_no_insights"}
ADDRESS = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+")


@dataclass(frozen=True)
class Subscription:
    name: str
    recipients: tuple[str, ...]
    cadence: str
    connectors: tuple[str, ...] = ()
    direction: str | None = None
    skip_when_no_insights: bool = False


def subscriptions_file(home: Path) -> tuple[Path, bool]:
    """The file, and whether it was configured (a configured file must exist; the default may not)."""
    configured = os.environ.get("MAILFLOW_SUBSCRIPTIONS")
    return (Path(configured), True) if configured else (home / "subscriptions.toml", False)


def load_subscriptions(home: Path) -> list[Subscription]:
    path, configured = subscriptions_file(home)
    if not path.is_file():
        if configured:
            raise ConfigError(f"{path}: no such subscriptions file (MAILFLOW_SUBSCRIPTIONS)")
        return []
    return parse_subscriptions(path.read_bytes(), str(path))


def parse_subscriptions(data: bytes, source: str) -> list[Subscription]:
    entries = toml_entries(data, source, "subscription")
    found: list[Subscription] = []
    for number, entry in enumerate(entries, 1):
        label = f"{source}: subscription {number}" + (f" ({entry['name']!r})" if isinstance(entry.get("name"), str)
                                                       else "")
        try:
            subscription = _subscription(entry)
        except ValueError as exc:
            raise ConfigError(f"{label}: {exc}") from None
        if any(s.name == subscription.name for s in found):
            raise ConfigError(f"{label}: the name is used by an earlier subscription")
        found.append(subscription)
    return found


def _subscription(entry: dict) -> Subscription:
    unknown = set(entry) - KEYS
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(KEYS))}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError("name must be lowercase letters, digits, - or _ (it becomes part of the archive id)")
    recipients = entry.get("recipients")
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or not recipients:
        raise ValueError("recipients must be a list of at least one address")
    for address in recipients:
        if not isinstance(address, str) or not ADDRESS.fullmatch(address):
            raise ValueError(f"{address!r} is not an email address")
    cadence = entry.get("cadence")
    if cadence not in CADENCES:
        raise ValueError(f"cadence must be weekly or monthly, not {cadence!r}")
    connectors = entry.get("connectors", [])
    if not isinstance(connectors, list) or not all(isinstance(c, str) and c for c in connectors):
        raise ValueError("connectors must be a list of connector names or globs")
    direction = entry.get("direction")
    if direction not in (None, *REPORTED_DIRECTIONS):
        raise ValueError(f"direction must be inbound or outbound, not {direction!r}")
    skip = entry.get("skip_when_no_insights", False)
    if not isinstance(skip, bool):
        raise ValueError("skip_when_no_insights must be true or false")
    return Subscription(name, tuple(recipients), cadence, tuple(connectors), direction, skip)

"""Connector rules for sources that do not name connectors themselves (Postfix logs).

A TOML file of `[[connector]]` tables, each with a name, a direction (inbound rules are
matched on the sending client, outbound rules on the relay) and hostname globs and/or
CIDR blocks (IPv4 and IPv6). The first rule that matches wins; no match = no connector.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from etl.config import toml_entries
from etl.errors import ConfigError

RULE_KEYS = {"name", "direction", "hosts", "ips"}


@dataclass(frozen=True)
class ConnectorRule:
    name: str
    direction: str
    hosts: tuple[str, ...]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def matches(self, host: str | None, ip: str | None) -> bool:
        if host and any(fnmatch.fnmatchcase(host.lower(), pattern) for pattern in self.hosts):
            return True
        address = parse_ip(ip)
        return address is not None and any(address in network for network in self.networks)


def parse_ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as Postfix logs it (`203.0.113.5`, `2001:db8::1`, `ipv6:2001:db8::1`), else None."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.removeprefix("ipv6:").removeprefix("IPv6:"))
    except ValueError:
        return None
    return address.ipv4_mapped or address if isinstance(address, ipaddress.IPv6Address) else address


_UNSEEN = object()


@dataclass(frozen=True)
class ConnectorRules:
    rules: tuple[ConnectorRule, ...] = ()
    source: str = ""  # the file they came from, for the load manifest
    # a log names the same few clients and relays over and over
    _matched: dict = field(default_factory=dict, compare=False, repr=False)

    def match(self, direction: str, host: str | None, ip: str | None) -> str | None:
        if not self.rules:
            return None
        key = (direction, host, ip)
        name = self._matched.get(key, _UNSEEN)
        if name is _UNSEEN:
            if len(self._matched) > 100_000:
                self._matched.clear()
            name = self._matched[key] = next(
                (rule.name for rule in self.rules if rule.direction == direction and rule.matches(host, ip)), None)
        return name


def load_rules(path: Path | None) -> ConnectorRules:
    """Read and check a connectors file; a mistake is one line naming the file and the rule."""
    if path is None:
        return ConnectorRules()
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: connectors file not found") from None
    entries = toml_entries(data, path.name, "connector")
    return ConnectorRules(tuple(_rule(path.name, number, entry) for number, entry in enumerate(entries, 1)),
                          str(path))


def _rule(file_name: str, number: int, entry: dict) -> ConnectorRule:
    def fail(problem: str):
        label = f"connector {number}" + (f" ({entry['name']})" if isinstance(entry.get("name"), str) else "")
        raise ConfigError(f"{file_name}: {label}: {problem}")

    if unknown := set(entry) - RULE_KEYS:
        fail(f"unknown key {sorted(unknown)[0]!r} (expected {', '.join(sorted(RULE_KEYS))})")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        fail("'name' must be a non-empty string")
    if entry.get("direction") not in ("inbound", "outbound"):
        fail("'direction' must be \"inbound\" or \"outbound\"")
    hosts, ips = entry.get("hosts", []), entry.get("ips", [])
    for key, values in (("hosts", hosts), ("ips", ips)):
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
            fail(f"{key!r} must be a list of non-empty strings")
    if not hosts and not ips:
        fail("give 'hosts' or 'ips' (or both): a rule without either matches nothing")
    networks = []
    for value in ips:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            fail(f"'ips' entry {value!r} is not an address or CIDR block")
    return ConnectorRule(name.strip(), entry["direction"], tuple(h.strip().lower() for h in hosts), tuple(networks))

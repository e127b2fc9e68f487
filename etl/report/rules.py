"""The insight rules: which connector × direction needs attention in a window, judged on its own
shares (no_tls, tls10) or against the window before it (regression, silent_connector,
new_connector).

Pure functions over window figures; `etl.report.model` runs them on the report's window and on
every earlier window of its series, which is how it knows whether an insight is new, persisting
(and since when) or resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from etl.config import Settings
from etl.contract import TLS_BUCKETS
from etl.shares import percentage, percentages_above

# Encrypted: TLS 1.2 or 1.3. TLS 1.0 and 1.1 are deprecated (RFC 8996) and are shown on their own,
# not counted as protected.
ENCRYPTED_BUCKETS = ("TLS1.3", "TLS1.2")

Group = tuple[str | None, str]  # (connector, direction); connector None = mail through no connector
Key = tuple[str, str | None, str]  # (rule id, connector, direction): one insight


@dataclass(frozen=True)
class Rule:
    """A threshold rule describes a state, which is resolved once it no longer holds; a comparison rule
    describes a change between two windows, an event that fires in the window where it happened
    and is then over (it is never listed as resolved: a connector still silent is not fixed)."""

    rule_id: str
    title: str
    severity: int  # 1 = most severe, 3 = for information
    bucket: str | None = None  # threshold rules: the TLS bucket whose share is judged

    @property
    def is_state(self) -> bool:
        return self.bucket is not None


NO_TLS = Rule("no_tls", "No TLS is over {threshold:g}%", 1, "none")
TLS10 = Rule("tls10", "TLS 1.0 is above {threshold:g}%", 2, "TLS1.0")
REGRESSION = Rule("regression", "Encrypted share fell by more than {threshold:g} points", 1)
SILENT_CONNECTOR = Rule("silent_connector", "Connector went silent", 2)
NEW_CONNECTOR = Rule("new_connector", "New connector", 3)
# SMTP TLS reports (etl.report.tlsrpt): judged per receiving domain, not per connector
TLSRPT_FAILURES = Rule("tlsrpt_failures", "Receiving domain reports TLS failures for over {threshold:g}% of sessions",
                       1)
TLS_MISMATCH = Rule("tls_mismatch", "Traces show TLS to a domain that reports STARTTLS or certificate failures", 2)
RULES = (NO_TLS, TLS10, REGRESSION, SILENT_CONNECTOR, NEW_CONNECTOR, TLSRPT_FAILURES, TLS_MISMATCH)
BY_ID = {rule.rule_id: rule for rule in RULES}


@dataclass(frozen=True)
class Thresholds:
    no_tls_pct: float = 25.0
    tls10_pct: float = 50.0
    regression_pp: float = 10.0  # percentage points the encrypted share may fall before it is a regression
    regression_min_messages: int = 100  # in both windows: a drop on a handful of messages is noise
    tlsrpt_failure_pct: float = 5.0  # SMTP TLS reports: failed sessions of a receiving domain
    tlsrpt_min_sessions: int = 20
    tlsrpt_top: int = 20  # receiving domains listed, by sessions
    own_domains: tuple[str, ...] = ()  # configured; empty: told from the traces

    def __post_init__(self):  # read back from report.json, own_domains is a list
        object.__setattr__(self, "own_domains", tuple(self.own_domains))

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(settings.no_tls_pct, settings.tls10_pct, settings.regression_pp, settings.regression_min_messages,
                   settings.tlsrpt_failure_pct, settings.tlsrpt_min_sessions, settings.tlsrpt_top,
                   settings.own_domains)

    def to_json(self) -> dict:
        return {**vars(self), "own_domains": list(self.own_domains)}

    def for_rule(self, rule: Rule) -> float | None:
        return {"no_tls": self.no_tls_pct, "tls10": self.tls10_pct, "regression": self.regression_pp}.get(rule.rule_id)

    def by_bucket(self) -> list[tuple[str, float]]:
        """(TLS bucket, threshold) of every threshold rule."""
        return [(rule.bucket, self.for_rule(rule)) for rule in RULES if rule.bucket]


def tls_block(counts: dict[str, int], thresholds: Thresholds) -> dict:
    """Messages, counts and shares of one group (or direction) in one window: the figures every output
    shows, rounded once here."""
    tls = {b: counts.get(b, 0) for b in TLS_BUCKETS}
    total = sum(tls.values())
    return {
        "messages": total,
        "tls": tls,
        "tls_pct": percentages_above(tls, TLS_BUCKETS, thresholds.by_bucket()),
        "encrypted_pct": percentage(sum(tls[b] for b in ENCRYPTED_BUCKETS), total),
    }


@dataclass
class WindowFigures:
    """One window of the report's series: its days and each group's TLS counts."""

    start: str
    end: str
    days_expected: int
    days_present: int
    groups: dict[Group, dict[str, int]] = field(default_factory=dict)

    @property
    def has_data(self) -> bool:
        return self.days_present > 0

    @property
    def complete(self) -> bool:
        return self.days_present == self.days_expected

    def messages(self, group: Group) -> int:
        return sum(self.groups.get(group, {}).values())


def fired(this: WindowFigures, before: WindowFigures | None, thresholds: Thresholds) -> dict[Key, int]:
    """Every insight that fires in `this` window (compared with `before`, the window just before it),
    with the messages it is about (those in the offending bucket; all of them for a comparison).
    Threshold rules judge the days loaded; the comparison rules fire only when both windows are
    complete, since a missing day would look like a silent connector or a fall in volume."""
    found: dict[Key, int] = {}
    blocks = {group: tls_block(counts, thresholds) for group, counts in this.groups.items()}
    for (connector, direction), block in blocks.items():
        total = block["messages"]
        for rule in (NO_TLS, TLS10):
            threshold = thresholds.for_rule(rule)
            offending = block["tls"][rule.bucket]
            # exact comparison on counts: 250 of 1000 is 25.0% and does not exceed 25
            if total and Decimal(100 * offending) > Decimal(str(threshold)) * total:
                found[(rule.rule_id, connector, direction)] = offending
    if before is None or not (this.complete and before.complete):
        return found
    for group in this.groups.keys() | before.groups.keys():
        connector, direction = group
        now, then = this.messages(group), before.messages(group)
        if now and then:
            then_pct = tls_block(before.groups[group], thresholds)["encrypted_pct"]
            now_pct = blocks[group]["encrypted_pct"]
            # judged on the shares as shown, so that the drop the reader computes is the one that fired
            drop = Decimal(str(then_pct)) - Decimal(str(now_pct))
            if (min(now, then) >= thresholds.regression_min_messages
                    and drop > Decimal(str(thresholds.regression_pp))):
                found[(REGRESSION.rule_id, connector, direction)] = now
        elif connector is not None and then and not now:
            found[(SILENT_CONNECTOR.rule_id, connector, direction)] = 0
        elif connector is not None and now and not then:
            found[(NEW_CONNECTOR.rule_id, connector, direction)] = now
    return found

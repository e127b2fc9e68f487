"""The report as a document: the shape of report.json, typed.

Every output (HTML, email, text, CSV, the archive's manifest) reads these keys; the JSON Schema
`etl/report/report.schema.json` describes the same shape for tools that consume report.json
(SIEM, GRC). A change of shape bumps SCHEMA_VERSION and the schema with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

SCHEMA_VERSION = 3
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")

# TLS bucket -> a count or a share; keys are contract.TLS_BUCKETS
TlsCounts = dict[str, int]
TlsShares = dict[str, float]


class Window(TypedDict):
    start: str  # first UTC day, ISO date
    end: str  # last UTC day, ISO date
    days: int
    missing_days: list[str]


class Completeness(TypedDict):
    days_expected: int
    days_present: int
    rows_read: int
    rows_quarantined: int
    quarantined_pct: float


class Filters(TypedDict):
    connector: str | None
    direction: str | None
    connectors: list[str]  # a subscription's connector names or globs; [] = all
    subscription: str | None


class ThresholdsDoc(TypedDict):
    no_tls_pct: float
    tls10_pct: float
    regression_pp: float
    regression_min_messages: int
    tlsrpt_failure_pct: float
    tlsrpt_min_sessions: int
    tlsrpt_top: int
    own_domains: list[str]  # [] : told from the traces (etl.report.tlsrpt)


class PreviousWindow(TypedDict):
    start: str
    end: str
    days: int
    days_present: int
    missing_days: list[str]


class TrendWindow(TypedDict):
    start: str
    end: str
    days_expected: int
    days_present: int  # below days_expected: marked incomplete; 0: no figures at all


class Trend(TypedDict):
    period: str  # week, month, or "<n> days"
    windows: list[TrendWindow]  # oldest first; the report's own window last


class TrendPoint(TypedDict):
    messages: int
    encrypted_pct: float | None  # None: no mail in that window
    none_pct: float | None
    tls10_pct: float | None


class TlsBlock(TypedDict):
    messages: int
    tls: TlsCounts
    tls_pct: TlsShares  # percentages_above: adds up to 100
    encrypted_pct: float  # TLS 1.2 or 1.3


class ConnectorTls(TlsBlock):
    connector: str | None  # None: mail through no connector
    direction: str
    previous: TlsBlock | None  # None: the previous window has no day loaded
    change_pp: dict[str, float] | None  # bucket (and "encrypted") -> now minus then; None unless mail in both
    trend: list[TrendPoint | None]  # one per Trend window; None: no day of it loaded


class DayFlow(TypedDict):
    date: str
    direction: str
    messages: int


class ConnectorDayFlow(DayFlow):
    connector: str | None


class RemoteDomain(TypedDict):
    domain: str | None
    messages: int


class Insight(TypedDict):
    connector: str | None
    direction: str
    rule: str  # etl.report.rules.RULES
    title: str
    severity: int  # 1 = most severe, 3 = for information
    status: str  # new | persisting | resolved
    since: str | None  # first day of the unbroken run of windows it fires in; None when resolved
    share_pct: float | None  # the same number as the connector row shows (tls_pct of the bucket, or encrypted_pct)
    previous_share_pct: float | None
    threshold_pct: float | None  # percent; percentage points for a regression
    messages: int
    messages_total: int
    previous_messages_total: int | None
    top_remote_domains: list[RemoteDomain]
    policy_domain: str | None  # the receiving domain of an SMTP TLS report insight


class ReceivingDomain(TypedDict):
    """What SMTP TLS reports (RFC 8460) say of one policy domain over the window."""

    policy_domain: str
    direction: str  # inbound: one of our domains
    policy_type: str  # the type most sessions were reported under: tlsa | sts | no-policy-found
    policy_types: list[str]
    connectors: list[str]  # outbound connectors that carried mail to it in the window
    successful_sessions: int
    failed_sessions: int
    failure_pct: float
    previous_failure_pct: float | None
    failures: dict[str, int]  # result type -> failed sessions
    reporters: list[str]


class Report(TypedDict):
    schema_version: int
    title: str
    headline: str
    window: Window
    completeness: Completeness
    previous: PreviousWindow | None
    filters: Filters
    thresholds: ThresholdsDoc
    generated_at: str
    counting_unit: str
    snapshot: dict[str, TlsBlock]  # direction -> TLS block for the whole organisation
    connectors: list[ConnectorTls]
    trend: Trend
    all_mail_flow: list[DayFlow]
    daily: list[ConnectorDayFlow]
    tlsrpt: list[ReceivingDomain] | None  # None: no SMTP TLS report covers the window
    insights: list[Insight]

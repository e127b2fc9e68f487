"""The report as a document: the shape of report.json, typed.

Every output (HTML, email, text, CSV, the archive's manifest) reads these keys; the JSON Schema
`etl/report/report.schema.json` describes the same shape for tools that consume report.json
(SIEM, GRC). A change of shape bumps SCHEMA_VERSION and the schema with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

SCHEMA_VERSION = 1
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


class ThresholdsDoc(TypedDict):
    no_tls_pct: float
    tls10_pct: float


class TlsBlock(TypedDict):
    messages: int
    tls: TlsCounts
    tls_pct: TlsShares  # percentages_above: adds up to 100
    encrypted_pct: float


class ConnectorTls(TlsBlock):
    connector: str | None  # None: mail through no connector
    direction: str


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
    rule: str
    title: str
    severity: int  # 1 = most severe
    share_pct: float  # the same number as the connector's tls_pct for the rule's bucket
    threshold_pct: float
    messages: int
    messages_total: int
    top_remote_domains: list[RemoteDomain]


class Report(TypedDict):
    schema_version: int
    title: str
    headline: str
    window: Window
    completeness: Completeness
    filters: Filters
    thresholds: ThresholdsDoc
    generated_at: str
    counting_unit: str
    snapshot: dict[str, TlsBlock]  # direction -> TLS block for the whole organisation
    connectors: list[ConnectorTls]
    all_mail_flow: list[DayFlow]
    daily: list[ConnectorDayFlow]
    insights: list[Insight]

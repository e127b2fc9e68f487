"""The trace-export contract: which columns a daily export has and what their values mean.

One row per message per recipient. Header names are matched ignoring case, spaces and
underscores, under the aliases Exchange tooling writes (Get-MessageTrace, historical
search reports). This module is the single source of truth for names and vocabularies;
the ingest SQL receives them as bound parameters.
"""

from __future__ import annotations

REQUIRED_COLUMNS = ("Received", "SenderAddress", "RecipientAddress", "Direction")
OPTIONAL_COLUMNS = (
    "ConnectorName",
    "TlsVersion",
    "TlsCipher",
    "Status",
    "FromIP",
    "ToIP",
    "Size",
    "MessageId",
    "MessageTraceId",
    "Subject",
)
ALL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# Header names each column goes by, in order of preference: when an export has two of them
# (a historical-search "details" report has both client_ip and original_client_ip), the first wins.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "Received": ("Received", "origin_timestamp_utc", "origin_timestamp", "date_time_utc", "Date"),
    "SenderAddress": ("SenderAddress",),
    "RecipientAddress": ("RecipientAddress",),
    "Direction": ("Direction", "Directionality"),
    "ConnectorName": ("ConnectorName", "Connector", "connector_id"),
    "TlsVersion": ("TlsVersion", "TLS"),
    "TlsCipher": ("TlsCipher",),
    "Status": ("Status",),
    "FromIP": ("FromIP", "original_client_ip", "client_ip"),
    "ToIP": ("ToIP", "server_ip"),
    "Size": ("Size", "total_bytes"),
    "MessageId": ("MessageId",),
    "MessageTraceId": ("MessageTraceId", "network_message_id"),
    "Subject": ("Subject", "message_subject"),
}


def header_key(name: str) -> str:
    """Fold a header name: `sender_address`, `Sender Address` and `SenderAddress` are one column."""
    return "".join(ch for ch in name.strip().lower() if ch not in " _")


# Read only to tell exact duplicates apart; never written anywhere (privacy).
UNSTORED_COLUMNS = ("Subject",)

STATUSES = ("Delivered", "Failed", "Pending", "Expanded", "FilteredAsSpam", "Quarantined", "GettingStatus")
# Distribution-list expansion placeholders: kept in the lake, never counted as messages.
NOT_COUNTED_STATUSES = ("Expanded",)

# How mail that passed through no connector (connector null in the lake) is labelled everywhere.
NO_CONNECTOR = "No connector"


def connector_label(name: str | None) -> str:
    return NO_CONNECTOR if name is None else name


TLS_BUCKETS = ("TLS1.3", "TLS1.2", "TLS1.1", "TLS1.0", "none", "unknown")


def spelling_key(raw: str) -> str:
    """Fold a TlsVersion or Direction spelling to the key of TLS_SPELLINGS / DIRECTION_SPELLINGS.

    Lowercase and strip spaces, dots, dashes and underscores, so that
    `TLS 1.2`, `TLSv1.2`, `tls_1_2` and `Tls12` all become `tls12` / `tlsv12`.
    sql/load/record_checks.sql applies the same folding.
    """
    return "".join(ch for ch in raw.lower() if ch not in " ._-")


# Folded spelling -> bucket. Anything else non-empty becomes `unknown` and is counted
# as an unrecognised TLS value; an empty value is `unknown` without a warning.
# Windows SChannel names (SP_PROT_TLS1_2_SERVER ...) are what Exchange Server logs.
TLS_SPELLINGS: dict[str, str] = {}
for _bucket, _spellings in {
    "TLS1.3": ("tls13", "tlsv13", "sp_prot_tls1_3_server", "sp_prot_tls1_3_client"),
    "TLS1.2": ("tls12", "tlsv12", "sp_prot_tls1_2_server", "sp_prot_tls1_2_client"),
    "TLS1.1": ("tls11", "tlsv11", "sp_prot_tls1_1_server", "sp_prot_tls1_1_client"),
    "TLS1.0": ("tls10", "tlsv10", "tls1", "tlsv1", "sp_prot_tls1_0_server", "sp_prot_tls1_0_client",
               "sp_prot_tls1_server", "sp_prot_tls1_client"),
    "none": ("none", "notls", "no", "plaintext", "cleartext", "unencrypted"),
    "unknown": ("unknown", "notrecorded", "na"),
}.items():
    for _spelling in _spellings:
        TLS_SPELLINGS[spelling_key(_spelling)] = _bucket


# Folded Direction spelling -> direction as stored. Message trace writes Inbound/Outbound,
# historical search reports Incoming/Originating/IntraOrg, some tools the enum's 1/2.
DIRECTION_SPELLINGS: dict[str, str] = {}
for _direction, _spellings in {
    "inbound": ("inbound", "incoming", "1"),
    "outbound": ("outbound", "originating", "2"),
    "internal": ("internal", "intraorg"),
}.items():
    for _spelling in _spellings:
        DIRECTION_SPELLINGS[spelling_key(_spelling)] = _direction


# The directions a report is about: internal mail neither enters nor leaves the organisation.
REPORTED_DIRECTIONS = ("inbound", "outbound")


def normalize_tls(raw: str | None) -> str:
    """Reference implementation of the TLS normalisation (the SQL must agree)."""
    if raw is None or raw.strip() == "":
        return "unknown"
    return TLS_SPELLINGS.get(spelling_key(raw), "unknown")

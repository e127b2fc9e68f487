"""The trace-export contract: which columns a daily export has and what their values mean.

One row per message per recipient. Header names are matched case-insensitively.
This module is the single source of truth for names and vocabularies; the ingest
SQL receives them as bound parameters.
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

# Read only to tell exact duplicates apart; never written anywhere (privacy).
UNSTORED_COLUMNS = ("Subject",)

DIRECTIONS = ("Inbound", "Outbound", "Internal")
STATUSES = ("Delivered", "Failed", "Pending", "Expanded", "FilteredAsSpam", "Quarantined", "GettingStatus")
# Distribution-list expansion placeholders: kept in the lake, never counted as messages.
NOT_COUNTED_STATUSES = ("Expanded",)

TLS_BUCKETS = ("TLS1.3", "TLS1.2", "TLS1.1", "TLS1.0", "none", "unknown")


def tls_spelling_key(raw: str) -> str:
    """Fold a TlsVersion spelling to the key used by TLS_SPELLINGS.

    Lowercase and strip spaces, dots, dashes and underscores, so that
    `TLS 1.2`, `TLSv1.2`, `tls_1_2` and `Tls12` all become `tls12` / `tlsv12`.
    The ingest SQL applies the same folding (see sql/trace_rows.sql).
    """
    return "".join(ch for ch in raw.lower() if ch not in " ._-")


# Folded spelling -> bucket. Anything else non-empty becomes `unknown` and is counted
# as an unrecognised TLS value; an empty value is `unknown` without a warning.
TLS_SPELLINGS: dict[str, str] = {}
for _bucket, _spellings in {
    "TLS1.3": ("tls13", "tlsv13", "tls1.3"),
    "TLS1.2": ("tls12", "tlsv12"),
    "TLS1.1": ("tls11", "tlsv11"),
    "TLS1.0": ("tls10", "tlsv10", "tls1", "tlsv1"),
    "none": ("none", "notls", "no", "plaintext", "cleartext", "unencrypted"),
    "unknown": ("unknown", "notrecorded", "na"),
}.items():
    for _spelling in _spellings:
        TLS_SPELLINGS[tls_spelling_key(_spelling)] = _bucket


def normalize_tls(raw: str | None) -> str:
    """Reference implementation of the TLS normalisation (the SQL must agree)."""
    if raw is None or raw.strip() == "":
        return "unknown"
    return TLS_SPELLINGS.get(tls_spelling_key(raw), "unknown")

"""Names from the data (connectors, remote domains) made safe to show: a name is the sender's or an
administrator's text and may hold anything, including characters that reorder or break what is
around it. JSON keeps names whole; every other output shows them through these functions."""

from __future__ import annotations

from markupsafe import Markup, escape

from etl.contract import connector_label

NAME_LIMIT = 80  # characters of a name where it is shown; JSON, CSV and HTML title attributes keep it whole

# Bidirectional formatting characters: U+202E (right-to-left override) turns "exe.txt" around and,
# left open, everything after it on the line too.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7f <= code < 0xa0 or ch in BIDI_CONTROLS or ch in "\u2028\u2029"


def escape_controls(text: str) -> str:
    """Control, bidi and line-breaking characters written out as `\\u202E`: visible, and inert."""
    return "".join(f"\\u{ord(ch):04X}" if _is_control(ch) else ch for ch in text)


def shorten(text: str, limit: int | None) -> str:
    """At most `limit` characters, the last an ellipsis when cut."""
    return text if limit is None or len(text) <= limit else text[:limit - 1] + "…"


def text_name(name: str | None, limit: int | None = NAME_LIMIT) -> str:
    """A name for plain text (report.txt) and for HTML attributes, options and SVG titles."""
    return shorten(escape_controls(connector_label(name)), limit)


def html_name(name: str | None, limit: int | None = NAME_LIMIT) -> Markup:
    """A name in HTML text: isolated in <bdi> so that its direction stays inside it, control
    characters written out, shortened to `limit`, and then whole in the title attribute."""
    full = escape_controls(connector_label(name))
    shown = shorten(full, limit)
    if shown == full:
        return Markup("<bdi>{}</bdi>").format(full)
    return Markup('<bdi title="{}">{}</bdi>').format(escape(full), escape(shown))

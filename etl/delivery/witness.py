"""Witnesses: every mailed report carries the archive's chain head, which the recipients keep.

The index is a hash chain (etl.delivery.archive): line N holds the SHA-256 of line N-1, so the
SHA-256 of line N vouches for every line up to it. Someone with write access to the archive can
rewrite a revision and recompute every later line; they cannot reach the copies in the
recipients' mailboxes. So each email states, in a header (`X-Mailflow-Archive-Chain`) and in a
footer line of both bodies, the chain head when it was sent: the index's line count and the
SHA-256 of its last line, its own revision's line included. `mailflow archive verify --witness`
checks that each witnessed head is still a line of today's index with the same hash.

The witness is added when the message is sent, to the archived message.eml (which cannot hold it:
the chain's lines hash the manifest, which hashes the message); the receipt records the head and
the SHA-256 of the bytes sent, which `verify` recomputes from the archived message.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from pathlib import Path

from etl.delivery.mail import MESSAGE_POLICY

HEADER = "X-Mailflow-Archive-Chain"
_VALUE = re.compile(r"^\s*line=(\d+);\s*sha256=([0-9a-f]{64})\s*$")


@dataclass(frozen=True)
class ChainHead:
    line: int  # 1-based: the index had this many lines
    sha256: str  # of its last line

    def header_value(self) -> str:
        return f"line={self.line}; sha256={self.sha256}"

    def sentence(self) -> str:
        return (f"Archive witness: index line {self.line}, SHA-256 {self.sha256}. Keep this email: it lets an "
                "auditor prove that the report archive's history up to this line was not rewritten "
                "(mailflow archive verify --witness).")

    @classmethod
    def parse(cls, value: str | None) -> ChainHead | None:
        match = _VALUE.match(value or "")
        return cls(int(match.group(1)), match.group(2)) if match else None


def with_witness(message: bytes, head: ChainHead) -> bytes:
    """The archived message as it is mailed: the chain head in a header and at the end of both bodies.
    The same bytes for the same message and head, so the receipt's hash can be checked again."""
    parsed = email.message_from_bytes(message, policy=MESSAGE_POLICY)
    parsed[HEADER] = head.header_value()
    for part in parsed.walk():
        if part.is_multipart() or part.is_attachment():
            continue
        if part.get_content_type() == "text/plain":
            part.set_content(part.get_content().rstrip("\n") + f"\n\n{head.sentence()}\n", subtype="plain",
                             cte="quoted-printable")
        elif part.get_content_type() == "text/html":
            paragraph = (f'<p style="font-family: monospace; font-size: 11px; color: #5b6673; padding: 0 16px;">'
                         f"{head.sentence()}</p>")
            html = part.get_content()
            at = html.rfind("</body>")
            part.set_content(html[:at] + paragraph + html[at:] if at >= 0 else html + paragraph, subtype="html",
                             cte="quoted-printable")
    return parsed.as_bytes()


def read_witnesses(paths: list[Path]) -> list[tuple[str, ChainHead | None]]:
    """(file, chain head or None) of every saved email given (.eml files, or folders of them)."""
    files = []
    for path in paths:
        files += sorted(p for p in path.rglob("*.eml") if p.is_file()) if path.is_dir() else [path]
    found = []
    for file in files:
        parsed = email.message_from_bytes(file.read_bytes(), policy=MESSAGE_POLICY)
        found.append((str(file), ChainHead.parse(parsed.get(HEADER))))
    return found

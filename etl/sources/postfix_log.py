"""Postfix mail logs -> trace records: one per recipient per final delivery line.

Postfix logs a message in pieces, by several processes whose lines interleave:
  smtpd[pid]    connect from HOST[IP] / ... TLS connection established from HOST[IP]: TLSv1.3 ...
                QUEUEID: client=HOST[IP][, sasl_method=..., sasl_username=...]
  pickup        QUEUEID: uid=N from=<user>          (local submission)
  cleanup       QUEUEID: message-id=<...>
  qmgr          QUEUEID: from=<sender>, size=N, nrcpt=N (queue active) / QUEUEID: removed
  smtp[pid]     ... TLS connection established to HOST[IP]:PORT: TLSv1.2 with cipher C ...
                QUEUEID: to=<rcpt>, relay=HOST[IP]:PORT, [conn_use=N, ]delay=..., status=sent (...)
  local, virtual, lmtp, pipe: QUEUEID: to=<rcpt>, relay=..., status=sent (...)
`PostfixTracker` keeps the state these lines build (per receiving session, per sending
process, per queue id) and turns each final delivery line (sent -> Delivered, bounced ->
Failed) of the day being loaded into one record with the trace contract's fields. State is
built from every line, the day's or not, so a message received before midnight and
delivered after still knows where it came from.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo

from etl.sources.connectors import ConnectorRules
from etl.sources.files import Reject

MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

# `Nov 20 08:01:02 host program[pid]: message` or `2026-11-20T08:01:02.123456+00:00 host ...`
_SYSLOG_PREFIX = (
    r"(?P<stamp>(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:?\d\d)?)"
    r"|(?P<month>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<clock>\d\d:\d\d:\d\d))"
    r" (?P<host>\S+) (?P<program>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: "
)
# short queue ids are upper-case hex; long ones (enable_long_queue_ids) use digits and consonants,
# so that words such as `warning:` or `NOQUEUE:` are never taken for one
_QUEUE_ID = r"[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}"
SYSLOG_LINE = re.compile(_SYSLOG_PREFIX + r"(?P<message>.*)")
# the two at once, as the tracker reads every line: the message's queue id, if it starts with one
POSTFIX_LINE = re.compile(_SYSLOG_PREFIX + rf"(?:(?P<qid>{_QUEUE_ID}): )?(?P<message>.*)")
CLIENT_AT = r"(?P<host>[^\[\s]*)\[(?P<ip>[^\]]*)\]"
CONNECT = re.compile(r"connect from " + CLIENT_AT)
TLS_FROM = re.compile(r"(?:\S+ )?TLS connection established from " + CLIENT_AT
                      + r": (?P<protocol>\S+) with cipher (?P<cipher>\S+)")
TLS_TO = re.compile(r"(?:\S+ )?TLS connection established to " + CLIENT_AT
                    + r":(?P<port>\d+): (?P<protocol>\S+) with cipher (?P<cipher>\S+)")
CLIENT = re.compile(r"client=" + CLIENT_AT + r"(?P<rest>.*)")
DELIVERY = re.compile(r"to=<(?P<to>[^>]*)>(?P<fields>.*?), status=(?P<status>\w+)")
RELAY_FIELD = re.compile(r", relay=([^,]*)")
RELAY = re.compile(r"(?P<host>[^\[]*)\[(?P<ip>[^\]]*)\](?::(?P<port>\d+))?")
FROM = re.compile(r"from=<(?P<sender>[^>]*)>(?:, size=(?P<size>\d+))?")

SENDING_AGENTS = {"smtp"}
LOCAL_AGENTS = {"local", "virtual", "lmtp", "pipe"}
COUNTED_AGENTS = SENDING_AGENTS | LOCAL_AGENTS
# the trace contract's columns a delivery gives, in the order of Delivery.values (Subject: never)
RECORD_COLUMNS = ("Received", "SenderAddress", "RecipientAddress", "Direction", "ConnectorName", "TlsVersion",
                  "TlsCipher", "Status", "FromIP", "ToIP", "Size", "MessageId", "MessageTraceId")
FINAL_STATUSES = {"sent": "Delivered", "bounced": "Failed"}
_UNSEEN = object()


@dataclass(slots=True)
class _Session:
    """A receiving (smtpd) session: one client connection."""

    host: str
    ip: str
    tls: str | None = None
    cipher: str | None = None


@dataclass(slots=True)
class _Connection:
    """A sending (smtp) process's connection to a relay."""

    relay: tuple[str, str, str]
    tls: str | None
    cipher: str | None
    queue_id: str | None = None  # the message it carries (others come with conn_use=N)


@dataclass(slots=True)
class _Message:
    origin: str | None = None  # smtpd, pickup or bounce
    authenticated: bool = False
    client_host: str | None = None
    client_ip: str | None = None
    tls: str | None = None
    cipher: str | None = None
    sender: str | None = None
    size: str | None = None
    message_id: str | None = None


@dataclass(slots=True)
class Delivery:
    """One record: the contract's fields as text (in RECORD_COLUMNS order), the log line it comes from."""

    line: int
    raw: str
    values: tuple[str, ...]

    @property
    def fields(self) -> dict[str, str]:
        return dict(zip(RECORD_COLUMNS, self.values, strict=True))


@dataclass
class PostfixTracker:
    day: date
    connectors: ConnectorRules = field(default_factory=ConnectorRules)
    tls_logging: bool = True  # smtpd/smtp_tls_loglevel >= 1: no TLS line means no TLS
    timezone: tzinfo = UTC  # of classic syslog timestamps, which carry none
    stats: Counter[str] = field(default_factory=Counter)
    _sessions: dict[tuple, _Session] = field(default_factory=dict)
    _connections: dict[tuple, _Connection] = field(default_factory=dict)
    _messages: dict[tuple, _Message] = field(default_factory=dict)
    _times: dict = field(default_factory=dict)  # timestamp text -> (UTC ISO text, on the day) or None
    _services: dict[str, str] = field(default_factory=dict)  # syslog program -> Postfix service, "" if none
    _relays: dict = field(default_factory=dict)  # relay= text -> what _relay reads in it

    def feed(self, number: int, line: str, source_file: str) -> Delivery | Reject | None:
        """Take one log line (without its newline); a record or a reject when it ends a delivery."""
        self.stats["lines"] += 1
        return self.feed_line(number, line, source_file)

    def feed_line(self, number: int, line: str, source_file: str) -> Delivery | Reject | None:
        """`feed`, for a reader that counts the lines it feeds itself (a block at a time). The hot
        path of a Postfix load: one call per line, so each group of the match is read once."""
        match = POSTFIX_LINE.fullmatch(line)
        if match is None:
            if not line or line.isspace():
                self.stats["lines_blank"] += 1
                return None
            return Reject(source_file, number, "unparseable_line", line)
        stamp, _, _, _, _, host, program, pid, queue_id, message = match.groups()
        timed = self._times.get(stamp, _UNSEEN)
        if timed is _UNSEEN:
            timed = self._time(stamp, match)
        if timed is None:
            return Reject(source_file, number, "unparseable_line", line)
        service = self._services.get(program)
        if service is None:
            service = self._services[program] = program.rpartition("/")[2] if is_postfix_program(program) else ""
        if not service:
            self.stats["lines_other_programs"] += 1
            return None
        received, on_day = timed
        if not on_day:
            self.stats["lines_other_days"] += 1
        if queue_id is None:
            self._session_line(service, (host, program, pid), message)
            return None
        if message.startswith("to=<") and ("status=" in message):
            return self._delivery(number, line, source_file, service, (host, program, pid), (host, queue_id),
                                  message, received, on_day)
        self._message_line(service, (host, program, pid), (host, queue_id), message)
        return None

    # -- lines that build state --------------------------------------------------------
    def _session_line(self, service: str, process: tuple, message: str) -> None:
        if service == "smtpd":
            if message.startswith("connect from "):
                connect = CONNECT.match(message)
                if connect:  # a new session: nothing carries over from the process's last one
                    self._sessions[process] = _Session(connect["host"], connect["ip"])
            elif message.startswith("disconnect from "):
                self._sessions.pop(process, None)
            elif (tls := TLS_FROM.match(message)) and (session := self._sessions.get(process)):
                session.tls, session.cipher = tls["protocol"], tls["cipher"]
        elif service in SENDING_AGENTS and (tls := TLS_TO.match(message)):
            relay = (tls["host"].lower(), tls["ip"], tls["port"])
            self._connections[process] = _Connection(relay, tls["protocol"], tls["cipher"])

    def _message_line(self, service: str, process: tuple, key: tuple, text: str) -> None:
        if service == "qmgr":
            if text == "removed":
                self._messages.pop(key, None)
            elif sender := FROM.match(text):
                message = self._message(key)
                message.sender = sender["sender"]
                message.size = sender["size"] or message.size
        elif service == "cleanup" and text.startswith("message-id="):
            self._message(key).message_id = text.removeprefix("message-id=").strip()
        elif service == "smtpd" and (client := CLIENT.match(text)):
            message = self._message(key)
            message.origin, message.client_host, message.client_ip = "smtpd", client["host"], client["ip"]
            message.authenticated = "sasl_username=" in client["rest"]
            session = self._sessions.get(process)
            if session is None or session.ip != client["ip"]:
                message.tls = "unknown"  # the session began before this log: its TLS line is not here
            else:
                message.tls = session.tls or ("none" if self.tls_logging else "unknown")
                message.cipher = session.cipher
        elif service == "pickup" and "from=<" in text:
            self._message(key).origin = "pickup"
        elif service == "bounce" and "notification:" in text:
            # `QID: sender non-delivery notification: NEWQID`: the bounce is a new, local message
            new_qid = text.rpartition(" ")[2]
            self._message((key[0], new_qid)).origin = "bounce"

    def _message(self, key: tuple) -> _Message:
        """The message of a queue id, made on its first line (not a new one per line, as setdefault would)."""
        message = self._messages.get(key)
        if message is None:
            message = self._messages[key] = _Message()
        return message

    # -- delivery lines -----------------------------------------------------------------
    def _delivery(self, number, line, source_file, service, process, key, text, received, on_day):
        delivery = DELIVERY.match(text)
        if delivery is None:
            return Reject(source_file, number, "unparseable_delivery", line) if on_day else None
        recipient, rest, status = delivery.groups()
        relay_field = RELAY_FIELD.search(rest)
        relay, relay_key = self._relay(relay_field[1] if relay_field else "")
        tls = cipher = None
        if service in SENDING_AGENTS:
            tls, cipher = self._sending_tls(process, key[1], relay_key, ", conn_use=" in rest)
        if not on_day:
            return None
        if status == "deferred":
            self.stats["deferred"] += 1
            return None
        if status not in FINAL_STATUSES or service not in COUNTED_AGENTS:
            self.stats["deliveries_not_counted"] += 1  # e.g. the error or discard agents, status=expired
            return None
        message = self._messages.get(key) or _Message()
        if service in SENDING_AGENTS:
            direction = "Outbound"
            connector = self.connectors.match("outbound", relay[0], relay[1]) if relay else None
            to_ip = relay[1] if relay else ""
        else:
            if message.origin is None:
                return Reject(source_file, number, "unknown_origin", line)  # received before this log began
            inbound = message.origin == "smtpd" and not message.authenticated
            direction = "Inbound" if inbound else "Internal"
            connector = self.connectors.match("inbound", message.client_host, message.client_ip) if inbound else None
            tls, cipher = (message.tls, message.cipher) if message.origin == "smtpd" else ("unknown", None)
            to_ip = ""
        self.stats["records"] += 1
        return Delivery(number, line, (
            received,
            message.sender or "",
            recipient,
            direction,
            connector or "",
            tls or "unknown",
            cipher or "",
            FINAL_STATUSES[status],
            message.client_ip or "",
            to_ip,
            message.size or "",
            message.message_id or "",
            key[1],
        ))

    def _relay(self, text: str) -> tuple[tuple[str, str, str] | None, tuple[str, str, str] | None]:
        """A delivery's `relay=` as (host, ip, port) and as the key of a connection (host in lower
        case); (None, None) for `none`, `local` and the like. Cached: a log names a few relays."""
        found = self._relays.get(text)
        if found is None:
            if len(self._relays) > 100_000:
                self._relays.clear()
            relay = RELAY.fullmatch(text)
            found = self._relays[text] = (relay.groups(), (relay["host"].lower(), relay["ip"], relay["port"])) \
                if relay else (None, None)
        return found

    def _sending_tls(self, process, queue_id, relay_key, reused: bool) -> tuple[str, str | None]:
        """TLS of an smtp delivery: that of the process's connection to the same relay, when this
        delivery rides on it (a recipient of the message it carries, or conn_use=N reuse)."""
        if relay_key is None:
            return "unknown", None  # relay=none: no connection was made; nothing crossed the wire
        connection = self._connections.get(process)
        if connection is not None and connection.relay == relay_key and (
                reused or connection.queue_id in (None, queue_id)):
            connection.queue_id = queue_id
            return connection.tls or self._no_tls_line, connection.cipher
        # a new connection with no TLS line of its own
        self._connections[process] = _Connection(relay_key, None, None, queue_id)
        return self._no_tls_line, None

    def _time(self, stamp: str, match: re.Match) -> tuple[str, bool] | None:
        """(the line's UTC time as ISO text, whether it falls on the day loaded); None when it is not a
        time. Cached by the timestamp's text: a busy log has many lines a second."""
        if len(self._times) > 100_000:
            self._times.clear()
        when = line_time(match, self.day, self.timezone)
        utc = when.astimezone(UTC) if when else None
        self._times[stamp] = (utc.isoformat(), utc.date() == self.day) if utc else None
        return self._times[stamp]

    @property
    def _no_tls_line(self) -> str:
        return "none" if self.tls_logging else "unknown"


def line_time(match: re.Match, day: date, timezone: tzinfo = UTC) -> datetime | None:
    """The time of a SYSLOG_LINE match, or None when it is not a real time."""
    try:
        if match["iso"]:
            when = datetime.fromisoformat(match["iso"])
            return when if when.tzinfo else when.replace(tzinfo=timezone)
        month = MONTHS.get(match["month"])
        if month is None:
            return None
        # classic syslog times carry no year: that of the day loaded, or the one before or after
        # when the line is from the other side of a new year
        year = day.year + (month - day.month < -6) - (month - day.month > 6)
        hour, minute, second = (int(part) for part in match["clock"].split(":"))
        return datetime(year, month, int(match["day"]), hour, minute, second, tzinfo=timezone)
    except ValueError:
        return None


def first_time(text: str, day: date, timezone: tzinfo = UTC) -> datetime | None:
    """The time of the first Postfix line in `text` (the start of a file), to order files by."""
    for line in text.splitlines():
        match = SYSLOG_LINE.fullmatch(line)
        if match and is_postfix_program(match["program"]):
            return line_time(match, day, timezone)
    return None


def is_postfix_program(program: str) -> bool:
    """`postfix/smtpd`, `postfix/submission/smtpd`, `postfix-out/smtp`: a Postfix daemon's syslog name."""
    return program.rpartition("/")[0].startswith("postfix")

"""An SMTP TLS report (RFC 8460, section 4.4) parsed the way real reporters need, and checked
where it matters.

Tolerant: optional fields missing (Microsoft omits sending-mta-ip), mx-host and policy-string
as a string or a list, counts as numbers or numeric strings, a UTF-8 BOM, CRLF line ends, the
RFC example's `failure-error-code` for `failure-reason-code`, fields nobody defined (kept,
as JSON, never dropped). Strict: invalid JSON, no organization-name, report-id, date-range or
policies, a range that ends before it starts, a policy without its domain, type or summary, an
unknown policy type, and a negative or non-numeric count make the whole report a Refusal with
its reason: quarantined, never dropped, never a crash.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from etl.sources.tlsrpt_files import Payload, Refusal

POLICY_TYPES = ("tlsa", "sts", "no-policy-found")
KNOWN_FIELDS = {"organization-name", "date-range", "contact-info", "report-id", "policies"}


@dataclass(frozen=True)
class FailureDetail:
    result_type: str
    failed_sessions: int
    sending_mta_ip: str | None = None
    receiving_mx_hostname: str | None = None
    receiving_mx_helo: str | None = None
    receiving_ip: str | None = None
    additional_information: str | None = None
    failure_reason_code: str | None = None


@dataclass(frozen=True)
class PolicyResult:
    policy_type: str
    policy_domain: str  # lowercase, without a trailing dot
    successful_sessions: int
    failed_sessions: int
    policy_strings: tuple[str, ...] = ()
    mx_hosts: tuple[str, ...] = ()
    failures: tuple[FailureDetail, ...] = ()


@dataclass(frozen=True)
class TlsReport:
    organization: str
    report_id: str
    start: datetime  # UTC
    end: datetime
    policies: tuple[PolicyResult, ...]
    contact_info: str | None
    source: str
    file_sha256: str
    extra: dict = field(default_factory=dict)  # fields RFC 8460 does not define, as received

    @property
    def key(self) -> tuple[str, str]:
        """What makes two copies one report (a file and a mail of the same report count once)."""
        return self.organization, self.report_id

    @property
    def day(self) -> date:
        return report_day(self.start, self.end)


def report_day(start: datetime, end: datetime) -> date:
    """The UTC day a report is filed under: the one holding the midpoint of its date-range. Most
    reports cover one UTC day (00:00:00Z to 23:59:59Z, or to 00:00:00Z the next day: both give that
    day); one covering 24 hours from 06:00Z goes to the day it starts, one straddling more goes to
    the day it mostly covers (its middle). Each report counts on one day only, so no session is
    counted twice."""
    return (start + (end - start) / 2).astimezone(UTC).date()


# RFC 8460 section 5.3: sender "!" policy-domain "!" begin-timestamp "!" end-timestamp ["!" unique-id] "." ext
_REPORT_FILE_NAME = re.compile(r"![^!/:]+!(\d{9,11})!(\d{9,11})(?:![^/:]*)?\.[a-z.]+$", re.IGNORECASE)


def day_from_name(source: str) -> date | None:
    """The day a report's RFC 8460 file name gives (its begin and end timestamps), or None."""
    match = _REPORT_FILE_NAME.search(source)
    if match is None:
        return None
    start, end = (datetime.fromtimestamp(int(value), UTC) for value in match.groups())
    return report_day(start, end) if end >= start else None


class _Invalid(ValueError):
    """A reason to quarantine the report."""


def parse_report(payload: Payload) -> TlsReport | Refusal:
    try:
        return _report(payload)
    except _Invalid as exc:
        return Refusal(payload.source, payload.file_sha256, str(exc), payload.landed, _day_hint(payload.data))


def _day_hint(data: bytes) -> date | None:
    """The day a refused report's date-range gives, if it can be read at all."""
    try:
        dates = json.loads(data.decode("utf-8-sig"))["date-range"]
        return report_day(_datetime(dates, "start-datetime"), _datetime(dates, "end-datetime"))
    except (ValueError, TypeError, KeyError, AttributeError, _Invalid):
        return None


def _report(payload: Payload) -> TlsReport:
    try:
        document = json.loads(payload.data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _Invalid(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise _Invalid(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(document, dict):
        raise _Invalid("invalid report: the JSON is not an object")
    organization = _text(document, "organization-name", "the report")
    report_id = _text(document, "report-id", "the report")
    dates = document.get("date-range")
    if not isinstance(dates, dict):
        raise _Invalid("invalid report: no date-range")
    start, end = _datetime(dates, "start-datetime"), _datetime(dates, "end-datetime")
    if end < start:
        raise _Invalid(f"invalid report: its date-range ends ({end:%Y-%m-%dT%H:%M:%SZ}) before it starts")
    policies = document.get("policies")
    if not isinstance(policies, list) or not policies:
        raise _Invalid("invalid report: no policies")
    contact = document.get("contact-info")
    return TlsReport(
        organization=organization, report_id=report_id, start=start, end=end,
        policies=tuple(_policy(entry, number) for number, entry in enumerate(policies, 1)),
        contact_info=contact if isinstance(contact, str) else None, source=payload.source,
        file_sha256=payload.file_sha256, extra={k: v for k, v in document.items() if k not in KNOWN_FIELDS})


def _policy(entry, number: int) -> PolicyResult:
    where = f"policy {number}"
    if not isinstance(entry, dict) or not isinstance(entry.get("policy"), dict):
        raise _Invalid(f"invalid report: {where} has no policy object")
    policy = entry["policy"]
    policy_type = _text(policy, "policy-type", where).lower()
    if policy_type not in POLICY_TYPES:
        raise _Invalid(f"invalid report: {where} has policy-type {policy_type!r}, not one of "
                       f"{', '.join(POLICY_TYPES)}")
    domain = _text(policy, "policy-domain", where).lower().rstrip(".")
    summary = entry.get("summary")
    if not isinstance(summary, dict):
        raise _Invalid(f"invalid report: {where} ({domain}) has no summary")
    details = entry.get("failure-details") or []
    if not isinstance(details, list):
        raise _Invalid(f"invalid report: {where} ({domain}): failure-details is not a list")
    return PolicyResult(
        policy_type=policy_type, policy_domain=domain,
        successful_sessions=_count(summary, "total-successful-session-count", f"{where} ({domain})"),
        failed_sessions=_count(summary, "total-failure-session-count", f"{where} ({domain})"),
        policy_strings=_strings(policy.get("policy-string")), mx_hosts=_strings(policy.get("mx-host")),
        failures=tuple(_failure(detail, f"{where} ({domain}) failure {n}") for n, detail in enumerate(details, 1)))


def _failure(detail, where: str) -> FailureDetail:
    if not isinstance(detail, dict):
        raise _Invalid(f"invalid report: {where} is not an object")

    def optional(name: str) -> str | None:
        value = detail.get(name)
        return str(value) if value not in (None, "") else None

    return FailureDetail(
        result_type=_text(detail, "result-type", where), failed_sessions=_count(detail, "failed-session-count", where),
        sending_mta_ip=optional("sending-mta-ip"), receiving_mx_hostname=optional("receiving-mx-hostname"),
        receiving_mx_helo=optional("receiving-mx-helo"), receiving_ip=optional("receiving-ip"),
        additional_information=optional("additional-information"),
        # the RFC's own example spells it failure-error-code
        failure_reason_code=optional("failure-reason-code") or optional("failure-error-code"))


def _text(obj: dict, name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"invalid report: {where} has no {name}")
    return value.strip()


def _count(obj: dict, name: str, where: str) -> int:
    value = obj.get(name)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"invalid report: {where}: {name} is {'missing' if value is None else repr(value)}, "
                       "not a count")
    if value < 0:
        raise _Invalid(f"invalid report: {where}: {name} is negative ({value})")
    return value


def _datetime(dates: dict, name: str) -> datetime:
    value = dates.get(name)
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z")) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise _Invalid(f"invalid report: date-range {name} is {value!r}, not an RFC 3339 date-time")
    # a time without a zone is taken as UTC, as every reporter seen means it
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _strings(value) -> tuple[str, ...]:
    """A string or a list of them (reporters write mx-host both ways)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value if v not in (None, ""))
    return ()

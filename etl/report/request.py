"""What a report is asked for: a window of UTC days and optional filters, resolved the same way
by the weekly and monthly DAGs, the CLI and backfill; and the windows before it, which the report
compares it with (the previous window, the trend, how long an insight has been firing)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta

from etl.contract import REPORTED_DIRECTIONS
from etl.errors import ReportError

MAX_WINDOW_DAYS = 366


def previous_week(day: date) -> tuple[date, date]:
    """Monday to Sunday of the ISO week before the one holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def calendar_month(year: int, month: int) -> tuple[date, date]:
    """The first and last day of a calendar month."""
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def previous_month(day: date) -> tuple[date, date]:
    """The calendar month before the one holding `day`."""
    last = day.replace(day=1) - timedelta(days=1)
    return calendar_month(last.year, last.month)


def parse_month(text: str) -> tuple[date, date]:
    """`2026-11` -> its first and last day; anything else is one error."""
    try:
        year, month = (int(part) for part in text.split("-"))
        return calendar_month(year, month)
    except ValueError:
        raise ReportError(f"a month is written YYYY-MM (2026-11), not {text!r}") from None


@dataclass(frozen=True)
class ReportRequest:
    start: date
    end: date
    connector: str | None = None  # exactly this connector
    direction: str | None = None
    connectors: tuple[str, ...] = ()  # a subscription's connectors: names or shell-style globs; () = all
    subscription: str | None = None  # the subscription it is issued for: its own archive id and recipients

    @classmethod
    def resolve(cls, *, today: date, start: date | None = None, end: date | None = None, month: str | None = None,
                connector: str | None = None, direction: str | None = None) -> ReportRequest:
        """The window asked for, with one rule for what is left out:
        a month (`2026-11`) -> that calendar month; neither day -> the Monday-to-Sunday week
        before `today`; only one -> the 7 days starting (or ending) there. `today` is the
        caller's one clock: the run's data interval end in Airflow, the UTC date at the
        command line."""
        if month is not None:
            if start is not None or end is not None:
                raise ReportError("give either a month or first and last days, not both")
            start, end = parse_month(month)
        elif start is None and end is None:
            start, end = previous_week(today)
        elif end is None:
            end = start + timedelta(days=6)
        elif start is None:
            start = end - timedelta(days=6)
        request = cls(start, end, connector or None, direction or None)
        request.check()
        return request

    def check(self) -> None:
        if self.end < self.start:
            raise ReportError(f"the window ends ({self.end}) before it starts ({self.start})")
        if self.days > MAX_WINDOW_DAYS:
            raise ReportError(f"the window is {self.days} days; at most {MAX_WINDOW_DAYS} are allowed")
        if self.direction not in (None, *REPORTED_DIRECTIONS):
            raise ReportError(f"direction must be inbound or outbound, not {self.direction!r}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        """Every day of the window."""
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def is_month(self) -> bool:
        """A whole calendar month: compared with the month before, month by month."""
        return self.start.day == 1 and (self.end + timedelta(days=1)).day == 1 and self.start.month == self.end.month

    @property
    def cadence(self) -> str | None:
        """`weekly` for a Monday-to-Sunday week, `monthly` for a calendar month: the windows that
        scheduled runs and subscriptions use."""
        if self.is_month:
            return "monthly"
        return "weekly" if self.start.weekday() == 0 and self.days == 7 else None

    @property
    def period(self) -> str:
        """What one window of this report's series is: `month`, `week`, or `<n> days`."""
        if self.is_month:
            return "month"
        return "week" if self.days == 7 else f"{self.days} day{'s' if self.days > 1 else ''}"

    def earlier(self, periods: int = 1) -> ReportRequest:
        """The window `periods` before this one, with the same filters: the calendar month before
        a monthly report's, else the same number of days just before."""
        if self.is_month:
            year, month = divmod(self.start.year * 12 + self.start.month - 1 - periods, 12)
            start, end = calendar_month(year, month + 1)
        else:
            shift = timedelta(days=self.days * periods)
            start, end = self.start - shift, self.end - shift
        return replace(self, start=start, end=end)

    def series(self, back_to: date) -> list[ReportRequest]:
        """This window and the ones before it (newest first), as far back as the last one that
        ends on or after `back_to`."""
        windows = [self]
        while windows[-1].start > back_to:
            windows.append(self.earlier(len(windows)))
        return windows

    @property
    def name(self) -> str:
        """`<start>_<end>[_connector-<name>][_<direction>][_sub-<subscription>]`, safe as a folder name."""
        name = f"{self.start.isoformat()}_{self.end.isoformat()}"
        if self.connector is not None:
            name += "_connector-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.connector)
        if self.direction is not None:
            name += f"_{self.direction}"
        if self.subscription is not None:
            name += f"_sub-{self.subscription}"
        return name

    @property
    def report_id(self) -> str:
        """`2026-W47` for a Monday-to-Sunday week and `2026-11` for a calendar month, both without
        filters; `2026-W47/<subscription>` for a subscription's report of that week; else
        `adhoc/<name>`."""
        year, week, _ = self.start.isocalendar()
        period = {"weekly": f"{year}-W{week:02d}", "monthly": f"{self.start:%Y-%m}", None: None}[self.cadence]
        if period and self.subscription is not None and self.connector is None:
            return f"{period}/{self.subscription}"
        if period and self.connector is None and self.direction is None and not self.connectors:
            return period
        return "adhoc/" + self.name

    def to_json(self) -> dict:
        """For XCom and manifests: dates as ISO text."""
        return {**asdict(self), "start": self.start.isoformat(), "end": self.end.isoformat(),
                "connectors": list(self.connectors)}

    @classmethod
    def from_json(cls, data: dict) -> ReportRequest:
        request = cls(date.fromisoformat(data["start"]), date.fromisoformat(data["end"]),
                      data.get("connector"), data.get("direction"), tuple(data.get("connectors") or ()),
                      data.get("subscription"))
        request.check()
        return request

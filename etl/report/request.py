"""What a report is asked for: a window of UTC days and optional filters, resolved the same way
by the weekly DAG, the CLI and backfill."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from etl.contract import REPORTED_DIRECTIONS
from etl.errors import ReportError

MAX_WINDOW_DAYS = 366


def previous_week(day: date) -> tuple[date, date]:
    """Monday to Sunday of the ISO week before the one holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


@dataclass(frozen=True)
class ReportRequest:
    start: date
    end: date
    connector: str | None = None
    direction: str | None = None

    @classmethod
    def resolve(cls, *, today: date, start: date | None = None, end: date | None = None,
                connector: str | None = None, direction: str | None = None) -> ReportRequest:
        """The window asked for, with one rule for what is left out:
        neither day -> the Monday-to-Sunday week before `today`; only one -> the 7 days
        starting (or ending) there. `today` is the caller's one clock: the run's data interval
        end in Airflow, the UTC date at the command line."""
        if start is None and end is None:
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

    @property
    def name(self) -> str:
        """`<start>_<end>[_connector-<name>][_<direction>]`, safe as a folder name."""
        name = f"{self.start.isoformat()}_{self.end.isoformat()}"
        if self.connector is not None:
            name += "_connector-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.connector)
        if self.direction is not None:
            name += f"_{self.direction}"
        return name

    @property
    def report_id(self) -> str:
        """`2026-W47` for a Monday-to-Sunday week without filters, else `adhoc/<name>`."""
        year, week, weekday = self.start.isocalendar()
        if weekday == 1 and self.days == 7 and self.connector is None and self.direction is None:
            return f"{year}-W{week:02d}"
        return "adhoc/" + self.name

    def to_json(self) -> dict:
        """For XCom and manifests: dates as ISO text."""
        return {**asdict(self), "start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_json(cls, data: dict) -> ReportRequest:
        request = cls(date.fromisoformat(data["start"]), date.fromisoformat(data["end"]),
                      data.get("connector"), data.get("direction"))
        request.check()
        return request

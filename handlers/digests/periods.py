"""Digest periods: calendar weeks, months and quarters in the deployment's zone."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers import catalogue
from storage.digest_days import PERIODS, first_day_of

#: The digest kinds, in the order leaders read about them (defined once, with the packed days).
KINDS: tuple[str, ...] = PERIODS


def _previous_boundary(kind: str, boundary: date) -> date:
    if kind == "week":
        return boundary - timedelta(days=7)
    months = 1 if kind == "month" else 3
    index = boundary.year * 12 + boundary.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """[first_day, end_day) in the deployment's zone; ``start``/``end`` are the instants."""

    kind: str
    first_day: date
    end_day: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(0), tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.end_day, time(0), tzinfo=self.zone)

    def previous(self) -> "Period":
        return Period(self.kind, _previous_boundary(self.kind, self.first_day), self.first_day, self.zone)

    @property
    def label(self) -> str:
        return catalogue.period_label(self.kind, self.start, self.end - timedelta(days=1))


def period_just_ended(kind: str, moment: datetime, zone: ZoneInfo) -> Period:
    """The last complete period of ``kind`` that ended at or before ``moment``."""
    end_day = first_day_of(kind, moment.astimezone(zone).date())
    return Period(kind, _previous_boundary(kind, end_day), end_day, zone)


def period_ending_on(kind: str, last_day: date, zone: ZoneInfo) -> Period:
    """The last complete period that ended on or before the end of ``last_day`` (``--end``)."""
    return period_just_ended(kind, datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone), zone)

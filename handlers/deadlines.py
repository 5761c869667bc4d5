"""First-reply and resolution deadlines from the taxonomy, in working time where it says so."""

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar

from analysis.taxonomy import Taxonomy


@cache
def is_workday(day: date) -> bool:
    """China's official calendar (holidays and adjusted workdays); Monday-Friday outside its years."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_working_time(start: datetime, allowance: timedelta, zone: ZoneInfo) -> datetime:
    """``start`` plus ``allowance`` counted only on working days (whole days, local time).

    A post on a Friday evening with a 24-hour allowance is due on Monday evening; one sent during
    the Spring Festival holiday starts counting on the first working day after it.
    """
    local = start.astimezone(zone)
    remaining = allowance
    cursor = local
    while True:
        day_end = datetime.combine(cursor.date() + timedelta(days=1), time(0), tzinfo=zone)
        if is_workday(cursor.date()):
            available = day_end - cursor
            if remaining <= available:
                return (cursor + remaining).astimezone(start.tzinfo)
            remaining -= available
        cursor = day_end


def deadlines(
    taxonomy: Taxonomy, *, category: str, urgency: str, received_at: datetime, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """(first reply due, resolution due) for a case received at ``received_at``."""
    level = taxonomy.urgency(urgency)
    first = timedelta(minutes=level.first_reply_minutes)
    # Urgent matters are resolved on the urgency's clock; ordinary ones on their category's.
    if taxonomy.urgency_rank[urgency] <= 1:
        resolve = timedelta(hours=level.resolution_hours)
    else:
        resolve = timedelta(hours=taxonomy.category(category).resolution_hours)
    if level.working_time:
        return (add_working_time(received_at, first, zone), add_working_time(received_at, resolve, zone))
    return received_at + first, received_at + resolve

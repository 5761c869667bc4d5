"""Issue 15: each unit's answer to the period's whistles (吹哨报到), for the digest's 相关单位 section.

Sign-in times and deadlines are read as they stood at the period's end; returns, extensions and the
residents' ratings as they stand now (a dispatch keeps no history of those).
"""

import statistics
from collections import defaultdict

from sqlmodel import Session

from handlers.digests.figures import UnitOutcome
from handlers.digests.periods import Period
from handlers.jurisdiction import Scope
from storage import digests as store
from storage.digests import DispatchRow
from storage.models import UnitState

_SATISFIED = ("satisfied", "basically")


def unit_outcomes(session: Session, scope: Scope, period: Period) -> tuple[UnitOutcome, ...]:
    """Every unit that was whistled in the period or still holds a case of the scope, busiest first."""
    within = scope.condition()
    rows = store.dispatches(session=session, within=within, start=period.start, end=period.end)
    waiting = store.waiting_on_units(session=session, within=within)
    by_unit: dict[str, list[DispatchRow]] = defaultdict(list)
    for row in rows:
        by_unit[row[0]].append(row)
    names = sorted(set(by_unit) | set(waiting))
    found = [_outcome(name, by_unit.get(name, []), waiting.get(name, 0), period) for name in names]
    return tuple(sorted(found, key=lambda u: (-u.whistled, -u.waiting, u.name)))


def _outcome(name: str, rows: list[DispatchRow], waiting: int, period: Period) -> UnitOutcome:
    end = period.end
    signed = [(whistled, due, at) for _, whistled, due, at, _, _, _ in rows if at is not None and at < end]
    # A return (退单) is an answer too: only whistles neither signed in nor returned count as late.
    late = sum(
        1
        for _, _, due, at, state, _, _ in rows
        if (at is None or at >= end) and due < end and state != UnitState.RETURNED
    )
    ratings = [rating for *_, state, _, rating in rows if state == UnitState.VERIFIED and rating]
    minutes = [(at - whistled).total_seconds() / 60 for whistled, _, at in signed]
    return UnitOutcome(
        name=name,
        whistled=len(rows),
        accepted=len(signed),
        accepted_on_time=sum(1 for _, due, at in signed if at <= due),
        late_unaccepted=late,
        median_accept_minutes=statistics.median(minutes) if minutes else None,
        returned=sum(1 for row in rows if row[4] == UnitState.RETURNED),
        extensions=sum(row[5] for row in rows),
        satisfied=sum(1 for rating in ratings if rating in _SATISFIED),
        rated=len(ratings),
        waiting=waiting,
    )

"""An officer leaves: their open cases go to another officer, each with a case event (移交).

Also closes resolved cases nobody rated after the configured time, as 未评价 (the scheduler's job).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers import catalogue, lifecycle
from handlers.cases import to_officer
from handlers.context import queue
from storage import repositories as repo
from storage import units as store
from storage.db import Database
from storage.models import CaseStatus


class HandoverError(ValueError):
    """The handover cannot be done; the message says why (English, for the command line)."""


@dataclass(frozen=True, slots=True)
class Handover:
    officer: str
    to: str
    codes: list[str]


def deactivate_officer(db: Database, *, officer_id: int, to_id: int | None, now: datetime) -> Handover:
    """Deactivate ``officer_id``; their open cases go to ``to_id`` (required when they hold any)."""
    with db.transaction() as session:
        leaving = repo.officer_by_id(session=session, officer_id=officer_id)
        if leaving is None:
            raise HandoverError(f"no officer with id {officer_id}")
        taker = repo.officer_by_id(session=session, officer_id=to_id) if to_id is not None else None
        if to_id is not None and (taker is None or not taker.active or taker.id == leaving.id):
            raise HandoverError(f"officer {to_id} cannot take the cases (unknown, inactive or the same officer)")
        if taker is not None and taker.unit_id is not None:
            raise HandoverError("a unit's liaison cannot take over a grid officer's cases")
        cases = store.open_cases_of_officer(session=session, officer_id=officer_id)
        if cases and taker is None:
            raise HandoverError(f"officer {officer_id} holds {len(cases)} open cases: name who takes them with --to")
        for case in cases:
            case.assignee_id = taker.id if taker else None
            lifecycle.move(
                session, case, event="handed_over", detail=f"{leaving.name} → {taker.name if taker else ''}", now=now,
            )  # fmt: skip
        leaving.active = False
        session.add(leaving)
        codes = [c.code or "" for c in cases]
        if taker is not None and codes:
            notice = catalogue.handed_over_to_officer(len(codes), leaving.name, codes)
            queue(session, to_officer(session, taker, notice, kind="notify"), now)
        return Handover(leaving.name, taker.name if taker else "", codes)


def close_unrated(db: Database, *, now: datetime, after: timedelta) -> list[str]:
    """Close resolved cases nobody rated within ``after`` of their resolution, as 未评价."""
    closed: list[str] = []
    with db.transaction() as session:
        for case in store.resolved_unrated(session=session, before=now - after):
            case.closed_at = now
            lifecycle.move(
                session, case, event="unrated_closed", to=CaseStatus.CLOSED, detail=catalogue.UNRATED, now=now
            )
            closed.append(case.code or "")
    return closed

"""Queries of the 吹哨报到 loop (issue 15): units, their people, dispatches, duplicates and handovers."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    Community,
    Dispatch,
    Household,
    Officer,
    Rating,
    Supervision,
    Unit,
    UnitState,
)

# ------------------------------------------------------------------------------------------ units


def unit_by_code_or_name(*, session: Session, key: str) -> Unit | None:
    """A unit by its code (any case) or its exact name."""
    found = session.exec(select(Unit).where(sa.func.upper(col(Unit.code)) == key.upper())).first()
    return found or session.exec(select(Unit).where(Unit.name == key)).first()


def unit_by_id(*, session: Session, unit_id: int | None) -> Unit | None:
    return session.get(Unit, unit_id) if unit_id is not None else None


def all_units(*, session: Session) -> Sequence[Unit]:
    return session.exec(select(Unit).order_by(col(Unit.id))).all()


def units_in_scope(*, session: Session, scope_code: str) -> int:
    """How many units already serve this scope (for the next unit's code)."""
    return len(session.exec(select(Unit.id).where(Unit.scope_code == scope_code)).all())


def units_serving(*, session: Session, community_id: int | None) -> Sequence[Unit]:
    """Active units whose scope is this community or its street, the community's own first."""
    if community_id is None:
        return ()
    community = session.get(Community, community_id)
    street_id = community.street_id if community else None
    query = select(Unit).where(
        col(Unit.active).is_(True), (col(Unit.community_id) == community_id) | (col(Unit.street_id) == street_id)
    )
    return sorted(session.exec(query).all(), key=lambda u: (u.community_id is None, u.id or 0))


def unit_people(*, session: Session, unit_id: int, roles: Sequence[str]) -> Sequence[Officer]:
    """A unit's active liaisons or heads, oldest first."""
    return session.exec(
        select(Officer)
        .where(Officer.unit_id == unit_id, col(Officer.role).in_(list(roles)), col(Officer.active).is_(True))
        .order_by(col(Officer.id))
    ).all()


def unit_people_counts(*, session: Session) -> dict[int, int]:
    """Enrolled-or-invited people per unit."""
    rows = session.exec(
        select(col(Officer.unit_id), sa.func.count())
        .where(col(Officer.unit_id).is_not(None))
        .group_by(col(Officer.unit_id))
    ).all()
    return {unit_id: count for unit_id, count in rows if unit_id is not None}


def cases_of_unit(*, unit_id: int | None) -> sa.ColumnElement[bool]:
    """Condition: the case is with this unit now."""
    return col(Case.unit_id) == unit_id


# ------------------------------------------------------------------------------------------ dispatches


def current_dispatch(*, session: Session, case_id: int) -> Dispatch | None:
    """The case's dispatch still held by a unit, if any (the latest)."""
    held = (UnitState.WHISTLED, UnitState.ACCEPTED, UnitState.DONE)
    return session.exec(
        select(Dispatch)
        .where(Dispatch.case_id == case_id, col(Dispatch.state).in_(held))
        .order_by(col(Dispatch.id).desc())
    ).first()


def dispatches_of_case(*, session: Session, case_id: int) -> Sequence[Dispatch]:
    return session.exec(select(Dispatch).where(Dispatch.case_id == case_id).order_by(col(Dispatch.id))).all()


@dataclass(frozen=True, slots=True)
class WaitingStep:
    """A dispatch waiting on someone past a step's deadline (the unit ladder reads these)."""

    dispatch: Dispatch
    case: Case
    step: str  # "accept", "done" or "verify"
    due: datetime
    started: datetime


def overdue_steps(*, session: Session, now: datetime) -> list[WaitingStep]:
    """Dispatches past the deadline of the step they wait in (sign-in, completion, verification)."""
    rows = session.exec(
        select(Dispatch, Case)
        .join(Case, col(Case.id) == Dispatch.case_id)
        .where(col(Dispatch.state).in_((UnitState.WHISTLED, UnitState.ACCEPTED, UnitState.DONE)))
        .order_by(col(Dispatch.id))
    ).all()
    found: list[WaitingStep] = []
    for dispatch, case in rows:
        due: datetime | None
        started: datetime | None
        if dispatch.state == UnitState.WHISTLED:
            step, due, started = "accept", dispatch.accept_due, dispatch.whistled_at
        elif dispatch.state == UnitState.ACCEPTED:
            step, due, started = "done", dispatch.done_due, dispatch.accepted_at
        else:
            step, due, started = "verify", dispatch.verify_due, dispatch.done_at
        if due is not None and started is not None and due <= now:
            found.append(WaitingStep(dispatch, case, step, due, started))
    return found


# ------------------------------------------------------------------------------------------ 督办单


def add_supervision(*, session: Session, case_id: int, leader_id: int, text: str, due: datetime, at: datetime) -> None:
    session.add(Supervision(case_id=case_id, leader_id=leader_id, text=text, due=due, created_at=at))


def overdue_supervisions(*, session: Session, now: datetime) -> Sequence[tuple[Supervision, Case]]:
    """督办单 past their deadline on cases still open."""
    return [
        (s, c)
        for s, c in session.exec(
            select(Supervision, Case)
            .join(Case, col(Case.id) == Supervision.case_id)
            .where(col(Supervision.due) <= now, col(Case.status).in_(OPEN_STATUSES))
        ).all()
    ]


# ------------------------------------------------------------------------------------------ duplicates, merging


@dataclass(frozen=True, slots=True)
class Candidate:
    """The columns the duplicate check compares (no ORM objects on intake's hot path)."""

    code: str
    household_id: int | None
    building: str
    address: str
    keywords: str


def recent_open_cases(
    *, session: Session, category: str, community_id: int | None, since: datetime, exclude_id: int, limit: int = 20
) -> list[Candidate]:
    """Open cases of the same category in the same community since ``since`` (duplicate candidates),
    newest first, read through ``ix_case_community_category_created``."""
    query = (
        sa.select(
            col(Case.code), col(Case.household_id), col(Household.building), col(Case.address), col(Case.keywords)
        )
        .join(Household, col(Household.id) == Case.household_id, isouter=True)
        .where(
            col(Case.category) == category,
            col(Case.created_at) >= since,
            col(Case.id) != exclude_id,
            col(Case.status).in_(OPEN_STATUSES),
        )
    )
    same_community = (
        col(Case.community_id).is_(None) if community_id is None else col(Case.community_id) == community_id
    )
    rows = session.execute(query.where(same_community).order_by(col(Case.created_at).desc()).limit(limit)).all()
    return [
        Candidate(code or "", household, building or "", address, keywords)
        for code, household, building, address, keywords in rows
    ]


def merged_into(*, session: Session, case_id: int) -> Sequence[Case]:
    """The duplicates folded into this case."""
    return session.exec(select(Case).where(Case.merged_into_id == case_id).order_by(col(Case.id))).all()


# ------------------------------------------------------------------------------------------ closing, handover


def resolved_unrated(*, session: Session, before: datetime, limit: int = 500) -> Sequence[Case]:
    """Resolved cases that nobody rated, resolved before ``before``."""
    rated = sa.exists().where(col(Rating.case_id) == Case.id)
    return session.exec(
        select(Case)
        .where(Case.status == CaseStatus.RESOLVED, col(Case.resolved_at) <= before, ~rated)
        .order_by(col(Case.id))
        .limit(limit)
    ).all()


def open_cases_of_officer(*, session: Session, officer_id: int) -> Sequence[Case]:
    return session.exec(
        select(Case).where(Case.assignee_id == officer_id, col(Case.status).in_(OPEN_STATUSES)).order_by(col(Case.id))
    ).all()


def unit_user_ids(*, session: Session, platform: str) -> set[str]:
    """Chat user ids on ``platform`` of units' liaisons and heads (they get the unit's command menu)."""
    from storage.models import ChatIdentity

    return set(
        session.exec(
            select(ChatIdentity.user_id)
            .join(Officer, col(Officer.id) == ChatIdentity.officer_id)
            .where(ChatIdentity.platform == platform, col(Officer.unit_id).is_not(None))
        ).all()
    )

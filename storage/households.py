"""Household membership: verified binding, approval requests, failed attempts, members (issue 13)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from storage.models import (
    OPEN_STATUSES,
    BindRequest,
    Case,
    CaseEvent,
    ChatIdentity,
    FailedAttempt,
    Grid,
    Household,
    Officer,
    Resident,
    Visit,
    VisitListSent,
)

PENDING = "pending"


def verified_household(*, session: Session, identity: ChatIdentity) -> Household | None:
    """The household this chat account is a proved member of (a legacy, unproved binding counts for nothing)."""
    if identity.resident_id is None:
        return None
    resident = session.get(Resident, identity.resident_id)
    if resident is None or not resident.verified_via:
        return None
    return session.get(Household, resident.household_id)


def bind_verified(*, session: Session, identity: ChatIdentity, household_id: int, via: str, at: datetime) -> None:
    """Make the account a proved member of the household (leaving any household it belonged to)."""
    resident = session.get(Resident, identity.resident_id) if identity.resident_id is not None else None
    if resident is None:
        resident = Resident(household_id=household_id, display_name=identity.display_name, created_at=at)
    resident.household_id = household_id
    resident.verified_via = via
    resident.verified_at = at
    session.add(resident)
    session.flush()
    identity.resident_id = resident.id
    session.add(identity)
    for request in session.exec(
        select(BindRequest).where(BindRequest.identity_id == identity.id, BindRequest.status == PENDING)
    ).all():
        request.status = "withdrawn"
        request.decided_at = at
        session.add(request)


def members(*, session: Session, household_id: int) -> Sequence[tuple[Resident, ChatIdentity]]:
    """The household's proved members with their chat accounts, in the order they joined."""
    rows = session.exec(
        select(Resident, ChatIdentity)
        .join(ChatIdentity, col(ChatIdentity.resident_id) == col(Resident.id))
        .where(Resident.household_id == household_id, col(Resident.verified_via) != "")
        .order_by(col(Resident.verified_at), col(Resident.id))
    ).all()
    return [(resident, identity) for resident, identity in rows]


def unbind(*, session: Session, identity: ChatIdentity) -> None:
    """End the account's membership (its own cases stay its own)."""
    resident = session.get(Resident, identity.resident_id) if identity.resident_id is not None else None
    identity.resident_id = None
    session.add(identity)
    session.flush()
    if resident is not None:
        session.delete(resident)


def open_request(*, session: Session, identity_id: int, household_id: int, at: datetime) -> BindRequest:
    """A new pending request; the account's earlier pending requests are withdrawn."""
    for earlier in session.exec(
        select(BindRequest).where(BindRequest.identity_id == identity_id, BindRequest.status == PENDING)
    ).all():
        earlier.status = "withdrawn"
        earlier.decided_at = at
        session.add(earlier)
    request = BindRequest(identity_id=identity_id, household_id=household_id, created_at=at)
    session.add(request)
    session.flush()
    return request


def request_by_id(*, session: Session, request_id: int) -> BindRequest | None:
    return session.get(BindRequest, request_id)


def decide_request(*, session: Session, request: BindRequest, status: str, officer_id: int, at: datetime) -> None:
    request.status = status
    request.decided_at = at
    request.decided_by = officer_id
    session.add(request)


def identity_by_id(*, session: Session, identity_id: int) -> ChatIdentity | None:
    return session.get(ChatIdentity, identity_id)


def failures_since(
    *, session: Session, platform: str, user_id: str, kind: str, since: datetime
) -> tuple[int, datetime | None]:
    """How many failed attempts of ``kind`` this account made since ``since``, and the earliest of them."""
    count, earliest = session.exec(
        select(func.count(), func.min(FailedAttempt.at)).where(
            FailedAttempt.platform == platform,
            FailedAttempt.user_id == user_id,
            FailedAttempt.kind == kind,
            col(FailedAttempt.at) > since,
        )
    ).one()
    return int(count), earliest


def record_failure(*, session: Session, platform: str, user_id: str, kind: str, at: datetime) -> None:
    session.add(FailedAttempt(platform=platform, user_id=user_id[:64], kind=kind, at=at))


# --- the household file (一户一档) and the community register (一居一册)


def household_cases(*, session: Session, household_id: int) -> Sequence[tuple[Case, str]]:
    """The household's cases, oldest first, each with the words of its latest outcome (resolved or rejected)."""
    cases = session.exec(select(Case).where(Case.household_id == household_id).order_by(col(Case.id))).all()
    if not cases:
        return []
    outcomes: dict[int, str] = {}
    for case_id, detail in session.exec(
        select(CaseEvent.case_id, CaseEvent.detail)
        .where(col(CaseEvent.case_id).in_([c.id for c in cases]), col(CaseEvent.kind).in_(("resolved", "rejected")))
        .order_by(col(CaseEvent.id))
    ).all():
        outcomes[case_id] = detail
    return [(case, outcomes.get(case.id or 0, "")) for case in cases]


def household_visits(*, session: Session, household_id: int) -> Sequence[tuple[Visit, Officer | None]]:
    rows = session.exec(
        select(Visit, Officer)
        .join(Officer, col(Officer.id) == col(Visit.officer_id), isouter=True)
        .where(Visit.household_id == household_id)
        .order_by(col(Visit.at))
    ).all()
    return [(visit, officer) for visit, officer in rows]


@dataclass(frozen=True, slots=True)
class RegisterRow:
    """One household's line in the community register, with its counts."""

    household: Household
    grid_code: str
    grid_name: str
    members: int
    cases: int
    open_cases: int
    satisfied: int
    rated: int
    visits: int
    last_visit: datetime | None


def community_register(*, session: Session, community_id: int) -> list[RegisterRow]:
    """Every household of the community with member, case, rating and visit counts, by grid and address."""
    members = dict(
        session.exec(
            select(Resident.household_id, func.count())
            .join(Household, col(Household.id) == col(Resident.household_id))
            .where(Household.community_id == community_id, col(Resident.verified_via) != "")
            .group_by(col(Resident.household_id))
        ).all()
    )
    case_counts: dict[int, tuple[int, int, int, int]] = {}
    for household_id, total, still_open, satisfied, rated in session.execute(
        sa.select(
            col(Case.household_id),
            func.count(),
            func.sum(sa.case((col(Case.status).in_(OPEN_STATUSES), 1), else_=0)),
            func.sum(sa.case((col(Case.rating).in_(("satisfied", "basically")), 1), else_=0)),
            func.sum(sa.case((col(Case.rating).is_not(None), 1), else_=0)),
        )
        .join(Household, col(Household.id) == col(Case.household_id))
        .where(col(Household.community_id) == community_id)
        .group_by(col(Case.household_id))
    ).all():
        case_counts[household_id or 0] = (int(total), int(still_open or 0), int(satisfied or 0), int(rated or 0))
    visits = {
        household_id: (int(count), last)
        for household_id, count, last in session.execute(
            sa.select(col(Visit.household_id), func.count(), func.max(col(Visit.at)))
            .join(Household, col(Household.id) == col(Visit.household_id))
            .where(col(Household.community_id) == community_id)
            .group_by(col(Visit.household_id))
        ).all()
    }
    rows = session.exec(
        select(Household, Grid)
        .join(Grid, col(Grid.id) == col(Household.grid_id))
        .where(col(Household.community_id) == community_id)
        .order_by(col(Grid.code), col(Household.building), col(Household.unit), col(Household.room))
    ).all()
    found = []
    for household, grid in rows:
        key = household.id or 0
        total, still_open, satisfied, rated = case_counts.get(key, (0, 0, 0, 0))
        count, last = visits.get(key, (0, None))
        found.append(
            RegisterRow(
                household, grid.code, grid.name, members.get(key, 0), total, still_open, satisfied, rated, count, last
            )
        )
    return found


# --- visits that count (走街不漏户): last visit per household, weekly lists sent once


def households_with_last_visit(
    *, session: Session, grid_ids: Sequence[int]
) -> Sequence[tuple[Household, datetime | None]]:
    """The grids' households with their latest visit (None: never visited), in address order."""
    last = (
        sa.select(col(Visit.household_id), func.max(col(Visit.at)).label("last"))
        .group_by(col(Visit.household_id))
        .subquery()
    )
    rows = session.execute(
        sa.select(Household, last.c.last)
        .join(last, last.c.household_id == col(Household.id), isouter=True)
        .where(col(Household.grid_id).in_(list(grid_ids)))
        .order_by(col(Household.grid_id), col(Household.building), col(Household.unit), col(Household.room))
    ).all()
    return [(household, at) for household, at in rows]


def claim_visit_list(*, session: Session, officer_id: int, week_start: datetime, at: datetime) -> bool:
    """Record that this officer's list for this week is being sent; False when it already was."""
    from storage.repositories import insert_ignoring_conflict

    return insert_ignoring_conflict(
        session,
        sa.inspect(VisitListSent).local_table,
        {"officer_id": officer_id, "week_start": week_start, "sent_at": at},
    )


def visit_coverage(
    *, session: Session, community_ids: Sequence[int], start: datetime, end: datetime
) -> list[tuple[str, int, int]]:
    """(grid code, households, households visited in [start, end)) for the communities' grids, by code."""
    visited = (
        sa.select(col(Visit.household_id)).where(col(Visit.at) >= start, col(Visit.at) < end).distinct().subquery()
    )
    rows = session.execute(
        sa.select(col(Grid.code), func.count(col(Household.id)), func.count(visited.c.household_id))
        .join(Household, col(Household.grid_id) == col(Grid.id))
        .join(visited, visited.c.household_id == col(Household.id), isouter=True)
        .where(col(Grid.community_id).in_(list(community_ids)))
        .group_by(col(Grid.code))
        .order_by(col(Grid.code))
    ).all()
    return [(code, int(total), int(seen)) for code, total, seen in rows]

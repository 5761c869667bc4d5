"""Queries behind the admin's command line: setup lookups, the training export, the case listing."""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import (
    Case,
    CaseEvent,
    CaseStatus,
    ChatGroup,
    ChatIdentity,
    Community,
    Grid,
    Household,
    InviteCode,
    Officer,
    Post,
    Resident,
    Street,
)


def street_by_code(*, session: Session, code: str) -> Street | None:
    return session.exec(select(Street).where(Street.code == code)).first()


def community_by_code(*, session: Session, code: str) -> Community | None:
    return session.exec(select(Community).where(Community.code == code)).first()


def communities_by_code(*, session: Session) -> dict[str, Community]:
    return {c.code: c for c in session.exec(select(Community)).all()}


def grids_by_code(*, session: Session) -> dict[str, Grid]:
    return {g.code: g for g in session.exec(select(Grid)).all()}


def households_by_address(*, session: Session) -> dict[tuple[int, str, str, str], Household]:
    """Every household keyed by (community id, building, unit, room)."""
    return {(h.community_id, h.building, h.unit, h.room): h for h in session.exec(select(Household)).all()}


def group_by_chat(*, session: Session, platform: str, chat_id: str) -> ChatGroup | None:
    return session.exec(select(ChatGroup).where(ChatGroup.platform == platform, ChatGroup.chat_id == chat_id)).first()


def labelled_history(*, session: Session, include_unconfirmed: bool) -> Iterator[tuple[str, str, str, str, bool]]:
    """(text, category, intent, urgency, corrected) of cases whose labels an officer stood behind.

    Confirmed means an officer corrected the category (``recategorised``) or saw the case through to
    resolution; rows stream in batches of 1,000, oldest case first.
    """
    corrected = (
        sa.exists().where(col(CaseEvent.case_id) == Case.id, col(CaseEvent.kind) == "recategorised").label("corrected")
    )
    query = (
        sa.select(col(Post.text), col(Case.category), col(Case.intent), col(Case.urgency), corrected)
        .join(Post, col(Post.id) == Case.post_id)
        .order_by(col(Case.id))
    )
    if not include_unconfirmed:
        handled = (CaseStatus.RESOLVED.value, CaseStatus.CLOSED.value)
        query = query.where(sa.or_(corrected, col(Case.status).in_(handled)))
    for text, category, intent, urgency, was_corrected in session.execute(query.execution_options(yield_per=1000)):
        yield text, category, intent, urgency, bool(was_corrected)


def case_listing(
    *, session: Session, status: str | None, limit: int | None
) -> Sequence[tuple[Case, Post, Grid | None, Household | None, Officer | None]]:
    """Cases with their post, grid, household and assignee, newest first."""
    query: Any = (
        sa.select(Case, Post, Grid, Household, Officer)
        .join(Post, col(Post.id) == Case.post_id)
        .join(Grid, col(Grid.id) == Case.grid_id, isouter=True)
        .join(Household, col(Household.id) == Case.household_id, isouter=True)
        .join(Officer, col(Officer.id) == Case.assignee_id, isouter=True)
        .order_by(col(Case.id).desc())
    )
    if status:
        query = query.where(col(Case.status) == status)
    if limit:
        query = query.limit(limit)
    return [tuple(row) for row in session.execute(query).all()]


# --- issue 13: what an admin can see of their setup


def streets_all(*, session: Session) -> Sequence[Street]:
    return session.exec(select(Street).order_by(col(Street.id))).all()


def rename_street(*, session: Session, street: Street, code: str, name: str) -> None:
    """Give the street a new code and name; officers scoped to it follow the new code."""
    for officer in session.exec(select(Officer).where(Officer.street_id == street.id)).all():
        officer.scope_code = code
        session.add(officer)
    street.code, street.name = code, name
    session.add(street)


def household_listing(
    *, session: Session, community_code: str | None
) -> Sequence[tuple[Household, Community, Grid, int]]:
    """Households with their community, grid and number of proved members, in address order."""
    members = (
        sa.select(sa.func.count())
        .select_from(Resident)
        .where(col(Resident.household_id) == Household.id, col(Resident.verified_via) != "")
        .scalar_subquery()
    )
    query: Any = (
        sa.select(Household, Community, Grid, members)
        .join(Community, col(Community.id) == Household.community_id)
        .join(Grid, col(Grid.id) == Household.grid_id)
    )
    if community_code is not None:
        query = query.where(col(Community.code) == community_code)
    order = (col(Community.code), col(Grid.code), col(Household.building), col(Household.unit), col(Household.room))
    return [tuple(row) for row in session.execute(query.order_by(*order)).all()]


def officer_listing(*, session: Session) -> Sequence[tuple[Officer, int, bool]]:
    """Officers with their number of joined chat accounts and whether an unused invite is still open."""
    accounts = (
        sa.select(sa.func.count())
        .select_from(ChatIdentity)
        .where(col(ChatIdentity.officer_id) == Officer.id)
        .scalar_subquery()
    )
    pending = (
        sa.exists().where(col(InviteCode.officer_id) == Officer.id, col(InviteCode.used_at).is_(None)).label("pending")
    )
    query = sa.select(Officer, accounts, pending).order_by(col(Officer.id))
    return [(officer, int(n), bool(p)) for officer, n, p in session.execute(query).all()]


def group_listing(*, session: Session) -> Sequence[tuple[ChatGroup, Community]]:
    query = (
        sa.select(ChatGroup, Community)
        .join(Community, col(Community.id) == ChatGroup.community_id)
        .order_by(col(ChatGroup.id))
    )
    return [(group, community) for group, community in session.execute(query).all()]


def case_with_events(
    *, session: Session, code: str
) -> (
    tuple[Case, Post, Grid | None, Household | None, Officer | None, Sequence[tuple[CaseEvent, Officer | None]]] | None
):
    """One case with its post, grid, household, assignee and every event (with the acting officer)."""
    found = session.execute(
        sa.select(Case, Post, Grid, Household, Officer)
        .join(Post, col(Post.id) == Case.post_id)
        .join(Grid, col(Grid.id) == Case.grid_id, isouter=True)
        .join(Household, col(Household.id) == Case.household_id, isouter=True)
        .join(Officer, col(Officer.id) == Case.assignee_id, isouter=True)
        .where(col(Case.code) == code)
    ).first()
    if found is None:
        return None
    case, post, grid, household, assignee = found
    events = session.execute(
        sa.select(CaseEvent, Officer)
        .join(Officer, col(Officer.id) == CaseEvent.actor_officer_id, isouter=True)
        .where(col(CaseEvent.case_id) == case.id)
        .order_by(col(CaseEvent.id))
    ).all()
    return case, post, grid, household, assignee, [(event, officer) for event, officer in events]

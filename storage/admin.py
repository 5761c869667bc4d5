"""Queries behind the admin's command line: setup lookups, the training export, the case listing."""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import Case, CaseEvent, CaseStatus, ChatGroup, Community, Grid, Household, Officer, Post, Street


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

"""Queries and writes the core needs, as keyword-only functions over a session."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, func, select

from storage.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    ChatGroup,
    ChatIdentity,
    Community,
    Grid,
    Household,
    InboundMessage,
    InviteCode,
    Officer,
    Outbox,
    Post,
    Rating,
    Resident,
    Street,
    Visit,
)


@cache
def _insert_ignoring_conflict_statement(dialect: str, table: sa.Table) -> Any:
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING tells "inserted" from "conflict" on both backends (rowcount is -1 on psycopg here).
    return builder(table).on_conflict_do_nothing().returning(table.c.id)


def insert_ignoring_conflict(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL; True when a row was written."""
    statement = _insert_ignoring_conflict_statement(session.get_bind().dialect.name, table)
    return session.execute(statement, values).first() is not None


def claim_message(*, session: Session, platform: str, chat_id: str, message_id: str, at: datetime) -> bool:
    """Record that this message is being handled; False when it already was (a redelivery)."""
    return insert_ignoring_conflict(
        session,
        sa.inspect(InboundMessage).local_table,
        {"platform": platform, "chat_id": chat_id, "message_id": message_id, "received_at": at},
    )


def get_or_create_identity(
    *, session: Session, platform: str, user_id: str, display_name: str, at: datetime
) -> ChatIdentity:
    identity = session.exec(
        select(ChatIdentity).where(ChatIdentity.platform == platform, ChatIdentity.user_id == user_id)
    ).first()
    if identity is not None:
        return identity
    insert_ignoring_conflict(
        session,
        sa.inspect(ChatIdentity).local_table,
        {"platform": platform, "user_id": user_id, "display_name": display_name[:128], "created_at": at},
    )
    return session.exec(
        select(ChatIdentity).where(ChatIdentity.platform == platform, ChatIdentity.user_id == user_id)
    ).one()


def group_for_chat(*, session: Session, platform: str, chat_id: str) -> ChatGroup | None:
    return session.exec(select(ChatGroup).where(ChatGroup.platform == platform, ChatGroup.chat_id == chat_id)).first()


def find_households(
    *, session: Session, building: str, unit: str, room: str, community_ids: Iterable[int] | None = None
) -> Sequence[Household]:
    query = select(Household).where(Household.building == building, Household.room == room)
    if unit:
        query = query.where(Household.unit == unit)
    if community_ids is not None:
        query = query.where(col(Household.community_id).in_(list(community_ids)))
    return session.exec(query.limit(5)).all()


def grid_of_building(*, session: Session, community_id: int, building: str) -> int | None:
    """The grid that holds most households of a building, when the text names only the building."""
    row = session.exec(
        select(col(Household.grid_id), func.count())
        .where(Household.community_id == community_id, Household.building == building)
        .group_by(col(Household.grid_id))
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    return row[0] if row else None


def reachable() -> sa.ColumnElement[bool]:
    """An officer who has enrolled with a chat account (``/join``): somebody a notice can reach."""
    return sa.exists(select(ChatIdentity.id).where(col(ChatIdentity.officer_id) == col(Officer.id)))


def active_officers_of_grid(*, session: Session, grid_id: int, only_reachable: bool = False) -> Sequence[Officer]:
    query = select(Officer).where(Officer.grid_id == grid_id, col(Officer.active).is_(True))
    if only_reachable:
        query = query.where(reachable())
    return session.exec(query.order_by(col(Officer.id))).all()


def open_case_loads(*, session: Session, officer_ids: Sequence[int]) -> dict[int, int]:
    """Open cases per officer (officers with none are absent)."""
    rows = session.exec(
        select(col(Case.assignee_id), func.count())
        .where(col(Case.assignee_id).in_(list(officer_ids)), col(Case.status).in_(OPEN_STATUSES))
        .group_by(col(Case.assignee_id))
    ).all()
    return {officer_id: count for officer_id, count in rows if officer_id is not None}


def active_officers(
    *,
    session: Session,
    roles: Sequence[str],
    grid_id: int | None = None,
    community_id: int | None = None,
    community_ids: Sequence[int] | None = None,
    street_id: int | None = None,
    only_reachable: bool = False,
) -> Sequence[Officer]:
    """Active officers in any of ``roles``, narrowed by each scope given, oldest first."""
    query = select(Officer).where(col(Officer.role).in_(list(roles)), col(Officer.active).is_(True))
    if only_reachable:
        query = query.where(reachable())
    if grid_id is not None:
        query = query.where(Officer.grid_id == grid_id)
    if community_id is not None:
        query = query.where(Officer.community_id == community_id)
    if community_ids is not None:
        query = query.where(col(Officer.community_id).in_(list(community_ids)))
    if street_id is not None:
        query = query.where(Officer.street_id == street_id)
    return session.exec(query.order_by(col(Officer.id))).all()


def street_of_community(*, session: Session, community_id: int | None) -> int | None:
    community = session.get(Community, community_id) if community_id is not None else None
    return community.street_id if community else None


def community_of_grid(*, session: Session, grid_id: int | None) -> int | None:
    grid = session.get(Grid, grid_id) if grid_id is not None else None
    return grid.community_id if grid else None


def community_code(*, session: Session, community_id: int) -> str | None:
    community = session.get(Community, community_id)
    return community.code if community else None


def street_code(*, session: Session, street_id: int) -> str | None:
    street = session.get(Street, street_id)
    return street.code if street else None


def street_id_by_code(*, session: Session, code: str) -> int | None:
    return session.exec(select(Street.id).where(Street.code == code)).first()


def streets(*, session: Session) -> Sequence[Street]:
    return session.exec(select(Street).order_by(col(Street.id))).all()


# Conditions on Case that scope a query; built here so handlers never spell out columns.


def cases_of_grid(*, grid_id: int | None) -> sa.ColumnElement[bool]:
    return col(Case.grid_id) == grid_id


def cases_of_community(*, community_id: int | None) -> sa.ColumnElement[bool]:
    return col(Case.community_id) == community_id


def cases_of_street(*, street_id: int | None) -> sa.ColumnElement[bool]:
    """The street's communities' cases and the cases not yet routed to any community."""
    ids = select(Community.id).where(Community.street_id == street_id)
    return col(Case.community_id).in_(ids) | col(Case.community_id).is_(None)


def cases_of_communities(*, community_ids: Sequence[int], include_unrouted: bool) -> sa.ColumnElement[bool]:
    within = col(Case.community_id).in_(list(community_ids))
    return (within | col(Case.community_id).is_(None)) if include_unrouted else within


def identities_of_officer(*, session: Session, officer_id: int) -> Sequence[ChatIdentity]:
    return session.exec(select(ChatIdentity).where(ChatIdentity.officer_id == officer_id)).all()


def case_by_id(*, session: Session, case_id: int | None) -> Case | None:
    return session.get(Case, case_id) if case_id is not None else None


def case_by_code(*, session: Session, code: str) -> Case | None:
    return session.exec(select(Case).where(Case.code == code)).first()


def post_of(*, session: Session, case: Case) -> Post:
    post = session.get(Post, case.post_id)
    if post is None:  # pragma: no cover - guarded by the foreign key
        raise LookupError(case.post_id)
    return post


_POST: sa.Table = Post.__table__  # type: ignore[attr-defined]
_CASE: sa.Table = Case.__table__  # type: ignore[attr-defined]
# Statements built once with bound parameters, so SQLAlchemy's compiled cache is hit on every post.
_INSERT_POST = sa.insert(_POST).returning(_POST.c.id)
_INSERT_CASE = sa.insert(_CASE).returning(_CASE.c.id)
_SET_CASE_CODE = sa.update(_CASE).where(_CASE.c.id == sa.bindparam("case_id")).values(code=sa.bindparam("code"))
_INSERT_EVENT = sa.insert(CaseEvent.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class FiledCase:
    id: int
    code: str


def insert_case(
    *,
    session: Session,
    post: dict[str, Any],
    case: dict[str, Any],
    code_for: Callable[[int], str],
    event: dict[str, Any],
) -> FiledCase:
    """Insert post, case (with its code) and the first event with four plain statements."""
    post_id = session.execute(_INSERT_POST, post).scalar_one()
    case_id = session.execute(_INSERT_CASE, {"post_id": post_id, "code": None, **case}).scalar_one()
    code = code_for(case_id)
    session.execute(_SET_CASE_CODE, {"case_id": case_id, "code": code})
    session.execute(
        _INSERT_EVENT,
        {"case_id": case_id, "to_status": case["status"], "from_status": None, "actor_officer_id": None, **event},
    )
    return FiledCase(id=case_id, code=code)


def add_event(
    *,
    session: Session,
    case_id: int,
    to_status: str,
    kind: str,
    at: datetime,
    detail: str = "",
    from_status: str | None = None,
    actor_identity_id: int | None = None,
    actor_officer_id: int | None = None,
) -> None:
    session.add(
        CaseEvent(
            case_id=case_id,
            kind=kind,
            at=at,
            detail=detail,
            from_status=from_status,
            to_status=to_status,
            actor_identity_id=actor_identity_id,
            actor_officer_id=actor_officer_id,
        )
    )


def events_of(*, session: Session, case_id: int) -> Sequence[CaseEvent]:
    return session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))).all()


_INSERT_OUTBOX = sa.insert(Outbox.__table__)  # type: ignore[attr-defined]


def queue_outgoing(*, session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Write messages to the outbox in the caller's transaction."""
    batch = list(rows)
    if batch:
        session.execute(_INSERT_OUTBOX, batch)


def grid_by_code(*, session: Session, code: str) -> Grid | None:
    return session.exec(select(Grid).where(Grid.code == code)).first()


def grids(*, session: Session) -> Sequence[Grid]:
    return session.exec(select(Grid).order_by(col(Grid.id))).all()


def communities(*, session: Session) -> Sequence[Community]:
    return session.exec(select(Community).order_by(col(Community.id))).all()


def household_by_id(*, session: Session, household_id: int | None) -> Household | None:
    return session.get(Household, household_id) if household_id is not None else None


def household_of_resident(*, session: Session, resident_id: int) -> Household | None:
    """The resident's household, when the membership was proved (issue 13: unproved bindings count for nothing)."""
    resident = session.get(Resident, resident_id)
    if resident is None or not resident.verified_via:
        return None
    return session.get(Household, resident.household_id)


def community_by_id(*, session: Session, community_id: int | None) -> Community | None:
    return session.get(Community, community_id) if community_id is not None else None


def officer_by_id(*, session: Session, officer_id: int | None) -> Officer | None:
    return session.get(Officer, officer_id) if officer_id is not None else None


def resident_by_id(*, session: Session, resident_id: int | None) -> Resident | None:
    return session.get(Resident, resident_id) if resident_id is not None else None


def grid_by_id(*, session: Session, grid_id: int | None) -> Grid | None:
    return session.get(Grid, grid_id) if grid_id is not None else None


def cases_of_resident(*, session: Session, identity_id: int, household_id: int | None, limit: int) -> Sequence[Case]:
    """The cases a resident reported, and their household's, newest first."""
    condition = col(Case.reporter_identity_id) == identity_id
    if household_id is not None:
        condition = condition | (col(Case.household_id) == household_id)
    return session.exec(select(Case).where(condition).order_by(col(Case.id).desc()).limit(limit)).all()


def open_cases(*, session: Session, within: sa.ColumnElement[bool] | None, limit: int) -> Sequence[Case]:
    """Open cases (within a scope condition, if given), the soonest first reply due first."""
    query = select(Case).where(col(Case.status).in_(OPEN_STATUSES))
    if within is not None:
        query = query.where(within)
    return session.exec(query.order_by(col(Case.first_reply_due)).limit(limit)).all()


def case_of_post(*, session: Session, platform: str, chat_id: str, message_id: str) -> Case | None:
    """The case filed from this chat message, if any."""
    return session.exec(
        select(Case)
        .join(Post, col(Post.id) == col(Case.post_id))
        .where(Post.platform == platform, Post.chat_id == chat_id, Post.message_id == message_id)
    ).first()


def invite_by_code(*, session: Session, code: str) -> InviteCode | None:
    return session.exec(select(InviteCode).where(InviteCode.code == code)).first()


def enrol_officer(*, session: Session, invite: InviteCode, identity: ChatIdentity, at: datetime) -> None:
    """Spend the invite and make the chat identity the invite's officer."""
    invite.used_at = at
    identity.officer_id = invite.officer_id
    session.add(invite)
    session.add(identity)


def has_rated(*, session: Session, case_id: int, identity_id: int) -> bool:
    return (
        session.exec(select(Rating.id).where(Rating.case_id == case_id, Rating.identity_id == identity_id)).first()
        is not None
    )


def insert_rating(*, session: Session, case_id: int, identity_id: int, score: str, at: datetime) -> bool:
    """Store a rating once per (case, person); False when one is already there."""
    return insert_ignoring_conflict(
        session,
        sa.inspect(Rating).local_table,
        {"case_id": case_id, "identity_id": identity_id, "score": score, "at": at},
    )


def add_visit(*, session: Session, officer_id: int, household_id: int, note: str, at: datetime) -> None:
    session.add(Visit(officer_id=officer_id, household_id=household_id, note=note, at=at))


def officer_user_ids(*, session: Session, platform: str, only: str | None = None) -> list[str]:
    """Chat user ids on ``platform`` that belong to officers (for per-officer command menus)."""
    query = select(ChatIdentity.user_id).where(
        ChatIdentity.platform == platform, col(ChatIdentity.officer_id).is_not(None)
    )
    if only is not None:
        query = query.where(ChatIdentity.user_id == only)
    return list(session.exec(query).all())


# --- issue 12: sure-or-ask -------------------------------------------------------------------------


def newest_unconfirmed_case(*, session: Session, platform: str, user_id: str) -> Case | None:
    """The newest case awaiting category confirmation assigned to the officer behind this chat account."""
    officer_id = (
        select(ChatIdentity.officer_id)
        .where(ChatIdentity.platform == platform, ChatIdentity.user_id == user_id)
        .scalar_subquery()
    )
    return session.exec(
        select(Case)
        .where(Case.assignee_id == officer_id, col(Case.unconfirmed).is_(True))
        .order_by(col(Case.id).desc())
        .limit(1)
    ).first()

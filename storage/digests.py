"""Queries of the 民情分析 digests: stored digests, the names a digest prints, critical cases, backlog.

The per-case figures come from the packed days (``storage.digest_days``); what is here reads the
few rows around them, each through an index made for it.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from storage.models import Case, Community, Digest, Dispatch, Grid, Household, Officer, Unit, UnitState
from storage.repositories import insert_ignoring_conflict


def stored_digest(*, session: Session, kind: str, scope_code: str, period_start: datetime) -> Digest | None:
    return session.exec(
        select(Digest).where(Digest.kind == kind, Digest.period_start == period_start, Digest.scope_code == scope_code)
    ).first()


def stored_figures(*, session: Session, kind: str, scope_code: str, period_start: datetime) -> str | None:
    """The figures JSON of a stored digest, without loading its text or chart."""
    return session.exec(
        select(Digest.figures).where(
            Digest.kind == kind, Digest.scope_code == scope_code, Digest.period_start == period_start
        )
    ).first()


def claim_digest(
    *,
    session: Session,
    kind: str,
    scope_code: str,
    period_start: datetime,
    period_end: datetime,
    text: str,
    figures: str,
    chart_png: bytes | None,
    at: datetime,
) -> bool:
    """Store a digest; False when another run or process stored this (kind, period, scope) first."""
    return insert_ignoring_conflict(
        session,
        sa.inspect(Digest).local_table,
        {
            "kind": kind,
            "period_start": period_start,
            "period_end": period_end,
            "scope_code": scope_code,
            "text": text,
            "figures": figures,
            "chart_png": chart_png,
            "created_at": at,
        },
    )


def digest_chart(*, session: Session, digest_id: int) -> bytes | None:
    """The chart PNG of a stored digest (what a ``digest:ID`` photo reference names)."""
    return session.exec(select(Digest.chart_png).where(Digest.id == digest_id)).first()


def grid_labels(*, session: Session, community_ids: Sequence[int]) -> dict[int | None, str]:
    """Each grid of these communities as a digest names it: its code, and its name when it has one."""
    grids = session.exec(select(Grid).where(col(Grid.community_id).in_(community_ids))).all()
    return {g.id: g.code if g.name in ("", g.code) else f"{g.code} {g.name}" for g in grids}


def officer_names(*, session: Session, officer_ids: Sequence[int]) -> dict[int | None, tuple[str, str]]:
    """(name, role) of each officer."""
    if not officer_ids:
        return {}
    officers = session.exec(select(Officer).where(col(Officer.id).in_(sorted(officer_ids)))).all()
    return {o.id: (o.name, o.role) for o in officers}


def households_by_id(*, session: Session, household_ids: Sequence[int]) -> dict[int | None, Household]:
    return {h.id: h for h in session.exec(select(Household).where(col(Household.id).in_(household_ids))).all()}


def community_names(*, session: Session) -> dict[int | None, str]:
    return {c.id: c.name for c in session.exec(select(Community)).all()}


def critical_cases(
    *, session: Session, urgency: str, within: sa.ColumnElement[bool], start: datetime, end: datetime, limit: int
) -> Sequence[tuple[str, str, str]]:
    """(code, category, status) of the ``urgency`` cases received in [start, end), oldest first."""
    rows = session.execute(
        sa.select(col(Case.code), col(Case.category), col(Case.status))
        .where(
            col(Case.urgency) == urgency,
            col(Case.created_at) >= start,
            col(Case.created_at) < end,
            within,
        )
        .order_by(col(Case.created_at), col(Case.id))
        .limit(limit)
    ).all()
    return [(code or "", category, status) for code, category, status in rows]


def backlog(*, session: Session, within: sa.ColumnElement[bool], end: datetime) -> tuple[int, int]:
    """(open, of which overdue) among cases received before ``end``, as they stand now.

    Read through the open-case partial index: the conditions repeat its predicate.
    """
    overdue = (col(Case.resolution_due) < end) | (
        col(Case.first_replied_at).is_(None) & (col(Case.first_reply_due) < end)
    )
    row = session.execute(
        sa.select(func.count(), func.coalesce(func.sum(sa.case((overdue, 1), else_=0)), 0)).where(
            col(Case.resolved_at).is_(None),
            col(Case.closed_at).is_(None),
            # Wrapped so no planner walks the created_at index over the whole table: the
            # open-case partial index (same predicate as above) is the small way in.
            func.coalesce(col(Case.created_at), col(Case.created_at)) < end,
            col(Case.resolution_due) > datetime(1970, 1, 2, tzinfo=UTC),
            within,
        )
    ).one()
    return int(row[0]), int(row[1])


#: What a digest reads of one 吹哨单: the unit, its steps' times and deadlines, and the case's rating.
DispatchRow = tuple[str, datetime, datetime, datetime | None, str, int, str | None]


def dispatches(
    *, session: Session, within: sa.ColumnElement[bool], start: datetime, end: datetime
) -> Sequence[DispatchRow]:
    """(unit name, whistled_at, accept_due, accepted_at, state, extensions, case rating) of the
    whistles made in [start, end) on cases ``within`` the scope."""
    rows = session.execute(
        sa.select(
            col(Unit.name),
            col(Dispatch.whistled_at),
            col(Dispatch.accept_due),
            col(Dispatch.accepted_at),
            col(Dispatch.state),
            col(Dispatch.extensions),
            col(Case.rating),
        )
        .select_from(Dispatch)
        .join(Unit, col(Unit.id) == Dispatch.unit_id)
        .join(Case, col(Case.id) == Dispatch.case_id)
        .where(col(Dispatch.whistled_at) >= start, col(Dispatch.whistled_at) < end, within)
    ).all()
    return [tuple(row) for row in rows]


def waiting_on_units(*, session: Session, within: sa.ColumnElement[bool]) -> dict[str, int]:
    """Cases with a unit now (whistled, signed in, or done and not yet verified), per unit name."""
    waiting = (UnitState.WHISTLED.value, UnitState.ACCEPTED.value, UnitState.DONE.value)
    rows = session.execute(
        sa.select(col(Unit.name), func.count())
        .select_from(Dispatch)
        .join(Unit, col(Unit.id) == Dispatch.unit_id)
        .join(Case, col(Case.id) == Dispatch.case_id)
        .where(col(Dispatch.state).in_(waiting), within)
        .group_by(col(Unit.name))
    ).all()
    return {str(name): int(n) for name, n in rows}

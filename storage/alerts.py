"""Queries of the overdue ladder: open cases past a deadline, and the alert levels already sent.

Both read through indexes made for them (the deadlines' partial indexes, AlertSent's unique key), so
the steady check costs what the overdue cases cost, not what the table holds.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import OPEN_STATUSES, AlertSent, Case
from storage.repositories import insert_ignoring_conflict

FIRST_REPLY = "first_reply"
RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class OverdueCase:
    """The columns the ladder needs, read straight from the partial index's rows."""

    id: int
    code: str
    category: str
    urgency: str
    grid_id: int | None
    community_id: int | None
    assignee_id: int | None
    created_at: datetime
    due: datetime


def overdue_query(kind: str, now: datetime) -> sa.Executable:
    """Open cases past the deadline of ``kind``, read through that deadline's partial index.

    The conditions repeat the index predicate word for word so both SQLite and PostgreSQL use it:
    the cost follows the number of overdue cases, not the size of the table.
    """
    if kind == FIRST_REPLY:
        due_column = col(Case.first_reply_due)
        done = col(Case.first_replied_at)
    else:
        due_column = col(Case.resolution_due)
        done = col(Case.resolved_at)
    return (
        sa.select(
            col(Case.id),
            col(Case.code),
            col(Case.category),
            col(Case.urgency),
            col(Case.grid_id),
            col(Case.community_id),
            col(Case.assignee_id),
            col(Case.created_at),
            due_column,
            col(Case.status),
        )
        # No condition on status here: SQLite would pick the status index and read every open
        # case. Closed cases have left the partial index already; the rest is filtered in Python.
        .where(done.is_(None), col(Case.closed_at).is_(None), due_column <= now)
        .order_by(due_column)
    )


def overdue_cases(*, session: Session, kind: str, now: datetime) -> list[OverdueCase]:
    return [
        OverdueCase(
            id=row[0] or 0,
            code=row[1] or "",
            category=row[2],
            urgency=row[3],
            grid_id=row[4],
            community_id=row[5],
            assignee_id=row[6],
            created_at=row[7],
            due=row[8],
        )
        for row in session.execute(overdue_query(kind, now)).all()
        if row[9] in OPEN_STATUSES
    ]


def sent_levels(*, session: Session, kind: str, case_ids: Sequence[int]) -> dict[int, set[int]]:
    """Levels already sent per case, in chunks that stay within SQLite's parameter limit."""
    sent: dict[int, set[int]] = {}
    for start in range(0, len(case_ids), 900):
        chunk = case_ids[start : start + 900]
        for case_id, level in session.exec(
            select(col(AlertSent.case_id), col(AlertSent.level)).where(
                AlertSent.kind == kind, col(AlertSent.case_id).in_(chunk)
            )
        ).all():
            sent.setdefault(case_id, set()).add(level)
    return sent


def claim_alert(*, session: Session, case_id: int, kind: str, level: int, at: datetime) -> bool:
    """Record that this alert is being sent; False when a run or process already sent it."""
    return insert_ignoring_conflict(
        session, sa.inspect(AlertSent).local_table, {"case_id": case_id, "kind": kind, "level": level, "sent_at": at}
    )

"""The outbox as senders see it: claim the head of each chat's queue under a lease, then settle it.

Several bot processes drain one outbox. Each claims rows with ``FOR UPDATE SKIP LOCKED`` and
stamps a lease (``claimed_until``) on them in the same statement's transaction, so a row is sent
by one process at a time; a process that dies leaves its leases to expire, and then the rows are
taken over. Only the oldest unsent row of a chat can be claimed, and not while it is leased, so a
chat's messages leave in order whichever process sends them. (SQLite ignores the row locks; it is
the one-process backend and its writers are serialised anyway.)
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from storage.models import Outbox

#: ``not_before`` of a message we gave up on: kept for monitoring, never retried, never blocks its chat.
GAVE_UP = datetime(9000, 1, 1, tzinfo=UTC)

_TABLE: sa.Table = Outbox.__table__  # type: ignore[attr-defined]


def _unsent(platforms: Sequence[str]) -> tuple[sa.ColumnElement[bool], ...]:
    live = col(Outbox.not_before).is_(None) | (col(Outbox.not_before) < GAVE_UP)
    return col(Outbox.sent_at).is_(None), col(Outbox.platform).in_(list(platforms)), live


def claim_heads(
    *, session: Session, platforms: Sequence[str], now: datetime, lease: timedelta, owner: str, limit: int
) -> list[Outbox]:
    """Lease the head of every chat's queue that may be sent now (oldest first) to ``owner``."""
    heads = (
        select(func.min(Outbox.id).label("id"))
        .where(*_unsent(platforms))
        .group_by(col(Outbox.platform), col(Outbox.chat_id))
        .subquery()
    )
    rows = session.exec(
        select(Outbox)
        .join(heads, heads.c.id == Outbox.id)
        .where(
            col(Outbox.sent_at).is_(None),
            col(Outbox.not_before).is_(None) | (col(Outbox.not_before) <= now),
            col(Outbox.claimed_until).is_(None) | (col(Outbox.claimed_until) <= now),
        )
        .order_by(col(Outbox.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Outbox)
    ).all()
    lease_rows(session=session, row_ids=[row.id or 0 for row in rows], until=now + lease, owner=owner)
    return list(rows)


def queued_behind(*, session: Session, head: Outbox, limit: int) -> list[Outbox]:
    """The unsent messages waiting right behind ``head`` in its chat, oldest first, locked for this pass.

    Only the head of a chat can be claimed, and ``head`` is leased by the caller, so no other process
    sends these while the caller decides which to fold into the head's send and leases those.
    """
    return list(
        session.exec(
            select(Outbox)
            .where(
                *_unsent([head.platform]),
                col(Outbox.chat_id) == head.chat_id,
                col(Outbox.id) > (head.id or 0),
            )
            .order_by(col(Outbox.id))
            .limit(limit)
            .with_for_update(skip_locked=True, of=Outbox)
        ).all()
    )


def lease_rows(*, session: Session, row_ids: Sequence[int], until: datetime, owner: str) -> None:
    """Lease these rows to ``owner`` (messages folded into a send they did not head)."""
    if row_ids:
        session.execute(
            sa.update(_TABLE).where(_TABLE.c.id.in_(list(row_ids))).values(claimed_until=until, claimed_by=owner)
        )


def next_due(*, session: Session, platforms: Sequence[str], now: datetime) -> datetime | None:
    """When the earliest waiting message (retry-after, back-off, or a lease) may be tried again."""
    waiting = session.exec(
        select(func.min(Outbox.not_before)).where(*_unsent(platforms), col(Outbox.not_before) > now)
    ).one()
    leased = session.exec(
        select(func.min(Outbox.claimed_until)).where(*_unsent(platforms), col(Outbox.claimed_until) > now)
    ).one()
    found = [moment for moment in (waiting, leased) if moment is not None]
    return min(found) if found else None


@dataclass(frozen=True, slots=True)
class Failure:
    row_id: int
    attempts: int
    not_before: datetime
    error: str


def settle(
    *,
    session: Session,
    now: datetime,
    sent: Sequence[int],
    failed: Sequence[Failure],
    released: Sequence[int],
    owner: str,
) -> None:
    """Record a pass: rows sent, rows to retry later, rows handed back untried (their chat had to wait)."""
    if sent:
        session.execute(
            sa.update(_TABLE)
            .where(_TABLE.c.id.in_(list(sent)))
            .values(sent_at=now, attempts=_TABLE.c.attempts + 1, error="", claimed_until=None)
        )
    for failure in failed:
        session.execute(
            sa.update(_TABLE)
            .where(_TABLE.c.id == failure.row_id)
            .values(
                attempts=failure.attempts, not_before=failure.not_before, error=failure.error[:500], claimed_until=None
            )
        )
    if released:
        # Only our own leases: one that expired and was taken over belongs to the new owner.
        session.execute(
            sa.update(_TABLE)
            .where(_TABLE.c.id.in_(list(released)), _TABLE.c.claimed_by == owner, _TABLE.c.sent_at.is_(None))
            .values(claimed_until=None)
        )


def depth(*, session: Session, now: datetime) -> tuple[int, float]:
    """Unsent live messages and the age in seconds of the oldest (for metrics)."""
    count, oldest = session.exec(
        select(func.count(), func.min(Outbox.created_at)).where(
            col(Outbox.sent_at).is_(None), col(Outbox.not_before).is_(None) | (col(Outbox.not_before) < GAVE_UP)
        )
    ).one()
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return int(count), max(0.0, age)

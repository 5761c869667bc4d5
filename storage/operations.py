"""Queries for running the bot as a service (issue 16): held posts, dead letters, job runs, send marks."""

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from storage.models import DeadLetter, Grid, HeldPost, JobRun, Officer, Post, SendMark
from storage.repositories import insert_ignoring_conflict

# ------------------------------------------------------------------------------------------ grids


def grids_without(*, session: Session, roles: Sequence[str], condition: sa.ColumnElement[bool]) -> list[str]:
    """Codes of grids with no active officer in ``roles`` that meets ``condition``."""
    covered = (
        select(Officer.id)
        .where(
            col(Officer.grid_id) == col(Grid.id),
            col(Officer.role).in_(list(roles)),
            col(Officer.active).is_(True),
            condition,
        )
        .exists()
    )
    return list(session.exec(select(Grid.code).where(~covered).order_by(col(Grid.code))).all())


# ------------------------------------------------------------------------------------------ job runs


def claim_job_run(*, session: Session, job: str, period: str, at: datetime) -> bool:
    """Record that ``job`` ran for ``period``; False when some process already did."""
    return insert_ignoring_conflict(session, sa.inspect(JobRun).local_table, {"job": job, "period": period, "at": at})


# ------------------------------------------------------------------------------------------ held posts


def hold_post(*, session: Session, platform: str, chat_id: str, message_id: str, payload: str, at: datetime) -> bool:
    """Keep a post of an unlinked group; False when it is held already."""
    return insert_ignoring_conflict(
        session,
        sa.inspect(HeldPost).local_table,
        {"platform": platform, "chat_id": chat_id, "message_id": message_id, "payload": payload, "held_at": at},
    )


def held_since(*, session: Session, platform: str, chat_id: str, since: datetime) -> int:
    """How many posts of this chat were held (and are still waiting) since ``since``."""
    return session.exec(
        select(func.count()).where(
            HeldPost.platform == platform,
            HeldPost.chat_id == chat_id,
            col(HeldPost.filed_at).is_(None),
            col(HeldPost.held_at) >= since,
        )
    ).one()


def waiting_held_posts(*, session: Session, platform: str, chat_id: str) -> Sequence[HeldPost]:
    """The chat's held posts not yet filed, oldest first, locked so two linkers file each once."""
    return session.exec(
        select(HeldPost)
        .where(HeldPost.platform == platform, HeldPost.chat_id == chat_id, col(HeldPost.filed_at).is_(None))
        .order_by(col(HeldPost.id))
        .with_for_update(skip_locked=True)
    ).all()


def mark_held_filed(*, session: Session, held_id: int, at: datetime) -> None:
    session.execute(sa.update(HeldPost).where(col(HeldPost.id) == held_id).values(filed_at=at))


def replace_post_text(*, session: Session, post_id: int, text: str) -> str:
    """Give a post its edited text; returns the text it had (kept in the case's history)."""
    post = session.get(Post, post_id)
    if post is None:  # pragma: no cover - guarded by the foreign key
        raise LookupError(post_id)
    old = post.text
    post.text = text
    session.add(post)
    return old


# ------------------------------------------------------------------------------------------ dead letters


def add_dead_letter(
    *, session: Session, platform: str, chat_id: str, message_id: str, payload: str, error: str, at: datetime,
    retry_at: datetime,
) -> int:  # fmt: skip
    letter = DeadLetter(
        platform=platform, chat_id=chat_id, message_id=message_id, payload=payload, error=error[:2000],
        attempts=1, next_attempt_at=retry_at, created_at=at,
    )  # fmt: skip
    session.add(letter)
    session.flush()
    return letter.id or 0


def dead_letters(*, session: Session, include_resolved: bool = False) -> Sequence[DeadLetter]:
    query = select(DeadLetter)
    if not include_resolved:
        query = query.where(col(DeadLetter.resolved_at).is_(None))
    return session.exec(query.order_by(col(DeadLetter.id))).all()


def claim_due_dead_letters(
    *, session: Session, now: datetime, lease: timedelta, limit: int = 50
) -> Sequence[DeadLetter]:
    """Unresolved letters whose next attempt is due, each leased to this caller (no other process
    takes it until ``lease`` has passed or the attempt is recorded)."""
    letters = session.exec(
        select(DeadLetter)
        .where(
            col(DeadLetter.resolved_at).is_(None),
            col(DeadLetter.next_attempt_at).is_not(None),
            col(DeadLetter.next_attempt_at) <= now,
        )
        .order_by(col(DeadLetter.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if letters:
        session.execute(
            sa.update(DeadLetter)
            .where(col(DeadLetter.id).in_([letter.id for letter in letters]))
            .values(next_attempt_at=now + lease)
        )
    return letters


def dead_letter_by_id(*, session: Session, letter_id: int) -> DeadLetter | None:
    return session.get(DeadLetter, letter_id)


def settle_dead_letter(
    *, session: Session, letter_id: int, at: datetime, error: str | None, retry_at: datetime | None
) -> None:
    """Record one retry: resolved when ``error`` is None, else the error and the next attempt (None: stop)."""
    table: sa.Table = DeadLetter.__table__  # type: ignore[attr-defined]
    values: dict[str, object] = {"attempts": table.c.attempts + 1}
    if error is None:
        values["resolved_at"] = at
    else:
        values |= {"error": error[:2000], "next_attempt_at": retry_at}
    session.execute(sa.update(table).where(table.c.id == letter_id).values(**values))


def count_dead_letters(*, session: Session) -> int:
    return session.exec(select(func.count()).where(col(DeadLetter.resolved_at).is_(None))).one()


# ------------------------------------------------------------------------------------------ send marks


def lock_rate_windows(*, session: Session, key: int) -> None:
    """Serialise rate-window checks across processes for this transaction (PostgreSQL advisory lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def sends_since(*, session: Session, key: str, since: datetime) -> tuple[int, datetime | None]:
    """How many sends ``key`` counted since ``since``, and the oldest of them."""
    count, oldest = session.exec(
        select(func.count(), func.min(SendMark.at)).where(SendMark.key == key, col(SendMark.at) > since)
    ).one()
    return int(count), oldest


def mark_sends(*, session: Session, keys: Sequence[str], at: datetime) -> None:
    session.execute(sa.insert(SendMark), [{"key": key, "at": at} for key in keys])


def forget_sends(*, session: Session, before: datetime) -> None:
    session.execute(sa.delete(SendMark).where(col(SendMark.at) < before))

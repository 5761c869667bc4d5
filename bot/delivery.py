"""The one outgoing path: drain the outbox through each platform's sender within its rate limits.

Handlers and scheduled jobs never send; they write ``Outbox`` rows in their own transaction.
``Delivery`` sends them in order per chat, marks each sent after the platform accepted it,
honours "retry after" answers, backs off on errors and never drops a message. A restart loses
nothing: whatever was not marked sent is still in the table and goes out on the next pass
(a message the platform accepted just before a crash may be sent twice; never zero times).

Each pass looks only at the oldest unsent message of every chat (its queue's head), so a chat
that must wait — a group at its 20-a-minute limit, an officer with a long backlog, a chat that
answered 429 — never holds back anyone else's messages, and nothing overtakes within a chat.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import col, func, select

from handlers.clock import Clock
from handlers.messages import OutgoingMessage
from storage.db import Database
from storage.models import Outbox

log = logging.getLogger(__name__)

#: ``not_before`` of a message we gave up on: kept for monitoring, never retried, never blocks its chat.
GAVE_UP = datetime(9000, 1, 1, tzinfo=UTC)


class RetryAfter(Exception):
    """The platform asked us to wait (Telegram 429 with ``retry_after``)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class PermanentFailure(Exception):
    """The platform will never accept this message (chat gone, bot blocked); stop retrying it."""


class Sender(Protocol):
    async def send(self, message: OutgoingMessage) -> None:
        """Send one message; raise RetryAfter or PermanentFailure, anything else is retried later."""


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Telegram's published limits by default: ~30 messages/s overall, 20/minute per group."""

    per_second: int = 30
    per_group_per_minute: int = 20
    per_private_per_second: int = 1
    max_attempts: int = 12
    #: Sends in flight at once (different chats only; one chat never has two).
    concurrency: int = 16


@dataclass(slots=True)
class _Window:
    """Timestamps of recent sends, to keep within a sliding-window limit."""

    limit: int
    span: float
    sent: deque[float] = field(default_factory=deque)

    def wait_time(self, now: float) -> float:
        while self.sent and now - self.sent[0] >= self.span:
            self.sent.popleft()
        if len(self.sent) < self.limit:
            return 0.0
        return self.span - (now - self.sent[0])

    def record(self, now: float) -> None:
        self.sent.append(now)


@dataclass(frozen=True, slots=True)
class _Outcome:
    row_id: int
    attempts: int
    sent: bool = False
    delay: timedelta | None = None
    error: str = ""
    gave_up: bool = False


class Delivery:
    def __init__(
        self,
        *,
        db: Database,
        senders: Mapping[str, Sender],
        clock: Clock,
        limits: RateLimits | None = None,
        batch: int = 500,
    ) -> None:
        self.db = db
        self.senders = senders
        self.clock = clock
        self.limits = limits or RateLimits()
        self.batch = batch
        self._global = _Window(self.limits.per_second, 1.0)
        self._chats: dict[tuple[str, str], _Window] = {}
        self._in_flight = asyncio.Semaphore(self.limits.concurrency)
        #: Set it after queueing messages so the loop sends them now instead of at its next poll.
        self.wakeup = asyncio.Event()
        self._next_due: float | None = None

    def _window(self, platform: str, chat_id: str) -> _Window:
        key = (platform, chat_id)
        window = self._chats.get(key)
        if window is None:
            # Telegram group and channel ids are negative; private chats are the user's own id.
            if chat_id.startswith("-"):
                window = _Window(self.limits.per_group_per_minute, 60.0)
            else:
                window = _Window(self.limits.per_private_per_second, 1.0)
            self._chats[key] = window
        return window

    def pending(self, now: datetime) -> list[Outbox]:
        """The head of every chat's queue that may be sent now, oldest first."""
        unsent = (col(Outbox.sent_at).is_(None), col(Outbox.platform).in_(list(self.senders)))
        live = col(Outbox.not_before).is_(None) | (col(Outbox.not_before) < GAVE_UP)
        heads = (
            select(func.min(Outbox.id).label("id"))
            .where(*unsent, live)
            .group_by(col(Outbox.platform), col(Outbox.chat_id))
            .subquery()
        )
        with self.db.transaction() as session:
            rows = session.exec(
                select(Outbox)
                .join(heads, heads.c.id == Outbox.id)
                .where(col(Outbox.not_before).is_(None) | (col(Outbox.not_before) <= now))
                .order_by(col(Outbox.id))
                .limit(self.batch)
            ).all()
            waiting = session.exec(
                select(func.min(Outbox.not_before)).where(
                    *unsent, col(Outbox.not_before) > now, col(Outbox.not_before) < GAVE_UP
                )
            ).one()
        self._note_due((waiting - now).total_seconds() if waiting is not None else None)
        return list(rows)

    def _note_due(self, seconds: float | None) -> None:
        if seconds is None:
            return
        due = time.monotonic() + max(0.0, seconds)
        self._next_due = due if self._next_due is None else min(self._next_due, due)

    async def drain_once(self) -> int:
        """Send what may be sent now; returns how many messages were delivered."""
        self._next_due = None
        rows = await asyncio.to_thread(self.pending, self.clock.now())
        sends: list[asyncio.Task[_Outcome]] = []
        for row in rows:
            window = self._window(row.platform, row.chat_id)
            tick = time.monotonic()
            wait = window.wait_time(tick)
            if wait > 0:
                self._note_due(wait)
                continue
            pause = self._global.wait_time(tick)
            while pause > 0:
                await asyncio.sleep(pause)
                tick = time.monotonic()
                pause = self._global.wait_time(tick)
            # Count the send when it starts: a failed attempt still used Telegram's budget.
            window.record(tick)
            self._global.record(tick)
            await self._in_flight.acquire()
            sends.append(asyncio.create_task(self._deliver(row)))
        outcomes = await asyncio.gather(*sends)
        if outcomes:
            await asyncio.to_thread(self._settle, outcomes)
        return sum(1 for outcome in outcomes if outcome.sent)

    async def _deliver(self, row: Outbox) -> _Outcome:
        row_id, attempts = row.id or 0, row.attempts + 1
        try:
            await self.senders[row.platform].send(OutgoingMessage.from_json(row.payload))
        except RetryAfter as answer:
            return _Outcome(row_id, attempts, delay=timedelta(seconds=answer.seconds), error=str(answer))
        except PermanentFailure as failure:
            log.warning("outbox %s to %s refused for good: %s", row_id, row.chat_id, failure)
            return _Outcome(row_id, attempts, error=str(failure), gave_up=True)
        except Exception as error:  # any transport error is retried with back-off
            log.warning("delivery of outbox %s failed: %r", row_id, error)
            if attempts >= self.limits.max_attempts:
                return _Outcome(row_id, attempts, error=repr(error), gave_up=True)
            backoff = timedelta(seconds=min(300, 2 ** min(row.attempts, 8)))
            return _Outcome(row_id, attempts, delay=backoff, error=repr(error))
        finally:
            self._in_flight.release()
        return _Outcome(row_id, attempts, sent=True)

    def _settle(self, outcomes: list[_Outcome]) -> None:
        """Record a pass's results in one transaction."""
        now = self.clock.now()
        table = Outbox.__table__  # type: ignore[attr-defined]
        with self.db.transaction() as session:
            sent = [o.row_id for o in outcomes if o.sent]
            if sent:
                session.execute(
                    sa.update(table)
                    .where(table.c.id.in_(sent))
                    .values(sent_at=now, attempts=table.c.attempts + 1, error="")
                )
            for outcome in outcomes:
                if outcome.sent:
                    continue
                not_before = GAVE_UP if outcome.gave_up else now + (outcome.delay or timedelta())
                error = ("gave up: " if outcome.gave_up else "") + outcome.error
                session.execute(
                    sa.update(table)
                    .where(table.c.id == outcome.row_id)
                    .values(attempts=outcome.attempts, not_before=not_before, error=error[:500])
                )

    async def run(self, stop: asyncio.Event, *, idle: float = 0.5) -> None:
        """Drain until ``stop`` is set; ``wakeup`` shortens the wait after new messages are queued."""
        while not stop.is_set():
            self.wakeup.clear()  # before the pass, so a wake-up during it is not lost
            try:
                sent = await self.drain_once()
            except Exception as error:  # the database may be briefly unavailable; keep the loop alive
                log.error("delivery pass failed: %r", error)
                sent = 0
            if sent:
                continue
            timeout = idle
            if self._next_due is not None:
                timeout = min(idle, max(0.005, self._next_due - time.monotonic()))
            waiters = [asyncio.ensure_future(self.wakeup.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

"""The one outgoing path: drain the outbox through each platform's sender within its rate limits.

Handlers and scheduled jobs never send; they write ``Outbox`` rows in their own transaction.
``Delivery`` sends them in order, marks each sent after the platform accepted it, honours
"retry after" answers, backs off on errors and never drops a message.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel import col, select

from handlers.clock import Clock
from handlers.messages import OutgoingMessage
from storage.db import Database
from storage.models import Outbox

log = logging.getLogger(__name__)


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


class Delivery:
    def __init__(
        self,
        *,
        db: Database,
        senders: Mapping[str, Sender],
        clock: Clock,
        limits: RateLimits | None = None,
        batch: int = 200,
    ) -> None:
        self.db = db
        self.senders = senders
        self.clock = clock
        self.limits = limits or RateLimits()
        self.batch = batch
        self._global = _Window(self.limits.per_second, 1.0)
        self._chats: dict[tuple[str, str], _Window] = {}
        self.wakeup = asyncio.Event()

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
        with self.db.transaction() as session:
            rows = session.exec(
                select(Outbox)
                .where(col(Outbox.sent_at).is_(None), col(Outbox.platform).in_(list(self.senders)))
                .where(col(Outbox.not_before).is_(None) | (col(Outbox.not_before) <= now))
                .order_by(col(Outbox.id))
                .limit(self.batch)
            ).all()
        return list(rows)

    async def drain_once(self) -> int:
        """Send what may be sent now; returns how many messages were delivered."""
        delivered = 0
        blocked: set[tuple[str, str]] = set()
        for row in self.pending(self.clock.now()):
            key = (row.platform, row.chat_id)
            if key in blocked:
                continue  # keep per-chat order: nothing overtakes a message that must wait
            window = self._window(row.platform, row.chat_id)
            tick = time.monotonic()
            if window.wait_time(tick) > 0:
                blocked.add(key)
                continue
            pause = self._global.wait_time(tick)
            if pause > 0:
                await asyncio.sleep(pause)
            message = OutgoingMessage.from_json(row.payload)
            try:
                await self.senders[row.platform].send(message)
            except RetryAfter as answer:
                blocked.add(key)
                self._postpone(row, timedelta(seconds=answer.seconds), f"retry_after={answer.seconds}")
                continue
            except PermanentFailure as failure:
                self._give_up(row, str(failure))
                continue
            except Exception as error:  # any transport error is retried with back-off
                blocked.add(key)
                log.warning("delivery of outbox %s failed: %r", row.id, error)
                backoff = timedelta(seconds=min(300, 2 ** min(row.attempts, 8)))
                if row.attempts + 1 >= self.limits.max_attempts:
                    self._give_up(row, repr(error))
                else:
                    self._postpone(row, backoff, repr(error))
                continue
            now = time.monotonic()
            window.record(now)
            self._global.record(now)
            self._mark_sent(row)
            delivered += 1
        return delivered

    async def run(self, stop: asyncio.Event, *, idle: float = 0.5) -> None:
        """Drain until ``stop`` is set; ``wakeup`` shortens the wait after new messages are queued."""
        while not stop.is_set():
            sent = await self.drain_once()
            if sent:
                continue
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=idle)

    def _mark_sent(self, row: Outbox) -> None:
        with self.db.transaction() as session:
            stored = session.get(Outbox, row.id)
            if stored is not None:
                stored.sent_at = self.clock.now()
                stored.attempts += 1
                session.add(stored)

    def _postpone(self, row: Outbox, delay: timedelta, error: str) -> None:
        with self.db.transaction() as session:
            stored = session.get(Outbox, row.id)
            if stored is not None:
                stored.attempts += 1
                stored.not_before = self.clock.now() + delay
                stored.error = error[:500]
                session.add(stored)

    def _give_up(self, row: Outbox, error: str) -> None:
        """Keep the row (never delete a message) but stop retrying; it shows up in monitoring."""
        with self.db.transaction() as session:
            stored = session.get(Outbox, row.id)
            if stored is not None:
                stored.attempts += 1
                stored.not_before = datetime.max.replace(tzinfo=self.clock.now().tzinfo)
                stored.error = ("gave up: " + error)[:500]
                session.add(stored)

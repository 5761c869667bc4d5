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
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from bot import metrics
from bot.ratelimit import LocalGate, RateGate, Window
from handlers import coalesce
from handlers.clock import Clock
from handlers.messages import OutgoingMessage
from storage import outbox
from storage.db import Database
from storage.models import Outbox
from storage.outbox import GAVE_UP

log = logging.getLogger(__name__)

__all__ = ["GAVE_UP", "Delivery", "PermanentFailure", "RateLimits", "RetryAfter", "Sender"]


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
    #: How long a claimed row stays this process's; a process that dies mid-send loses it after this.
    lease_seconds: float = 30.0
    #: Longest text of one coalesced group acknowledgement (Telegram takes 4096 characters).
    coalesce_chars: int = 3500


@dataclass(frozen=True, slots=True)
class _Outcome:
    row_id: int
    attempts: int
    sent: bool = False
    delay: timedelta | None = None
    error: str = ""
    gave_up: bool = False
    #: Not tried: its chat's window was full; handed back for a later pass.
    released: bool = False


def default_owner() -> str:
    """Who holds a lease: host and process id (and enough to tell two processes apart in logs)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


class Delivery:
    def __init__(
        self,
        *,
        db: Database,
        senders: Mapping[str, Sender],
        clock: Clock,
        limits: RateLimits | None = None,
        batch: int = 500,
        gate: RateGate | None = None,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.senders = senders
        self.clock = clock
        self.limits = limits or RateLimits()
        self.batch = batch
        self.gate: RateGate = gate or LocalGate()
        self.owner = owner or default_owner()
        self._in_flight = asyncio.Semaphore(self.limits.concurrency)
        #: Set it after queueing messages so the loop sends them now instead of at its next poll.
        self.wakeup = asyncio.Event()
        self._next_due: float | None = None

    @staticmethod
    def _is_group(chat_id: str) -> bool:
        # Telegram group and channel ids are negative; private chats are the user's own id.
        return chat_id.startswith("-")

    def _windows(self, platform: str, chat_id: str) -> tuple[Window, Window]:
        overall = Window(f"{platform}:all", self.limits.per_second, 1.0)
        if self._is_group(chat_id):
            return overall, Window(f"{platform}:chat:{chat_id}", self.limits.per_group_per_minute, 60.0)
        return overall, Window(f"{platform}:chat:{chat_id}", self.limits.per_private_per_second, 1.0)

    def claim(self) -> list[Outbox]:
        """Lease the head of every chat's queue that may be sent now, oldest first."""
        now = self.clock.now()
        lease = timedelta(seconds=self.limits.lease_seconds)
        # No more than a second's worth of sends per pass: a pass settles its rows together at the end,
        # so it must finish well inside the lease, or another process would take its rows over and send
        # them again; and a process killed mid-pass leaves at most that many sent but unmarked.
        limit = max(1, min(self.batch, self.limits.per_second))
        with self.db.transaction() as session:
            rows = outbox.claim_heads(
                session=session, platforms=list(self.senders), now=now, lease=lease, owner=self.owner, limit=limit
            )
            due = outbox.next_due(session=session, platforms=list(self.senders), now=now)
        self._note_due((due - now).total_seconds() if due is not None else None)
        return rows

    def fold(self, head: Outbox) -> list[Outbox]:
        """Lease the acknowledgements queued right behind a group's head that can go out with it as one message."""
        if not self._is_group(head.chat_id) or head.kind not in coalesce.COALESCIBLE:
            return []
        with self.db.transaction() as session:
            waiting = outbox.queued_behind(session=session, head=head, limit=coalesce.MAX_ENTRIES - 1)
            messages = [OutgoingMessage.from_json(row.payload) for row in (head, *waiting)]
            count = coalesce.fitting(messages, max_chars=self.limits.coalesce_chars)
            folded = waiting[: max(0, count - 1)]
            until = self.clock.now() + timedelta(seconds=self.limits.lease_seconds)
            outbox.lease_rows(session=session, row_ids=[row.id or 0 for row in folded], until=until, owner=self.owner)
        return folded

    def _note_due(self, seconds: float | None) -> None:
        if seconds is None:
            return
        due = time.monotonic() + max(0.0, seconds)
        self._next_due = due if self._next_due is None else min(self._next_due, due)

    async def drain_once(self) -> int:
        """Send what may be sent now; returns how many messages were delivered."""
        self._next_due = None
        rows = await asyncio.to_thread(self.claim)
        sends: list[asyncio.Task[list[_Outcome]]] = []
        released: list[_Outcome] = []
        for row in rows:
            overall, chat = self._windows(row.platform, row.chat_id)
            # A slot first, then the window: a send counted must start at once, not after a queue.
            await self._in_flight.acquire()
            verdict = await self.gate.acquire(overall, chat)
            while verdict.chat <= 0 < verdict.overall:
                await asyncio.sleep(verdict.overall)  # the whole platform is at its limit: wait, then go
                verdict = await self.gate.acquire(overall, chat)
            if not verdict.go:
                self._in_flight.release()
                self._note_due(verdict.chat)
                released.append(_Outcome(row.id or 0, row.attempts, released=True))
                continue
            folded = await asyncio.to_thread(self.fold, row)
            sends.append(asyncio.create_task(self._deliver(row, folded)))
        outcomes = [outcome for done in await asyncio.gather(*sends) for outcome in done]
        outcomes += released
        if outcomes:
            await asyncio.to_thread(self._settle, outcomes)
        return sum(1 for outcome in outcomes if outcome.sent)

    async def _deliver(self, row: Outbox, folded: list[Outbox]) -> list[_Outcome]:
        """Send a head (with the rows folded into it as one message); every row's outcome."""
        outcome = await self._send_one(row, folded)
        # Folded rows share the head's fate when sent; otherwise they go back to wait behind it.
        rest = [_Outcome(f.id or 0, f.attempts, sent=outcome.sent, released=not outcome.sent) for f in folded]
        return [outcome, *rest]

    async def _send_one(self, row: Outbox, folded: list[Outbox]) -> _Outcome:
        row_id, attempts = row.id or 0, row.attempts + 1
        message = OutgoingMessage.from_json(row.payload)
        if folded:
            message = coalesce.coalesce([message, *(OutgoingMessage.from_json(f.payload) for f in folded)])
        try:
            await self.senders[row.platform].send(message)
        except RetryAfter as answer:
            await self.gate.pause(row.platform, answer.seconds)  # every process holds back, not only this one
            metrics.SENDS.labels(row.platform, "retry_after").inc()
            return _Outcome(row_id, attempts, delay=timedelta(seconds=answer.seconds), error=str(answer))
        except PermanentFailure as failure:
            log.warning("outbox %s to %s refused for good: %s", row_id, row.chat_id, failure)
            metrics.SENDS.labels(row.platform, "refused").inc()
            return _Outcome(row_id, attempts, error=str(failure), gave_up=True)
        except Exception as error:  # any transport error is retried with back-off
            log.warning("delivery of outbox %s failed: %r", row_id, error)
            metrics.SENDS.labels(row.platform, "error").inc()
            if attempts >= self.limits.max_attempts:
                return _Outcome(row_id, attempts, error=repr(error), gave_up=True)
            backoff = timedelta(seconds=min(300, 2 ** min(row.attempts, 8)))
            return _Outcome(row_id, attempts, delay=backoff, error=repr(error))
        finally:
            self._in_flight.release()
        metrics.SENDS.labels(row.platform, "sent").inc()
        return _Outcome(row_id, attempts, sent=True)

    def _settle(self, outcomes: list[_Outcome]) -> None:
        """Record a pass's results in one transaction."""
        now = self.clock.now()
        failed = [
            outbox.Failure(
                row_id=o.row_id,
                attempts=o.attempts,
                not_before=GAVE_UP if o.gave_up else now + (o.delay or timedelta()),
                error=("gave up: " if o.gave_up else "") + o.error,
            )
            for o in outcomes
            if not o.sent and not o.released
        ]
        with self.db.transaction() as session:
            outbox.settle(
                session=session,
                now=now,
                sent=[o.row_id for o in outcomes if o.sent],
                failed=failed,
                released=[o.row_id for o in outcomes if o.released],
                owner=self.owner,
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

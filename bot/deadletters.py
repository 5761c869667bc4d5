"""Dead letters: an incoming message the core failed on is kept with its error and handled again later.

The adapters call the core through ``DeadLetters.guard``: when the core raises anything but a
``UserFacingError`` the message is written to the ``DeadLetter`` table (in its own transaction,
the failed one having rolled back) before the error goes on to the adapter's error handler, which
apologises. ``retry_due`` (run every half minute beside delivery) hands each letter to the core
again with back-off — 1 min, 5 min, 30 min, 2 h, 6 h, then only by hand — and ``minqing
deadletters list|retry`` shows and replays them. A retry that succeeds files or answers the
message as if it had just arrived; the core's idempotency (platform, chat, message id) keeps a
message that was in fact handled from being handled twice.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot import metrics
from handlers.clock import Clock
from handlers.errors import UserFacingError
from handlers.messages import HandlerResult, IncomingMessage
from storage import operations as ops
from storage.db import Database
from storage.models import DeadLetter

log = logging.getLogger(__name__)

#: Waits before the 2nd, 3rd … automatic attempt; after the last one a letter waits for `deadletters retry`.
BACKOFF: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)

Handle = Callable[[IncomingMessage], HandlerResult]


def next_attempt(attempts: int) -> timedelta | None:
    """The wait after ``attempts`` failed attempts, or None when automatic retries are over."""
    return BACKOFF[attempts - 1] if 0 < attempts <= len(BACKOFF) else None


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    letter_id: int
    ok: bool
    error: str = ""


class DeadLetters:
    def __init__(self, *, db: Database, handle: Handle, clock: Clock) -> None:
        self.db = db
        self.handle = handle
        self.clock = clock

    def guard(self, handle: Handle | None = None) -> Handle:
        """``handle`` (default: the core's) that keeps what it fails on before re-raising."""
        inner = handle or self.handle

        def guarded(msg: IncomingMessage) -> HandlerResult:
            started = time.perf_counter()
            try:
                result = inner(msg)
            except UserFacingError:
                metrics.UPDATES.labels(msg.platform, "refused").inc()
                raise
            except Exception as error:  # whatever the core failed on is kept, then reported as before
                metrics.UPDATES.labels(msg.platform, "failed").inc()
                self.keep(msg, error)
                raise
            finally:
                metrics.HANDLE_SECONDS.labels(msg.platform).observe(time.perf_counter() - started)
            outcome = "duplicate" if result.duplicate else ("refused" if result.refused else "ok")
            metrics.UPDATES.labels(msg.platform, outcome).inc()
            if not result.duplicate and not result.refused and not msg.edit_id:
                metrics.CASES.labels(msg.platform).inc(len(result.case_codes))
            return result

        return guarded

    def keep(self, msg: IncomingMessage, error: BaseException) -> int | None:
        """Write the message and its error to the dead-letter table; None if even that failed."""
        now = self.clock.now()
        wait = next_attempt(1) or timedelta()
        try:
            with self.db.transaction() as session:
                letter_id = ops.add_dead_letter(
                    session=session, platform=msg.platform, chat_id=msg.chat_id, message_id=msg.message_id,
                    payload=msg.to_json(), error=repr(error), at=now, retry_at=now + wait,
                )  # fmt: skip
        except Exception as failure:  # the database itself is what failed: the log is all that is left
            log.error("could not keep message %s/%s as a dead letter: %r", msg.chat_id, msg.message_id, failure)
            return None
        log.warning("message %s/%s kept as dead letter %s: %r", msg.chat_id, msg.message_id, letter_id, error)
        return letter_id

    def retry(self, letter: DeadLetter) -> RetryOutcome:
        """Hand one letter to the core again and record the outcome."""
        now = self.clock.now()
        error: str | None = None
        try:
            self.handle(IncomingMessage.from_json(letter.payload))
        except UserFacingError as refusal:  # the core now answers it (politely): that is handled
            log.info("dead letter %s answered with a refusal: %s", letter.id, refusal.message)
        except Exception as failure:  # still failing: keep it with the new error
            error = repr(failure)
        wait = next_attempt(letter.attempts + 1)
        with self.db.transaction() as session:
            ops.settle_dead_letter(
                session=session, letter_id=letter.id or 0, at=now, error=error,
                retry_at=now + wait if (error is not None and wait is not None) else None,
            )  # fmt: skip
        return RetryOutcome(letter.id or 0, error is None, error or "")

    def retry_due(self) -> list[RetryOutcome]:
        """Retry every letter whose next attempt is due (each by one process only)."""
        with self.db.transaction() as session:
            due = list(ops.claim_due_dead_letters(session=session, now=self.clock.now(), lease=timedelta(minutes=10)))
        return [self.retry(letter) for letter in due]

    def retry_ids(self, ids: Sequence[int] | None) -> list[RetryOutcome]:
        """Retry the given letters now (all unresolved ones when ``ids`` is None)."""
        with self.db.transaction() as session:
            letters = list(ops.dead_letters(session=session))
        wanted = [letter for letter in letters if ids is None or letter.id in ids]
        return [self.retry(letter) for letter in wanted]

    def listing(self, *, include_resolved: bool = False) -> list[DeadLetter]:
        with self.db.transaction() as session:
            return list(ops.dead_letters(session=session, include_resolved=include_resolved))

    async def run(self, stop: asyncio.Event, *, every: float = 30.0, on_handled: Callable[[], None]) -> None:
        """Retry due letters every ``every`` seconds until ``stop``."""
        while not stop.is_set():
            try:
                outcomes = await asyncio.to_thread(self.retry_due)
                if any(o.ok for o in outcomes):
                    on_handled()
            except Exception as error:  # the database may be briefly unavailable; try again next round
                log.error("dead-letter retry pass failed: %r", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

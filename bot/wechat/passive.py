"""Passive replies (被动回复) and the outbox: what WeChat already got must not go out a second time.

The core writes every reply to the outbox in the transaction that files the post. When the core
finishes within WeChat's 5 seconds, the endpoint answers with those replies in the HTTP response
instead, and this module makes sure the outbox does not send them again through the
customer-service API:

* ``PassiveReplies`` remembers, in memory, which outgoing messages went out passively. The
  customer-service sender asks it before every send; a message answered passively counts as sent
  without a request (Delivery then marks its row sent). A message whose exchange is still being
  decided (the row committed a moment before the endpoint chose) waits for the decision.
* ``AnsweredMarker`` also marks those rows sent in the database, batched, so they leave the queue
  even when the chat's queue is held up (a failing earlier message) past the memory's lifetime.

A crash between the passive answer and either record sends the reply once more through the API
after the restart (the outbox's "at least once", never zero).

The decision is made once per exchange, when the core's result arrives: passive if a request for
that message (the first or one of WeChat's retries) is still waiting within its time budget, else
everything goes through the outbox. Requests read the decision, so a timeout racing the result
cannot make both happen.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.wechat.translate import PLATFORM, TEXT_LIMIT_BYTES, render_text
from handlers.clock import Clock
from handlers.messages import HandlerResult, OutgoingMessage
from storage.db import Database
from storage.models import Outbox

log = logging.getLogger(__name__)

#: (OpenID, message id): WeChat's retries of one message share it.
Key = tuple[str, str]


@dataclass(eq=False)
class Exchange:
    """One incoming message being handled, shared by WeChat's retries of it."""

    key: Key
    handled: "asyncio.Future[HandlerResult]"
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    #: Requests for this message still within their time budget.
    waiting: int = 0
    #: The passive reply's text when one was chosen.
    reply: str | None = None
    answered: tuple[OutgoingMessage, ...] = ()
    failed: bool = False
    result: HandlerResult | None = None
    expires: float = 0.0


@dataclass(frozen=True, slots=True)
class PassiveFormat:
    """What a platform's passive answer can carry: its platform name, how a message reads, the size."""

    platform: str = PLATFORM
    render: Callable[[OutgoingMessage], str] = render_text
    limit_bytes: int = TEXT_LIMIT_BYTES
    #: Messages that cannot go passively at all (WeCom: those with buttons, which need a card).
    excluded: Callable[[OutgoingMessage], bool] = lambda message: False


WECHAT_FORMAT = PassiveFormat()


def passive_part(
    result: HandlerResult, openid: str, form: PassiveFormat = WECHAT_FORMAT
) -> tuple[OutgoingMessage, ...]:
    """The replies that fit in one passive answer: the leading run of this chat's text messages."""
    mine = [m for m in result.messages if m.platform == form.platform and m.chat_id == openid]
    chosen: list[OutgoingMessage] = []
    size = 0
    for message in mine:
        extra = len(form.render(message).encode()) + (2 if chosen else 0)
        # Stop at the first that does not fit: later ones must not overtake it through the API.
        if message.photo_ref is not None or form.excluded(message) or size + extra > form.limit_bytes:
            break
        chosen.append(message)
        size += extra
    return tuple(chosen)


class PassiveReplies:
    """In-flight and recently decided exchanges, and the messages answered passively."""

    def __init__(
        self,
        *,
        ttl: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
        on_answered: Callable[[Sequence[OutgoingMessage]], None] = lambda messages: None,
        on_failed: Callable[[Exchange], None] = lambda exchange: None,
        form: PassiveFormat = WECHAT_FORMAT,
    ) -> None:
        self.ttl = ttl
        self.form = form
        self._monotonic = monotonic
        self._exchanges: OrderedDict[Key, Exchange] = OrderedDict()
        self._answered: OrderedDict[OutgoingMessage, float] = OrderedDict()
        self._undecided: dict[str, set[Exchange]] = {}
        self.on_answered = on_answered
        self.on_failed = on_failed

    def get(self, key: Key) -> Exchange | None:
        self._expire()
        return self._exchanges.get(key)

    async def join_or_start(
        self,
        key: Key,
        start: Callable[[], "asyncio.Future[HandlerResult]"],
        *,
        deadline: float,
        on_done: Callable[["asyncio.Future[HandlerResult]"], None],
    ) -> Exchange:
        """The run a retry of this message already started, or a new one from ``start()`` (``on_done``
        called when it ends, after the exchange is decided); waits at most until ``deadline`` (the
        loop's clock) for it to be decided."""
        loop = asyncio.get_running_loop()
        exchange = self.get(key)
        if exchange is None:
            handled = start()
            exchange = self.begin(key, handled)
            handled.add_done_callback(on_done)
        if not exchange.decided.is_set():
            exchange.waiting += 1
            decided = asyncio.ensure_future(exchange.decided.wait())
            try:
                await asyncio.wait({decided}, timeout=max(0.0, deadline - loop.time()))
            finally:
                decided.cancel()
                exchange.waiting -= 1
        return exchange

    def begin(self, key: Key, handled: "asyncio.Future[HandlerResult]") -> Exchange:
        """Register the core's run for ``key``; its result decides the answer."""
        exchange = Exchange(key=key, handled=handled)
        self._exchanges[key] = exchange
        self._undecided.setdefault(key[0], set()).add(exchange)
        handled.add_done_callback(lambda _: self._decide(exchange))
        return exchange

    def _decide(self, exchange: Exchange) -> None:
        openid = exchange.key[0]
        chat = self._undecided.get(openid, set())
        chat.discard(exchange)
        if not chat:
            self._undecided.pop(openid, None)
        exchange.expires = self._monotonic() + self.ttl
        if exchange.handled.cancelled() or exchange.handled.exception() is not None:
            exchange.failed = True
            # Nothing was committed: a retry of this message must run the core again.
            self._exchanges.pop(exchange.key, None)
            exchange.decided.set()
            self.on_failed(exchange)
            return
        result = exchange.handled.result()
        exchange.result = result
        if exchange.waiting > 0 and not result.duplicate:
            exchange.answered = passive_part(result, openid, self.form)
            if exchange.answered:
                exchange.reply = "\n\n".join(self.form.render(m) for m in exchange.answered)
                for message in exchange.answered:
                    self._answered[message] = exchange.expires
                self.on_answered(exchange.answered)
        exchange.decided.set()

    async def answered(self, message: OutgoingMessage, *, wait: float = 2.0) -> bool:
        """True when ``message`` went out in a passive reply, so it must not be sent again."""
        if message in self._answered:
            return True
        pending = [e.decided.wait() for e in self._undecided.get(message.chat_id, ())]
        if pending:
            # Its row may have committed a moment before the endpoint chose; wait for the choice.
            await asyncio.wait_for(asyncio.gather(*pending), timeout=wait)
        return message in self._answered

    def _expire(self) -> None:
        now = self._monotonic()
        while self._exchanges:
            exchange = self._exchanges[next(iter(self._exchanges))]
            if not exchange.decided.is_set() or exchange.expires > now:
                break
            self._exchanges.popitem(last=False)
        while self._answered:
            expires = self._answered[next(iter(self._answered))]
            if expires > now:
                break
            self._answered.popitem(last=False)


class AnsweredMarker:
    """Mark outbox rows answered passively as sent, a batch per transaction."""

    def __init__(self, *, db: Database, clock: Clock, interval: float = 0.05, platform: str = PLATFORM) -> None:
        self.platform = platform
        self.db = db
        self.clock = clock
        self.interval = interval
        self._queued: list[OutgoingMessage] = []
        self._wakeup = asyncio.Event()

    def add(self, messages: Sequence[OutgoingMessage]) -> None:
        self._queued.extend(messages)
        self._wakeup.set()

    def flush(self, messages: Sequence[OutgoingMessage]) -> int:
        """Mark the rows of ``messages`` sent now (when not already); returns how many were marked."""
        if not messages:
            return 0
        table = Outbox.__table__  # type: ignore[attr-defined]
        marked = 0
        now: datetime = self.clock.now()
        with self.db.transaction() as session:
            by_chat: dict[str, list[str]] = {}
            for message in messages:
                by_chat.setdefault(message.chat_id, []).append(message.to_json())
            for chat_id, payloads in by_chat.items():
                updated: sa.CursorResult[Any] = session.execute(  # type: ignore[assignment]
                    sa.update(table)
                    .where(
                        table.c.sent_at.is_(None),
                        table.c.platform == self.platform,
                        table.c.chat_id == chat_id,
                        table.c.payload.in_(payloads),
                    )
                    .values(sent_at=now, error="answered passively")
                )
                marked += updated.rowcount
        return marked

    async def run(self, stop: asyncio.Event) -> None:
        """Flush batches until ``stop``; a last flush on the way out."""
        while not stop.is_set():
            waiters = [asyncio.ensure_future(self._wakeup.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            await asyncio.sleep(self.interval)  # gather a batch
            await self._flush_queued()
        await self._flush_queued()

    async def _flush_queued(self) -> None:
        self._wakeup.clear()
        batch, self._queued = self._queued, []
        if not batch:
            return
        try:
            await asyncio.to_thread(self.flush, batch)
        except Exception as error:  # the database may be briefly unavailable; the memory still guards
            log.warning("could not mark %d passive replies sent: %r", len(batch), error)


def report_handled(
    on_handled: Callable[[HandlerResult], None], what: str
) -> Callable[["asyncio.Future[HandlerResult]"], None]:
    """A done-callback for the core's run: its result to ``on_handled``, a failure to the log."""

    def done(handled: "asyncio.Future[HandlerResult]") -> None:
        if handled.cancelled():
            return
        error = handled.exception()
        if error is not None:
            log.error("handling a %s failed", what, exc_info=error)
            return
        on_handled(handled.result())

    return done

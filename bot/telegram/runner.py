"""Run a Telegram bot: polling or webhook intake, the delivery loop, and the scheduler beside them.

Polling confirms updates only after handling them: Telegram's ``getUpdates`` treats every update
before ``offset`` as confirmed, so the next call's offset moves only after the core committed
every update of the batch. A crash mid-batch means those updates come again, and the core
recognises what it already handled (same chat and message id), so nothing is lost or doubled.
Webhook mode answers 200 only after the commit, for the same reason.
"""

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.deadletters import DeadLetters
from bot.delivery import Delivery, RateLimits
from bot.health import Health, serve_health
from bot.ratelimit import RedisGate, gate_for
from bot.telegram.adapter import DEFAULT_API_URL, TelegramAdapter
from bot.telegram.bridge import Bridge
from bot.telegram.translate import PLATFORM, chat_key
from bot.wiring import App
from handlers.clock import Clock, SystemClock

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
FRAMEWORKS = ("ptb", "aiogram")

#: Starts the scheduler beside the bot; gets the app and a callback that wakes delivery, returns a handle
#: with ``shutdown()`` (or None). See ``bot.run.start_scheduler``.
SchedulerStarter = Callable[[App, Callable[[], None]], Any]


@dataclass(frozen=True, slots=True)
class TelegramOptions:
    framework: str
    token: str
    api_url: str = DEFAULT_API_URL
    #: Public HTTPS address Telegram posts to; None means long polling.
    webhook_url: str | None = None
    listen: tuple[str, int] = ("0.0.0.0", 8080)
    #: Shared by every process behind one webhook; derived from the token when not given.
    webhook_secret: str | None = None
    poll_timeout: int = 25
    poll_limit: int = 100
    #: Threads running the synchronous core; SQLite writes serialise anyway, PostgreSQL can use more.
    workers: int = 4
    limits: RateLimits = field(default_factory=RateLimits)
    #: Where /healthz, /readyz and /metrics are served in polling mode (webhook mode uses its own port).
    health_listen: tuple[str, int] | None = None


def make_adapter(framework: str, *, token: str, api_url: str) -> TelegramAdapter[Any]:
    """The adapter for ``--framework ptb|aiogram`` (imported lazily: each framework is heavy)."""
    if framework == "ptb":
        from bot.telegram.ptb_bot import PTBAdapter

        return PTBAdapter(token=token, api_url=api_url)
    if framework == "aiogram":
        from bot.telegram.aiogram_bot import AiogramAdapter

        return AiogramAdapter(token=token, api_url=api_url)
    raise ValueError(f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}")


def webhook_secret_for(token: str) -> str:
    """A secret only this bot's owner can know, the same in every process (Telegram allows [A-Za-z0-9_-])."""
    return hmac.new(token.encode(), b"minqing-webhook", hashlib.sha256).hexdigest()


async def serve_telegram(
    app: App,
    options: TelegramOptions,
    *,
    stop: asyncio.Event,
    delivery_clock: Clock | None = None,
    start_scheduler: SchedulerStarter | None = None,
) -> None:
    """Run until ``stop`` is set."""
    adapter = make_adapter(options.framework, token=options.token, api_url=options.api_url)
    executor = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="minqing-core")
    gate = gate_for(
        app.db, SystemClock(), redis_url=app.settings.redis_url, prefix=app.settings.redis_prefix
    )  # shared by every process on this database (issue 16)
    delivery = Delivery(
        db=app.db, senders={PLATFORM: adapter}, clock=delivery_clock or SystemClock(), limits=options.limits, gate=gate
    )
    scheduler: Any = None
    tasks: list[asyncio.Task[None]] = []
    health = Health(app.db, model_loaded=lambda: app.core.analyzer.classifier is not None)
    health_runner: web.AppRunner | None = None
    try:
        me = await adapter.start()
        if me.username and me.username.lower() != app.core.settings.bot_username.lower():
            # Mentions and "/cmd@name" must be read against the bot's real name.
            app.core.settings = dataclasses.replace(app.core.settings, bot_username=me.username)
        dead_letters = DeadLetters(db=app.db, handle=app.core.handle, clock=app.core.clock)
        bridge = Bridge(
            core=app.core, db=app.db, bot=me, actions=adapter, executor=executor, on_queued=delivery.wakeup.set,
            handle=dead_letters.guard(),
        )  # fmt: skip
        adapter.attach(bridge)
        log.info("telegram bot @%s (%s) started", me.username, options.framework)
        tasks.append(asyncio.create_task(delivery.run(stop), name="delivery"))
        tasks.append(asyncio.create_task(_register_menus(bridge), name="menus"))
        tasks.append(asyncio.create_task(dead_letters.run(stop, on_handled=delivery.wakeup.set), name="dead-letters"))

        # ---- Scheduler (issue 5, schedules/): digests, overdue alerts, surveys ------------------
        # Started here, beside intake and delivery, so its messages go out through the same outbox.
        if start_scheduler is not None:
            scheduler = start_scheduler(app, delivery.wakeup.set)
        # -----------------------------------------------------------------------------------------

        if options.webhook_url:
            await run_webhook(adapter, options, stop, health=health)
        else:
            if options.health_listen is not None:
                health_runner = await serve_health(health, *options.health_listen)
            await run_polling(adapter, options, stop)
    finally:
        stop.set()
        if health_runner is not None:
            await health_runner.cleanup()
        health.close()
        if scheduler is not None:
            scheduler.shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)
        await adapter.close()
        if isinstance(gate, RedisGate):
            await gate.close()
        executor.shutdown(wait=True)


async def _register_menus(bridge: Bridge) -> None:
    try:
        await bridge.register_menus()
    except Exception as error:  # menus are a convenience; the bot works without them
        log.warning("could not set command menus: %r", error)


async def handle_batch(adapter: TelegramAdapter[Any], updates: Sequence[Any]) -> None:
    """Handle updates of different chats concurrently and each chat's updates in order."""
    by_chat: dict[str, list[Any]] = defaultdict(list)
    for update in updates:
        by_chat[chat_key(adapter.to_json(update))].append(update)

    async def one_chat(queue: list[Any]) -> None:
        for update in queue:
            await adapter.feed(update)

    await asyncio.gather(*(one_chat(queue) for queue in by_chat.values()))


async def run_polling(adapter: TelegramAdapter[Any], options: TelegramOptions, stop: asyncio.Event) -> None:
    """Long-poll until ``stop``; an update's offset is confirmed only after it was handled."""
    await adapter.delete_webhook()  # getUpdates answers 409 while a webhook is set
    offset: int | None = None
    failures = 0
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            poll = asyncio.ensure_future(
                adapter.get_updates(offset=offset, wait_seconds=options.poll_timeout, limit=options.poll_limit)
            )
            await asyncio.wait({poll, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not poll.done():
                poll.cancel()  # stopping: whatever this poll would return comes again next time
                break
            try:
                updates = poll.result()
            except Exception as error:  # network trouble or a 409 from another poller: wait and retry
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.warning("getUpdates failed (%r); retrying in %.1fs", error, delay)
                await asyncio.wait({stopped}, timeout=delay)
                continue
            failures = 0
            if updates:
                await handle_batch(adapter, updates)
                offset = max(adapter.update_id(u) for u in updates) + 1
    finally:
        stopped.cancel()
    if offset is not None:
        try:  # confirm the last batch now rather than making the next start handle it again
            await adapter.get_updates(offset=offset, wait_seconds=0, limit=1)
        except Exception as error:  # harmless: the next start sees those updates as duplicates
            log.info("final offset confirmation failed: %r", error)


async def run_webhook(
    adapter: TelegramAdapter[Any], options: TelegramOptions, stop: asyncio.Event, *, health: Health | None = None
) -> None:
    """Serve the webhook (and the health endpoints) on ``options.listen`` until ``stop``."""
    assert options.webhook_url is not None
    secret = options.webhook_secret or webhook_secret_for(options.token)
    path = urlsplit(options.webhook_url).path or "/"
    server = web.Application()
    server.router.add_post(path, WebhookEndpoint(adapter, secret).handle)
    if health is not None:
        health.routes(server)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    host, port = options.listen
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        await adapter.set_webhook(options.webhook_url, secret)
        log.info("webhook %s served on %s:%s", options.webhook_url, host, port)
        await stop.wait()
    finally:
        # The webhook stays set: Telegram keeps updates while we are down and delivers them later.
        await runner.cleanup()


class WebhookEndpoint:
    """POST handler: verify the secret, handle the update, answer 200 only once it is committed."""

    def __init__(self, adapter: TelegramAdapter[Any], secret: str) -> None:
        self.adapter = adapter
        self.secret = secret.encode()
        # One lock per chat keeps a chat's updates in order when Telegram posts them concurrently.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            log.warning("webhook request from %s with a wrong secret refused", request.remote)
            return web.Response(status=401, text="unauthorized")
        try:
            raw = await request.json()
            update = self.adapter.parse(raw)
        except (ValueError, KeyError, TypeError):  # not JSON, or not an update
            return web.Response(status=400, text="bad update")
        key = chat_key(raw)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            await self.adapter.feed(update)
        return web.Response(text="ok")

"""`minqing run --platform wechat`: the endpoint, outbox delivery (customer-service API and WeCom
robots) and the scheduler, in one process."""

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.deadletters import DeadLetters
from bot.delivery import Delivery, RateLimits, Sender
from bot.health import Health
from bot.ratelimit import RateGate, gate_for
from bot.serving import SchedulerStarter, WebhookParts, serve_until_stopped
from bot.settings import Settings
from bot.wechat.crypto import MessageCrypto
from bot.wechat.customer_service import DEFAULT_API_URL, AccessTokens, CustomerServiceSender
from bot.wechat.endpoint import MAX_BODY_BYTES, WeChatEndpoint
from bot.wechat.passive import AnsweredMarker, Exchange, PassiveReplies
from bot.wechat.translate import PLATFORM
from bot.wechat.wecom import PLATFORM as WECOM
from bot.wechat.wecom import RobotSender
from bot.wiring import App
from handlers.clock import Clock, SystemClock
from handlers.digests import chart_png
from handlers.messages import HandlerResult, IncomingMessage
from storage.db import Database

log = logging.getLogger(__name__)

DEFAULT_ROBOT = "default"


class WeChatConfigError(ValueError):
    """Settings that cannot run the Official Account; the message says what to set."""


class WeChatTuning(BaseSettings):
    """Sizes and limits for unusual deployments and load tests; the defaults suit WeChat."""

    model_config = SettingsConfigDict(env_prefix="MINQING_WECHAT_", env_file=".env", extra="ignore")

    #: Seconds a request waits for the core before answering "success" (WeChat gives up at 5).
    passive_budget: float = 4.0
    max_body_bytes: int = MAX_BODY_BYTES
    workers: int = 4
    robot_per_minute: int = 20


@dataclass(frozen=True, slots=True)
class WeChatOptions:
    token: str
    appid: str
    secret: str
    aes_key: str | None = None
    api_url: str = DEFAULT_API_URL
    listen: tuple[str, int] = ("0.0.0.0", 8080)
    #: WeCom robot name → webhook URL.
    robots: Mapping[str, str] = field(default_factory=dict)
    passive_budget: float = 4.0
    max_body_bytes: int = MAX_BODY_BYTES
    workers: int = 4
    robot_per_minute: int = 20
    robot_span: float = 60.0
    limits: RateLimits = field(default_factory=RateLimits)


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def wechat_options(settings: Settings, *, listen: tuple[str, int], api_url: str | None) -> WeChatOptions:
    """Options from settings and the command line; raises WeChatConfigError naming what is missing."""
    token, secret = _secret(settings.wechat_token), _secret(settings.wechat_secret)
    missing = [
        name
        for name, value in (
            ("MINQING_WECHAT_TOKEN", token),
            ("MINQING_WECHAT_APPID", settings.wechat_appid),
            ("MINQING_WECHAT_SECRET", secret),
        )
        if not value
    ]
    if missing:
        raise WeChatConfigError(f"set {', '.join(missing)} (from the Official Account's 基本配置 page)")
    aes_key = _secret(settings.wechat_aes_key) or None
    if aes_key is None and not settings.wechat_plain_mode:
        raise WeChatConfigError(
            "set MINQING_WECHAT_AES_KEY (safe mode), or MINQING_WECHAT_PLAIN_MODE=true to accept unencrypted"
            " messages: in plain mode a captured request can be replayed with another body (see README)"
        )
    if aes_key is not None:
        try:
            MessageCrypto(token=token, aes_key=aes_key, appid=settings.wechat_appid)
        except ValueError as error:
            raise WeChatConfigError(f"MINQING_WECHAT_AES_KEY: {error}") from error
    robots = {name: _secret(url) for name, url in settings.wecom_robots.items()}
    if settings.wecom_webhook_url is not None:
        robots.setdefault(DEFAULT_ROBOT, _secret(settings.wecom_webhook_url))
    tuning = WeChatTuning()
    return WeChatOptions(
        token=token,
        appid=settings.wechat_appid,
        secret=secret,
        aes_key=aes_key,
        api_url=api_url or DEFAULT_API_URL,
        listen=listen,
        robots=robots,
        passive_budget=tuning.passive_budget,
        max_body_bytes=tuning.max_body_bytes,
        workers=tuning.workers,
        robot_per_minute=tuning.robot_per_minute,
    )


def chart_loader(db: Database) -> Callable[[str], Any]:
    """Load the PNG a ``photo_ref`` names ("digest:12"), off the event loop."""

    async def load(ref: str) -> bytes | None:
        return await asyncio.to_thread(chart_png, db, ref)

    return load


class WeChatService(WebhookParts):
    """Endpoint, delivery and passive-reply bookkeeping, started and stopped together."""

    def __init__(
        self,
        *,
        handle: Callable[[IncomingMessage], HandlerResult],
        apologise: Callable[[str, str, str | None], None],
        db: Database,
        clock: Clock,
        options: WeChatOptions,
        delivery_clock: Clock | None = None,
        gate: RateGate | None = None,
        health: Health | None = None,
    ) -> None:
        self.options = options
        self.gate = gate
        self.health = health
        self.apologise = apologise
        self.db = db
        self.clock = clock
        self.stop = asyncio.Event()
        self.executor = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="minqing-wechat")
        self.marker = AnsweredMarker(db=db, clock=clock)
        self.replies = PassiveReplies(on_answered=self.marker.add, on_failed=self._apologise)
        crypto = (
            MessageCrypto(token=options.token, aes_key=options.aes_key, appid=options.appid)
            if options.aes_key
            else None
        )
        self.endpoint = WeChatEndpoint(
            handle=handle,
            token=options.token,
            crypto=crypto,
            replies=self.replies,
            executor=self.executor,
            passive_budget=options.passive_budget,
            on_handled=self._wake_delivery,
        )
        self.delivery_clock = delivery_clock or SystemClock()
        self.http: aiohttp.ClientSession | None = None
        self.delivery: Delivery | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def web_app(self) -> web.Application:
        server = web.Application(client_max_size=self.options.max_body_bytes)
        self.endpoint.routes(server)
        if self.health is not None:
            self.health.routes(server)  # /healthz, /readyz, /metrics beside /wechat (issue 16)
        return server

    async def start(self) -> int:
        """Serve on ``options.listen`` and start delivery; returns the bound port (0 picks one)."""
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        load = chart_loader(self.db)
        tokens = AccessTokens(
            http=self.http, api_url=self.options.api_url, appid=self.options.appid, secret=self.options.secret
        )
        senders: dict[str, Sender] = {
            PLATFORM: CustomerServiceSender(http=self.http, tokens=tokens, passive=self.replies, load_photo=load)
        }
        if self.options.robots:
            senders[WECOM] = RobotSender(
                http=self.http,
                robots=self.options.robots,
                load_photo=load,
                per_minute=self.options.robot_per_minute,
                span=self.options.robot_span,
            )
        self.delivery = Delivery(
            db=self.db, senders=senders, clock=self.delivery_clock, limits=self.options.limits, gate=self.gate
        )
        self._tasks = [
            asyncio.create_task(self.delivery.run(self.stop), name="wechat-delivery"),
            asyncio.create_task(self.marker.run(self.stop), name="wechat-passive-marker"),
        ]
        self._runner = web.AppRunner(self.web_app(), access_log=None)
        await self._runner.setup()
        host, port = self.options.listen
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = int(self._runner.addresses[0][1]) if self._runner.addresses else port
        mode = "safe" if self.options.aes_key else "plain"
        log.info("WeChat endpoint on http://%s:%s/wechat (%s mode)", host, bound, mode)
        return bound

    def _wake_delivery(self, result: HandlerResult) -> None:
        if result.messages:
            self.wake_delivery()

    def _apologise(self, exchange: Exchange) -> None:
        """The core failed after WeChat got "success": tell the user through the outbox."""
        if exchange.waiting:
            return  # a waiting request answers with the apology itself
        openid, message_id = exchange.key

        def queue() -> None:
            self.apologise(PLATFORM, openid, message_id)

        async def best_effort() -> None:
            try:
                await asyncio.to_thread(queue)
                self.wake_delivery()
            except Exception as error:  # the database is what failed; the log is all that is left
                log.error("could not queue the apology to %s: %r", openid, error)

        self._tasks.append(asyncio.ensure_future(best_effort()))


async def serve_wechat(
    app: App,
    options: WeChatOptions,
    *,
    stop: asyncio.Event,
    start_scheduler: SchedulerStarter | None = None,
) -> None:
    """Run until ``stop`` is set."""
    dead_letters = DeadLetters(db=app.db, handle=app.core.handle, clock=app.core.clock)
    gate = gate_for(app.db, SystemClock(), redis_url=app.settings.redis_url, prefix=app.settings.redis_prefix)
    service = WeChatService(
        handle=dead_letters.guard(), apologise=app.core.apologise, db=app.db, clock=app.core.clock, options=options,
        gate=gate,
    )  # fmt: skip
    await serve_until_stopped(service, app=app, dead_letters=dead_letters, stop=stop, start_scheduler=start_scheduler)


def run_wechat(settings: Settings, options: WeChatOptions) -> None:
    """Serve the Official Account until SIGINT or SIGTERM."""
    from bot.run import serve_until_signalled, start_scheduler

    serve_until_signalled(
        settings, lambda app, stop: serve_wechat(app, options, stop=stop, start_scheduler=start_scheduler)
    )

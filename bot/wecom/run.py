"""`minqing run --platform wecom`: the robot's callback endpoint, outbox delivery and the scheduler."""

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.deadletters import DeadLetters
from bot.delivery import Delivery, RateLimits, Sender
from bot.serving import SchedulerStarter, WebhookParts, serve_until_stopped
from bot.settings import Settings
from bot.wechat.crypto import MessageCrypto
from bot.wechat.passive import AnsweredMarker, PassiveFormat, PassiveReplies
from bot.wechat.run import DEFAULT_ROBOT, chart_loader
from bot.wechat.wecom import RobotSender
from bot.wecom.endpoint import MAX_BODY_BYTES, PATH, TIMESTAMP_WINDOW, WeComEndpoint
from bot.wecom.sender import AppMessages, ResponseUrls, WeComSender
from bot.wecom.wire import PLATFORM, STREAM_LIMIT_BYTES, render_text
from bot.wiring import App
from handlers.clock import Clock, SystemClock
from handlers.messages import CallbackQuery, HandlerResult, IncomingMessage
from storage.db import Database

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://qyapi.weixin.qq.com"
#: Replies with buttons need a template card, which a stream answer cannot carry.
WECOM_FORMAT = PassiveFormat(
    platform=PLATFORM, render=render_text, limit_bytes=STREAM_LIMIT_BYTES, excluded=lambda m: bool(m.buttons)
)


class WeComConfigError(ValueError):
    """Settings that cannot run the robot; the message says what to set."""


class WeComSettings(BaseSettings):
    """The intelligent robot's settings (MINQING_WECOM_BOT_*) and the self-built app for one-to-one fallbacks."""

    model_config = SettingsConfigDict(env_prefix="MINQING_WECOM_", env_file=".env", extra="ignore")

    bot_token: SecretStr | None = None
    bot_aes_key: SecretStr | None = None
    #: Seconds a callback waits for the core before answering empty (WeCom gives up after about 5).
    bot_passive_budget: float = 4.0
    bot_timestamp_window: float = TIMESTAMP_WINDOW
    bot_workers: int = 4
    bot_max_body_bytes: int = MAX_BODY_BYTES
    #: Every group @-mention is a case (False: triage decides, as for unaddressed group chatter).
    bot_mention_files: bool = False
    #: Group chatid → name of a push robot (MINQING_WECOM_ROBOTS) in that group: the fallback route.
    group_robots: dict[str, str] = Field(default_factory=dict)
    corpid: str = ""
    app_secret: SecretStr | None = None
    agentid: int = 0
    robot_per_minute: int = 20


@dataclass(frozen=True, slots=True)
class WeComOptions:
    token: str
    aes_key: str
    listen: tuple[str, int] = ("0.0.0.0", 8080)
    api_url: str = DEFAULT_API_URL
    robots: Mapping[str, str] = field(default_factory=dict)
    group_robots: Mapping[str, str] = field(default_factory=dict)
    corpid: str = ""
    app_secret: str = ""
    agentid: int = 0
    passive_budget: float = 4.0
    timestamp_window: float = TIMESTAMP_WINDOW
    workers: int = 4
    max_body_bytes: int = MAX_BODY_BYTES
    mention_files: bool = False
    robot_per_minute: int = 20
    no_route_wait: float = 30.0
    limits: RateLimits = field(default_factory=lambda: RateLimits(per_private_per_second=5))


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def wecom_options(settings: Settings, *, listen: tuple[str, int], api_url: str | None) -> WeComOptions:
    """Options from settings and the command line; raises WeComConfigError naming what is missing."""
    tuning = WeComSettings()
    token, aes_key = _secret(tuning.bot_token), _secret(tuning.bot_aes_key)
    if not token or not aes_key:
        raise WeComConfigError(
            "set MINQING_WECOM_BOT_TOKEN and MINQING_WECOM_BOT_AES_KEY (the robot's API 模式 Token and EncodingAESKey)"
        )
    try:
        MessageCrypto(token=token, aes_key=aes_key, appid="")
    except ValueError as error:
        raise WeComConfigError(f"MINQING_WECOM_BOT_AES_KEY: {error}") from error
    robots = {name: _secret(url) for name, url in settings.wecom_robots.items()}
    if settings.wecom_webhook_url is not None:
        robots.setdefault(DEFAULT_ROBOT, _secret(settings.wecom_webhook_url))
    unknown = sorted(name for name in tuning.group_robots.values() if name not in robots)
    if unknown:
        raise WeComConfigError(f"MINQING_WECOM_GROUP_ROBOTS names robots not in MINQING_WECOM_ROBOTS: {unknown}")
    app_secret = _secret(tuning.app_secret)
    if app_secret and (not tuning.corpid or not tuning.agentid):
        raise WeComConfigError("the app fallback needs MINQING_WECOM_CORPID and MINQING_WECOM_AGENTID as well")
    return WeComOptions(
        token=token,
        aes_key=aes_key,
        listen=listen,
        api_url=api_url or DEFAULT_API_URL,
        robots=robots,
        group_robots=dict(tuning.group_robots),
        corpid=tuning.corpid,
        app_secret=app_secret,
        agentid=tuning.agentid,
        passive_budget=tuning.bot_passive_budget,
        timestamp_window=tuning.bot_timestamp_window,
        workers=tuning.bot_workers,
        max_body_bytes=tuning.bot_max_body_bytes,
        mention_files=tuning.bot_mention_files,
        robot_per_minute=tuning.robot_per_minute,
    )


class WeComService(WebhookParts):
    """Endpoint, response URLs, delivery and passive-reply bookkeeping, started and stopped together."""

    def __init__(
        self,
        *,
        handle: Callable[[IncomingMessage], HandlerResult],
        press: Callable[[CallbackQuery], HandlerResult],
        db: Database,
        clock: Clock,
        options: WeComOptions,
        delivery_clock: Clock | None = None,
        greet: Callable[[str], bool] | None = None,
    ) -> None:
        self.options = options
        self.db = db
        self.stop = asyncio.Event()
        self.executor = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="minqing-wecom")
        self.marker = AnsweredMarker(db=db, clock=clock, platform=PLATFORM)
        self.replies = PassiveReplies(on_answered=self.marker.add, form=WECOM_FORMAT)
        self.urls = ResponseUrls()
        self.urls.on_added = lambda chat_id: self.wake_delivery()
        self.endpoint = WeComEndpoint(
            handle=handle,
            press=press,
            crypto=MessageCrypto(token=options.token, aes_key=options.aes_key, appid=""),
            replies=self.replies,
            urls=self.urls,
            clock=clock,
            executor=self.executor,
            passive_budget=options.passive_budget,
            timestamp_window=options.timestamp_window,
            on_handled=lambda result: self.wake_delivery() if result.messages else None,
            greet=greet,
            on_greeted=self.wake_delivery,
            mention_files=options.mention_files,
        )
        self.delivery_clock = delivery_clock or SystemClock()
        self.http: aiohttp.ClientSession | None = None
        self.delivery: Delivery | None = None
        self.sender: WeComSender | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> int:
        """Serve on ``options.listen`` and start delivery; returns the bound port (0 picks one)."""
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        robots = None
        if self.options.robots:
            robots = RobotSender(
                http=self.http,
                robots=self.options.robots,
                load_photo=chart_loader(self.db),
                per_minute=self.options.robot_per_minute,
            )
        app = None
        if self.options.app_secret:
            app = AppMessages(
                http=self.http,
                api_url=self.options.api_url,
                corpid=self.options.corpid,
                secret=self.options.app_secret,
                agentid=self.options.agentid,
            )
        self.sender = WeComSender(
            http=self.http,
            urls=self.urls,
            passive=self.replies,
            robots=robots,
            group_robots=self.options.group_robots,
            app=app,
            no_route_wait=self.options.no_route_wait,
        )
        senders: dict[str, Sender] = {PLATFORM: self.sender}
        self.delivery = Delivery(db=self.db, senders=senders, clock=self.delivery_clock, limits=self.options.limits)
        self._tasks = [
            asyncio.create_task(self.delivery.run(self.stop), name="wecom-delivery"),
            asyncio.create_task(self.marker.run(self.stop), name="wecom-passive-marker"),
        ]
        server = web.Application(client_max_size=self.options.max_body_bytes)
        self.endpoint.routes(server)
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        host, port = self.options.listen
        await web.TCPSite(self._runner, host, port).start()
        bound = int(self._runner.addresses[0][1]) if self._runner.addresses else port
        log.info("WeCom robot callback on http://%s:%s%s", host, bound, PATH)
        return bound


async def serve_wecom(
    app: App,
    options: WeComOptions,
    *,
    stop: asyncio.Event,
    start_scheduler: SchedulerStarter | None = None,
) -> None:
    """Run until ``stop`` is set."""
    core = app.core
    dead_letters = DeadLetters(db=app.db, handle=core.handle, clock=core.clock)  # issue 16
    service = WeComService(
        handle=dead_letters.guard(),
        press=core.handle_callback,
        db=app.db,
        clock=core.clock,
        options=options,
        greet=lambda chat_id: core.bot_added_to_group(
            platform=PLATFORM, chat_id=chat_id, event_id=f"wecom-first:{chat_id}"
        ),
    )
    await serve_until_stopped(service, app=app, dead_letters=dead_letters, stop=stop, start_scheduler=start_scheduler)


def run_wecom(settings: Settings, options: WeComOptions) -> None:
    """Serve the robot's callback until SIGINT or SIGTERM."""
    from bot.run import serve_until_signalled, start_scheduler

    serve_until_signalled(
        settings, lambda app, stop: serve_wecom(app, options, stop=stop, start_scheduler=start_scheduler)
    )

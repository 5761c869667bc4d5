"""The Official Account stack for end-to-end tests: the endpoint on 127.0.0.1, a fake WeChat on both sides."""

import threading
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import pytest
from sqlmodel import func, select

from bot.delivery import RateLimits
from bot.wechat.run import WeChatOptions, WeChatService
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.messages import HandlerResult, IncomingMessage
from handlers.service import Minqing
from storage.db import Database
from tests.fakes.wechat import FakeWeChat, FakeWeChatApi
from tests.support.factories import build_world

TOKEN = "minqing-test-token"
APPID = "wx_test_appid"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
RESIDENT = "oRES_wx_0000000000000000001"
OFFICER = "oOFF_wx_0000000000000000001"


class CountingCore:
    """The core's ``handle``, counted and optionally slowed down (a handler over WeChat's 5 seconds)."""

    def __init__(self, core: Minqing, *, delay: float = 0.0, fail_first: int = 0) -> None:
        self.core = core
        self.delay = delay
        self.fail_first = fail_first
        self.calls = 0
        self._lock = threading.Lock()

    def handle(self, message: IncomingMessage) -> HandlerResult:
        with self._lock:
            self.calls += 1
            failing = self.calls <= self.fail_first
        if self.delay:
            time.sleep(self.delay)
        if failing:
            raise RuntimeError("database went away")
        return self.core.handle(message)


@dataclass
class Stack:
    service: WeChatService
    wechat: FakeWeChat
    api: FakeWeChatApi
    counting: CountingCore
    db: Database


def count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


class StartStack(Protocol):
    def __call__(
        self, *, safe: bool = False, delay: float = 0.0, fail_first: int = 0, budget: float = 4.0
    ) -> Awaitable[Stack]: ...


@pytest.fixture
async def stack_factory(
    core: Minqing, admin: Admin, clock: FixedClock, database: Database
) -> AsyncIterator[StartStack]:
    """Start the endpoint (plain or safe mode), the fake API and a fake WeChat client."""
    build_world(core, admin, clock)
    started: list[tuple[WeChatService, FakeWeChatApi, aiohttp.ClientSession]] = []

    async def start(*, safe: bool = False, delay: float = 0.0, fail_first: int = 0, budget: float = 4.0) -> Stack:
        api = FakeWeChatApi(appid=APPID)
        await api.start()
        counting = CountingCore(core, delay=delay, fail_first=fail_first)
        options = WeChatOptions(
            token=TOKEN,
            appid=APPID,
            secret=api.secret,
            aes_key=AES_KEY if safe else None,
            api_url=api.url,
            listen=("127.0.0.1", 0),
            passive_budget=budget,
            max_body_bytes=16 * 1024,
            limits=RateLimits(per_private_per_second=100),
        )
        service = WeChatService(
            handle=counting.handle, apologise=core.apologise, db=database, clock=clock, options=options
        )
        port = await service.start()
        http = aiohttp.ClientSession()
        started.append((service, api, http))
        wechat = FakeWeChat(
            http, f"http://127.0.0.1:{port}/wechat", token=TOKEN, appid=APPID, aes_key=AES_KEY if safe else None
        )
        return Stack(service, wechat, api, counting, database)

    yield start
    for service, api, http in started:
        await http.close()
        await service.close()
        await api.close()

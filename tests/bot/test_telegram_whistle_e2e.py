"""吹哨报到 end to end: the real PTB and aiogram clients over HTTP against the fake Bot API (issue 15).

whistle → sign-in → return → re-whistle → done → verify → rate, with refusals by role, and nothing
internal in the residents' group.
"""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from bot.settings import Settings
from bot.telegram.runner import TelegramOptions, serve_telegram
from bot.wiring import App
from handlers import catalogue
from handlers.admin import Admin
from handlers.clock import FixedClock, SystemClock
from handlers.service import Minqing
from storage.models import Case
from tests.fakes.telegram_api import FakeTelegram
from tests.support.factories import GROUP_GH, TELEGRAM_IDS, World, build_telegram_world
from tests.support.telegram import NO_LIMITS, quiet_outbox
from tests.support.units import UNIT_TELEGRAM_IDS, add_units

GROUP = int(GROUP_GH)
RESIDENT = int(TELEGRAM_IDS["res_1_1_301"])
OFFICER = int(TELEGRAM_IDS["officer_gh1"])
LEADER = int(TELEGRAM_IDS["leader_gh"])
WY = int(UNIT_TELEGRAM_IDS["liaison_wy"])
GL = int(UNIT_TELEGRAM_IDS["liaison_gl"])
WT = int(UNIT_TELEGRAM_IDS["liaison_wt"])


@pytest.fixture(params=["ptb", "aiogram"])
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    built = build_telegram_world(core, admin, clock)
    built.users.update(UNIT_TELEGRAM_IDS)
    add_units(built)
    quiet_outbox(App(settings=Settings(), db=core.db, core=core, admin=admin, digests=core.digests))
    return built


async def _start(framework: str, world: World, fake: FakeTelegram) -> tuple[asyncio.Event, asyncio.Task[None]]:
    app = App(settings=Settings(), db=world.core.db, core=world.core, admin=world.admin, digests=world.core.digests)
    options = TelegramOptions(
        framework=framework, token=fake.token, api_url=fake.url, webhook_url=None, listen=("127.0.0.1", 0),
        poll_timeout=10, limits=NO_LIMITS,
    )  # fmt: skip
    stop = asyncio.Event()
    return stop, asyncio.create_task(serve_telegram(app, options, stop=stop, delivery_clock=SystemClock()))


class Chat:
    """Sends as a user and waits for the next message the bot sends to a chat."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.seen: dict[int, int] = {}

    async def say(self, user: int, text: str, *, chat: int | None = None) -> None:
        await self.fake.inject({"message": self.fake.message(user_id=user, text=text, chat_id=chat)})

    async def next(self, chat: int) -> str:
        count = self.seen.get(chat, 0) + 1
        sent = await self.fake.wait_sent(chat, count)
        self.seen[chat] = count
        return str(sent[count - 1].text)


@pytest.fixture
async def chat(framework: str, world: World) -> AsyncIterator[tuple[Chat, World]]:
    fake = FakeTelegram()
    await fake.start()
    stop, task = await _start(framework, world, fake)
    await fake.wait_for(lambda: bool(fake.called("deleteWebhook")))
    yield Chat(fake), world
    stop.set()
    await asyncio.wait_for(task, 15)
    await fake.stop()


async def test_the_loop_over_telegram_with_refusals_and_nothing_internal_in_the_group(
    chat: tuple[Chat, World],
) -> None:
    bot, world = chat
    await bot.say(RESIDENT, "#诉求 物业不打扫楼道，垃圾堆了一个星期", chat=GROUP)
    ack = await bot.next(GROUP)
    code = ack.split()[1]
    await bot.next(OFFICER)  # the new-case notice

    await bot.say(OFFICER, f"/category {code} 物业服务")
    await bot.next(OFFICER)
    await bot.say(RESIDENT, f"/note {code} 我也想备注")
    assert await bot.next(RESIDENT) == catalogue.NOT_ALLOWED.format(role="居民", command="/note")
    await bot.say(OFFICER, f"/note {code} 该户情绪较大，注意沟通")
    assert await bot.next(OFFICER) == catalogue.NOTE_OK.format(code=code)

    await bot.say(OFFICER, f"/whistle {code} 桂花苑物业 楼道保洁归物业")
    assert (await bot.next(OFFICER)).startswith("已吹哨")
    assert (await bot.next(WY)).startswith(f"【吹哨】诉求 {code}")
    await bot.say(WT, f"/accept {code}")
    assert await bot.next(WT) == catalogue.CASE_NOT_IN_SCOPE.format(code=code)
    await bot.say(WY, f"/reply {code} 我们来处理")
    assert await bot.next(WY) == catalogue.NOT_ALLOWED.format(role="单位联络员", command="/reply")
    await bot.say(WY, f"/accept {code}")
    assert (await bot.next(WY)).startswith("已报到")
    assert (await bot.next(OFFICER)).startswith("【报到】")
    await bot.say(WY, f"/return {code} 公共区域不在合同范围")
    await bot.next(WY)
    assert (await bot.next(OFFICER)).startswith("【退单】")

    await bot.say(OFFICER, f"/whistle {code} ST01-U01 请管理办协调")
    await bot.next(OFFICER)
    assert (await bot.next(GL)).startswith("【吹哨】")
    await bot.say(GL, f"/accept {code}")
    await bot.next(GL)
    await bot.next(OFFICER)
    await bot.say(LEADER, f"/supervise {code} 1 今天内清理完并回复居民")
    await bot.next(LEADER)
    assert (await bot.next(OFFICER)).startswith("【督办单】")
    await bot.say(GL, f"/done {code} 已安排保洁清理")
    await bot.next(GL)
    assert (await bot.next(OFFICER)).startswith("【单位办结】")
    await bot.say(GL, f"/verify {code} 好了")
    assert (await bot.next(GL)) == catalogue.NOT_ALLOWED.format(role="单位联络员", command="/verify")
    await bot.say(OFFICER, f"/verify {code} 上门看过，已清理干净")
    resolved = await bot.next(GROUP)
    assert resolved.startswith(f"【{code} 已办结】上门看过")

    await bot.say(RESIDENT, f"/rate {code} 满意")
    assert (await bot.next(RESIDENT)).startswith("感谢您的评价")
    with world.core.db.transaction() as session:
        assert session.exec(select(Case).where(Case.code == code)).one().status == "closed"
    group = [str(c.text) for c in bot.fake.sent(chat_id=GROUP)]
    assert len(group) == 2
    for internal in ("情绪较大", "今天内清理完", "楼道保洁归物业", "合同范围", "已安排保洁", "吹哨"):
        assert not any(internal in text for text in group)


async def test_unit_liaisons_get_the_unit_menu_and_officers_the_loop_commands(chat: tuple[Chat, World]) -> None:
    import json

    bot, _ = chat
    fake = bot.fake
    # resident + group menus, six officers, four unit people
    await fake.wait_for(lambda: len(fake.called("setMyCommands")) >= 2 + 6 + 4)
    menus = {
        json.dumps(c.params.get("scope"), sort_keys=True): {m["command"] for m in c.params["commands"]}
        for c in fake.called("setMyCommands")
    }
    liaison = menus[json.dumps({"chat_id": WY, "type": "chat"}, sort_keys=True)]
    officer = menus[json.dumps({"chat_id": OFFICER, "type": "chat"}, sort_keys=True)]
    assert {"accept", "return", "done", "extend"} <= liaison and not {"reply", "resolve", "whistle"} & liaison
    assert {"whistle", "verify", "reply"} <= officer and "accept" not in officer

"""End to end: the real PTB and aiogram clients over real HTTP against the fake Bot API, one suite for both."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import col, func, select

from bot.settings import Settings
from bot.telegram.runner import TelegramOptions, serve_telegram
from bot.wiring import App
from handlers import catalogue
from handlers.admin import Admin
from handlers.clock import FixedClock, SystemClock
from handlers.service import Minqing
from storage.models import Case, ChatIdentity, InboundMessage, Post
from tests.fakes.telegram_api import FakeTelegram
from tests.support.factories import GROUP_GH, TELEGRAM_IDS, World, build_telegram_world
from tests.support.telegram import NO_LIMITS, quiet_outbox

GROUP = int(GROUP_GH)
RESIDENT = int(TELEGRAM_IDS["res_1_1_301"])
OTHER_RESIDENT = int(TELEGRAM_IDS["res_3_2_502"])
OFFICER = int(TELEGRAM_IDS["officer_gh1"])
OFFICER_OTHER_GRID = int(TELEGRAM_IDS["officer_gh2"])
CHIEF = int(TELEGRAM_IDS["chief_gh1"])
STRANGER = int(TELEGRAM_IDS["stranger"])
#: The fake server is not Telegram: lift the limits so tests wait for events, not for windows.


@pytest.fixture(params=["ptb", "aiogram"])
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Harness:
    fake: FakeTelegram
    world: World
    app: App

    def cases(self) -> list[Case]:
        with self.app.db.transaction() as session:
            return list(session.exec(select(Case).order_by(col(Case.id))).all())

    def count(self, table: type[Any]) -> int:
        with self.app.db.transaction() as session:
            return int(session.exec(select(func.count()).select_from(table)).one())

    async def post(self, text: str, *, user: int = RESIDENT, chat: int | None = None, **kwargs: Any) -> dict[str, Any]:
        message = self.fake.message(user_id=user, text=text, chat_id=chat, **kwargs)
        await self.fake.inject({"message": message})
        return message


async def _start(
    framework: str, world: World, fake: FakeTelegram, *, webhook_url: str | None = None, port: int = 0
) -> tuple[asyncio.Event, asyncio.Task[None], App]:
    app = App(settings=Settings(), db=world.core.db, core=world.core, admin=world.admin, digests=world.core.digests)
    options = TelegramOptions(
        framework=framework,
        token=fake.token,
        api_url=fake.url,
        webhook_url=webhook_url,
        listen=("127.0.0.1", port),
        poll_timeout=10,
        limits=NO_LIMITS,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve_telegram(app, options, stop=stop, delivery_clock=SystemClock()))
    return stop, task, app


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    built = build_telegram_world(core, admin, clock)
    quiet_outbox(App(settings=Settings(), db=core.db, core=core, admin=admin, digests=core.digests))
    return built


@pytest.fixture
async def harness(framework: str, world: World) -> AsyncIterator[Harness]:
    fake = FakeTelegram()
    await fake.start()
    stop, task, app = await _start(framework, world, fake)
    await fake.wait_for(lambda: bool(fake.called("deleteWebhook")))
    yield Harness(fake=fake, world=world, app=app)
    stop.set()
    await asyncio.wait_for(task, 15)
    await fake.stop()


# ---------------------------------------------------------------------------------------- intake


async def test_group_post_is_filed_acknowledged_as_reply_and_officer_notified(harness: Harness) -> None:
    post = await harness.post(f"@{harness.fake.username} 楼道里的灯坏了一个星期了", chat=GROUP)

    (ack,) = await harness.fake.wait_sent(GROUP)
    (notice,) = await harness.fake.wait_sent(OFFICER)
    (case,) = harness.cases()
    assert ack.text.startswith(f"已受理 {case.code}")
    assert ack.reply_to == post["message_id"] and ack.params["parse_mode"] == "HTML"
    assert notice.text.startswith("【新诉求】") and "1幢1单元301" in notice.text and f"{case.code}" in notice.text
    assert notice.reply_to is None


async def test_resolution_reaches_the_group_and_rating_closes_the_case_once(harness: Harness) -> None:
    fake = harness.fake
    await harness.post("#诉求 小区门口的垃圾三天没人清运了", chat=GROUP)
    (ack,) = await fake.wait_sent(GROUP)
    (case,) = harness.cases()

    await harness.post(f"/reply {case.code} 已联系物业，今天下午清运", user=OFFICER)
    await harness.post(f"/resolve {case.code} 垃圾已清运完毕", user=OFFICER)
    _, reply, resolved = await fake.wait_sent(GROUP, 3)
    assert reply.text.startswith(f"【{case.code} 回复】已联系物业")
    assert reply.reply_to == ack.reply_to == resolved.reply_to
    buttons = resolved.params["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["满意", "基本满意", "不满意"]

    press = fake.button_press(user_id=RESIDENT, message=resolved.result, data=buttons[0]["callback_data"])
    await fake.inject(press)
    await fake.wait_for(lambda: bool(fake.called("editMessageText")))
    await fake.inject(fake.button_press(user_id=RESIDENT, message=resolved.result, data=buttons[2]["callback_data"]))
    await fake.wait_for(lambda: len(fake.called("answerCallbackQuery")) == 2)

    first, second = fake.called("answerCallbackQuery")
    assert first.params["text"] == catalogue.RATED.format(rating="满意")
    assert second.params["text"] == catalogue.ALREADY_RATED.format(code=case.code)
    (edit,) = fake.called("editMessageText")
    assert "reply_markup" not in edit.params and edit.params["message_id"] == resolved.result["message_id"]
    assert harness.cases()[0].status == "closed" and harness.cases()[0].rating == "satisfied"


async def test_unsatisfied_rating_reopens_the_case_and_tells_the_officer(harness: Harness) -> None:
    fake = harness.fake
    await harness.post("#诉求 电梯又停了", chat=GROUP)
    await fake.wait_sent(GROUP)
    (case,) = harness.cases()
    await harness.post(f"/resolve {case.code} 已修好", user=OFFICER)
    resolved = (await fake.wait_sent(GROUP, 2))[-1]

    await fake.inject(
        fake.button_press(user_id=RESIDENT, message=resolved.result, data=f"rate:{case.code}:unsatisfied")
    )

    notices = await fake.wait_sent(OFFICER, 3)
    assert notices[-1].text.startswith("【重新办理】")
    assert harness.cases()[0].status == "reopened"


async def test_binding_without_digits_is_approved_with_one_tap(harness: Harness) -> None:
    """Issue 13: the grid officer gets the request with 同意/拒绝 buttons; 同意 binds the resident."""
    fake = harness.fake
    await harness.post("/bind GH 1幢1单元101", user=STRANGER)
    (asked,) = await fake.wait_sent(STRANGER)
    requests = await fake.wait_sent(OFFICER)
    chief = await fake.wait_sent(CHIEF)
    assert asked.text.startswith("已请负责 1幢1单元101 的网格员确认")
    buttons = requests[-1].params["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["同意", "拒绝"] and "【绑定申请" in chief[-1].text

    await fake.inject(fake.button_press(user_id=OFFICER, message=requests[-1].result, data=buttons[0]["callback_data"]))
    bound = await fake.wait_sent(STRANGER, 2)

    assert bound[-1].text.startswith("绑定成功：1幢1单元101")
    await fake.wait_for(lambda: bool(fake.called("answerCallbackQuery")))
    assert fake.called("answerCallbackQuery")[0].params["text"].startswith("已同意绑定申请")


async def test_unbound_resident_private_post_is_filed_with_a_bind_hint(harness: Harness) -> None:
    await harness.post("我想问一下小区的快递柜什么时候能修好", user=STRANGER)

    (ack,) = await harness.fake.wait_sent(STRANGER)
    assert ack.text.startswith("已受理") and "/bind" in ack.text
    assert harness.cases()[0].household_id is None


async def test_officer_files_a_chatter_message_by_replying_file(harness: Harness) -> None:
    fake = harness.fake
    chatter = await harness.post("今天天气不错，大家吃了吗", user=OTHER_RESIDENT, chat=GROUP)
    await harness.post("/file", user=CHIEF, chat=GROUP, reply_to=chatter)

    (ack,) = await fake.wait_sent(GROUP)
    (case,) = harness.cases()
    assert ack.reply_to == chatter["message_id"] and f"{case.code}" in ack.text
    with harness.app.db.transaction() as session:
        post = session.exec(select(Post)).one()
        assert post.message_id == str(chatter["message_id"]) and post.user_id == str(OTHER_RESIDENT)


async def test_refusals_are_answered_and_change_nothing(harness: Harness) -> None:
    fake = harness.fake
    await harness.post("/cases", user=RESIDENT)
    await harness.post("/bind 1幢1单元301", user=RESIDENT, chat=GROUP)
    await harness.post("/reply MQ-2026-999999 你好", user=OFFICER_OTHER_GRID)

    (not_allowed,) = await fake.wait_sent(RESIDENT)
    (private_only,) = await fake.wait_sent(GROUP)
    (unknown,) = await fake.wait_sent(OFFICER_OTHER_GRID)
    assert not_allowed.text == catalogue.NOT_ALLOWED.format(role="居民", command="/cases")
    assert private_only.text == catalogue.PRIVATE_ONLY.format(command="/bind")
    assert unknown.text == catalogue.CASE_NOT_FOUND.format(code="MQ-2026-999999")
    assert harness.cases() == []


async def test_html_in_officer_text_is_escaped_not_interpreted(harness: Harness) -> None:
    await harness.post("#诉求 路灯不亮", chat=GROUP)
    await harness.fake.wait_sent(GROUP)
    code = harness.cases()[0].code
    await harness.post(f"/reply {code} <b>明天</b> 修 & 换", user=OFFICER)

    reply = (await harness.fake.wait_sent(GROUP, 2))[-1]
    assert "&lt;b&gt;明天&lt;/b&gt; 修 &amp; 换" in reply.params["text"]
    assert reply.text.endswith("<b>明天</b> 修 & 换")


async def test_bare_photo_asks_what_it_is_and_captioned_photo_keeps_the_file(harness: Harness) -> None:
    fake = harness.fake
    await harness.post("", user=RESIDENT, photo=True)
    await harness.post("#诉求 3幢门口的井盖坏了", chat=GROUP, photo=True)
    await harness.post("", user=OTHER_RESIDENT, chat=GROUP, voice=True)

    (question,) = await fake.wait_sent(RESIDENT)
    await fake.wait_sent(GROUP)
    assert question.text == catalogue.PHOTO_NEEDS_TEXT
    with harness.app.db.transaction() as session:
        (post,) = session.exec(select(Post)).all()
    assert [a["file_id"] for a in json.loads(post.attachments)] == [f"photo-{post.message_id}-l"]
    assert fake.sent(chat_id=GROUP)[0].text.startswith("已受理")


async def test_added_to_an_unlinked_group_explains_how_to_link_it(harness: Harness) -> None:
    fake = harness.fake
    await fake.inject(fake.added_to_group(-100999, by_user=STRANGER))
    await fake.inject(fake.added_to_group(GROUP, by_user=STRANGER))

    (notice,) = await fake.wait_sent(-100999)
    assert notice.text == catalogue.UNLINKED_GROUP.format(platform="telegram", chat_id="-100999")
    await harness.post("#诉求 路面有坑", chat=GROUP)
    (ack,) = await fake.wait_sent(GROUP)  # the linked group got no greeting, only the ack
    assert ack.text.startswith("已受理")


async def test_command_menus_are_set_per_role_and_for_new_officers(harness: Harness) -> None:
    fake = harness.fake
    await fake.wait_for(lambda: len(fake.called("setMyCommands")) >= 2 + 6)
    _, code = harness.world.admin.add_officer(
        name="新网格员", role="grid_officer", scope="GH-02", now=harness.world.clock.now()
    )
    await harness.post(f"/join {code}", user=3001)
    await fake.wait_sent(3001)
    await fake.wait_for(lambda: len(fake.called("setMyCommands")) >= 9)

    menus = {
        json.dumps(c.params.get("scope"), sort_keys=True): c.params["commands"] for c in fake.called("setMyCommands")
    }
    resident = {c["command"] for c in menus[json.dumps({"type": "default"})]}
    officer = {c["command"] for c in menus[json.dumps({"chat_id": 3001, "type": "chat"}, sort_keys=True)]}
    assert {"bind", "my"} <= resident and "cases" not in resident
    assert {"cases", "reply", "resolve"} <= officer and "bind" not in officer
    assert json.dumps({"chat_id": OFFICER, "type": "chat"}, sort_keys=True) in menus


# ---------------------------------------------------------------------------------------- delivery


async def test_429_retry_after_is_honoured_and_the_ack_sent_once(harness: Harness) -> None:
    fake = harness.fake
    fake.throttle("sendMessage", retry_after=1, chat_id=str(GROUP))
    await harness.post("#诉求 楼下车库漏水", chat=GROUP)

    (ack,) = await fake.wait_sent(GROUP)
    (refused,) = [c for c in fake.called("sendMessage") if c.status == 429]
    assert ack.at - refused.at >= 1.0
    assert ack.text.startswith("已受理")


async def test_same_message_delivered_twice_files_one_case(harness: Harness) -> None:
    fake = harness.fake
    message = fake.message(user_id=RESIDENT, text="#诉求 消防通道被车堵了", chat_id=GROUP)
    await fake.inject({"message": message})
    await fake.inject({"message": message})
    await fake.wait_sent(GROUP)
    await fake.wait_for(lambda: fake.confirmed > max(fake.injected_at))  # both updates handled

    assert harness.count(Case) == 1 and harness.count(Post) == 1
    assert len(fake.sent(chat_id=GROUP)) == 1


# ---------------------------------------------------------------------------------------- webhook


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_accepts_the_secret_and_refuses_forgeries_without_touching_the_db(
    framework: str, world: World
) -> None:
    fake = FakeTelegram()
    await fake.start()
    port = _free_port()
    stop, task, app = await _start(framework, world, fake, webhook_url=f"http://127.0.0.1:{port}/tg/hook", port=port)
    try:
        await fake.wait_for(lambda: bool(fake.webhook_url))
        harness = Harness(fake=fake, world=world, app=app)
        before = (harness.count(InboundMessage), harness.count(ChatIdentity))
        forged = fake.message(user_id=666, text="#诉求 伪造的消息", chat_id=GROUP)

        assert await fake.push({"message": forged}, secret="wrong") == 401
        assert await fake.push({"message": forged}, secret="") == 401
        assert (harness.count(InboundMessage), harness.count(ChatIdentity)) == before

        genuine = fake.message(user_id=RESIDENT, text="#诉求 单元门禁坏了", chat_id=GROUP)
        update = {"update_id": 5000, "message": genuine}
        assert await fake.push(update) == 200
        assert harness.count(Case) == 1  # committed before the 200
        assert await fake.push(update) == 200  # Telegram retrying the same update
        assert harness.count(Case) == 1
        (ack,) = await fake.wait_sent(GROUP)
        assert ack.reply_to == genuine["message_id"]
        assert fake.webhook_secret and fake.webhook_url.endswith("/tg/hook")
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await fake.stop()


async def test_polling_removes_a_webhook_left_behind_before_polling(framework: str, world: World) -> None:
    fake = FakeTelegram(webhook_url="http://127.0.0.1:9/old")
    await fake.start()
    stop, task, app = await _start(framework, world, fake)
    try:
        await Harness(fake=fake, world=world, app=app).post("#诉求 水压太低", chat=GROUP)
        (ack,) = await fake.wait_sent(GROUP)
        assert fake.webhook_url == "" and ack.text.startswith("已受理")
        assert not [c for c in fake.calls if c.method == "getUpdates" and c.status == 409]
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await fake.stop()


async def test_unsure_post_gives_the_officer_category_buttons_and_a_tap_confirms_it(harness: Harness) -> None:
    fake = harness.fake
    await harness.post("#诉求 1幢后面那块空地到底归谁管", chat=GROUP)
    await fake.wait_sent(GROUP)
    (notice,) = await fake.wait_sent(OFFICER)
    (case,) = harness.cases()
    assert case.unconfirmed and "待确认" in notice.text
    rows = notice.params["reply_markup"]["inline_keyboard"]
    assert rows[-1][0]["callback_data"] == f"cat:{case.code}:?"
    tap = rows[0][0]["callback_data"]

    await fake.inject(fake.button_press(user_id=OFFICER, message=notice.result, data=tap))
    await fake.wait_for(lambda: bool(fake.called("editMessageText")))

    (answered,) = fake.called("answerCallbackQuery")
    assert answered.params["text"] == catalogue.CATEGORY_CONFIRM_TOAST
    (edit,) = fake.called("editMessageText")
    assert "reply_markup" not in edit.params
    confirmed = harness.cases()[0]
    assert not confirmed.unconfirmed and confirmed.category == tap.split(":")[2]

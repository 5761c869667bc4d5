"""The WeCom intelligent robot end to end: real HTTP on 127.0.0.1, the fake robot on the other side."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import pytest
from sqlmodel import func, select

from bot.delivery import RateLimits
from bot.wecom.run import WeComOptions, WeComService
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.messages import HandlerResult, IncomingMessage
from handlers.service import Minqing
from storage.db import Database
from storage.models import Case, InboundMessage, Outbox, Post
from tests.fakes.wechat import FakeWeComWebhook
from tests.fakes.wecom_bot import FakeAppApi, FakeResponseUrls, FakeWeComRobot
from tests.support.factories import households

TOKEN = "wecom-robot-token"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
GROUP = "wrGH000001"  # a WeCom group chatid, linked to community GH
OFFICER = "zhangwei"  # WeCom userid of the GH-01 grid officer
RESIDENT = "lisi"  # bound to GH 1幢1单元301 (head 住户11301)
NEIGHBOUR = "wangwu"  # not bound


class SlowCore:
    def __init__(self, core: Minqing, delay: float = 0.0) -> None:
        self.core = core
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def handle(self, message: IncomingMessage) -> HandlerResult:
        with self._lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return self.core.handle(message)


@dataclass
class Stack:
    service: WeComService
    robot: FakeWeComRobot
    urls: FakeResponseUrls
    webhook: FakeWeComWebhook
    app_api: FakeAppApi
    slow: SlowCore
    db: Database


class StartStack(Protocol):
    def __call__(self, *, delay: float = 0.0, budget: float = 4.0) -> Awaitable[Stack]: ...


def count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


@pytest.fixture
async def stack_factory(
    core: Minqing, admin: Admin, clock: FixedClock, database: Database
) -> AsyncIterator[StartStack]:
    assert not admin.import_households(households(), now=clock.now()).rejected
    admin.link_group(platform="wecom", chat_id=GROUP, community="GH")
    _, invite = admin.add_officer(name="张伟", role="grid_officer", scope="GH-01", now=clock.now())
    started: list[tuple[WeComService, aiohttp.ClientSession, list[object]]] = []

    async def start(*, delay: float = 0.0, budget: float = 4.0) -> Stack:
        urls, webhook, app_api = FakeResponseUrls(), FakeWeComWebhook(), FakeAppApi()
        for server in (urls, webhook, app_api):
            await server.start()
        slow = SlowCore(core)
        options = WeComOptions(
            token=TOKEN,
            aes_key=AES_KEY,
            listen=("127.0.0.1", 0),
            api_url=app_api.url,
            robots={"gh-group": webhook.robot_url("KEY-GH")},
            group_robots={GROUP: "gh-group"},
            corpid=app_api.corpid,
            app_secret=app_api.secret,
            agentid=1000002,
            no_route_wait=0.2,
            limits=RateLimits(per_private_per_second=100),
        )
        service = WeComService(
            handle=slow.handle,
            press=core.handle_callback,
            db=database,
            clock=clock,
            options=options,
            greet=lambda chat: core.bot_added_to_group(platform="wecom", chat_id=chat, event_id=f"first:{chat}"),
        )
        port = await service.start()
        http = aiohttp.ClientSession()
        started.append((service, http, [urls, webhook, app_api]))
        robot = FakeWeComRobot(http, f"http://127.0.0.1:{port}/wecom", token=TOKEN, aes_key=AES_KEY, urls=urls)
        joined = await robot.send(f"/join {invite}", user=OFFICER)
        assert joined.content is not None and "欢迎" in joined.content, joined
        bound = await robot.send("/bind GH 1幢1单元301 1111", user=RESIDENT)  # issue 13: proved by phone digits
        assert bound.content is not None and "绑定成功" in bound.content, bound
        slow.delay, service.endpoint.passive_budget = delay, budget  # after the setup, which goes passively
        return Stack(service, robot, urls, webhook, app_api, slow, database)

    yield start
    for service, http, servers in started:
        await http.close()
        await service.close()
        for server in servers:
            await server.close()  # type: ignore[attr-defined]


async def test_url_verification_needs_our_signature_and_a_fresh_timestamp(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    good = await stack.robot.verify("echo-4711")
    forged = await stack.robot.verify("echo-4711", forge=True)
    stale = await stack.robot.verify("echo-4711", skew=-3600)
    assert (good.status, good.body) == (200, b"echo-4711")
    assert forged.status == 403 and stale.status == 403


async def test_group_post_is_acknowledged_passively_with_the_case_code_and_the_officer_notified(
    stack_factory: StartStack,
) -> None:
    stack = await stack_factory()
    answer = await stack.robot.send("1幢楼道灯坏了好几天了，晚上很黑", user=RESIDENT, chat=GROUP)

    with stack.db.transaction() as session:
        case = session.exec(select(Case)).one()
        post = session.exec(select(Post)).one()
    assert answer.reply is not None and answer.reply["msgtype"] == "stream"
    assert answer.reply["stream"]["finish"] is True
    assert case.code is not None and answer.content is not None and case.code in answer.content
    assert post.is_group and post.chat_id == GROUP and case.household_id is not None
    # The officer's notice leaves through the response_url his /join brought (his reply was passive).
    notices = await stack.urls.wait_for(OFFICER)
    assert case.code in notices[0].text and notices[0].body["msgtype"] == "markdown"
    # Privacy in the group: nothing but the code, category and promise.
    assert "13800001111" not in answer.content and "住户11301" not in answer.content
    # The ack's outbox row counts as sent, and nothing went to the group's response_url.
    await until(lambda: _ack_row(stack.db).sent_at is not None)
    assert stack.urls.to(GROUP) == []


def _ack_row(db: Database) -> Outbox:
    with db.transaction() as session:
        return session.exec(select(Outbox).where(Outbox.chat_id == GROUP, Outbox.kind == "ack")).one()


async def test_thanks_in_the_group_is_not_a_case(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    answer = await stack.robot.send("谢谢", user=NEIGHBOUR, chat=GROUP)
    assert answer.status == 200 and answer.reply is None
    assert count(stack.db, Case) == 0


async def test_a_complaint_at_the_bot_in_the_group_is_filed_by_triage(stack_factory: StartStack) -> None:
    # Group @-posts reach the core with mentions_bot False (MINQING_WECOM_BOT_MENTION_FILES unset):
    # triage alone decides, and a complaint however casual is a case.
    stack = await stack_factory()
    answer = await stack.robot.send("1幢电梯又坏了，老人上下楼很困难", user=NEIGHBOUR, chat=GROUP)
    assert answer.status == 200 and answer.content is not None
    assert count(stack.db, Case) == 1


async def test_officer_reply_reaches_the_group_through_the_response_url(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    posted = await stack.robot.send("1幢门口垃圾桶满了没人清理，味道很大", user=RESIDENT, chat=GROUP)
    code = _code(stack.db)
    assert posted.content is not None and code in posted.content

    replied = await stack.robot.send(f"/reply {code} 已通知保洁，今天下午清理。住户11301电话13800001111", user=OFFICER)
    assert replied.content is not None and code in replied.content
    in_group = await stack.urls.wait_for(GROUP)
    assert "今天下午清理" in in_group[0].text
    # Officer words sent into a group are redacted (handlers/privacy.py), whatever the platform.
    assert "13800001111" not in in_group[0].text and "住户11301" not in in_group[0].text


async def test_expired_response_url_falls_back_to_the_groups_push_robot(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    await stack.robot.send("1幢3单元门禁坏了，进不去", user=RESIDENT, chat=GROUP)
    code = _code(stack.db)
    stack.urls.expire(GROUP)
    await stack.robot.send(f"/reply {code} 维保单位明早到场", user=OFFICER)

    await until(lambda: bool(stack.webhook.sent))
    refused = [p for p in stack.urls.posted if p.chat_id == GROUP]
    assert refused and not any(p.accepted for p in refused)  # tried, WeCom said no
    assert stack.webhook.sent and "维保单位明早到场" in stack.webhook.sent[0].text
    assert stack.webhook.sent[0].to == "KEY-GH"


async def test_officer_without_a_fresh_url_is_reached_through_the_app_api(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    await stack.robot.send("1幢楼道灯坏了", user=RESIDENT, chat=GROUP)
    await stack.urls.wait_for(OFFICER)  # the one URL the officer's chat had
    await stack.robot.send("1幢门口垃圾桶满了没人清理，味道很大", user=NEIGHBOUR, chat=GROUP)

    await until(lambda: bool(stack.app_api.texts_to(OFFICER)))
    texts = stack.app_api.texts_to(OFFICER)
    assert len(texts) == 1 and "垃圾桶" in texts[0]
    assert stack.app_api.sent[0]["agentid"] == 1000002


async def test_retries_of_one_msgid_file_one_case(stack_factory: StartStack) -> None:
    stack = await stack_factory(delay=0.3)
    callback = stack.robot.text("1幢楼顶漏水，家里墙面发霉", user=RESIDENT, chat=GROUP)
    answers = await asyncio.gather(*(stack.robot.post(callback) for _ in range(3)))
    later = await stack.robot.post(callback)  # a retry after the first was answered

    assert count(stack.db, Case) == 1
    code = _code(stack.db)
    assert all(a.status == 200 for a in [*answers, later])
    assert any(a.content and code in a.content for a in answers)
    with stack.db.transaction() as session:
        claims = session.exec(select(InboundMessage).where(InboundMessage.chat_id == GROUP)).all()
    assert len(claims) == 1


async def test_forged_signatures_and_stale_timestamps_are_refused(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    before = count(stack.db, InboundMessage)
    forged = await stack.robot.post(stack.robot.text("1幢楼道灯坏了", user=RESIDENT, chat=GROUP), forge=True)
    stale = await stack.robot.post(stack.robot.text("1幢楼道灯坏了", user=RESIDENT, chat=GROUP), skew=-900)
    garbage = await stack.robot.post(stack.robot.text("x", user=RESIDENT), raw=b'{"encrypt": "not base64!"}')
    assert (forged.status, stale.status) == (403, 403)
    assert garbage.status in (400, 403)
    assert count(stack.db, InboundMessage) == before and count(stack.db, Case) == 0


async def test_rating_buttons_are_a_template_card_and_a_click_rates_the_case(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    await stack.robot.send("1幢楼道灯坏了，晚上很黑", user=RESIDENT, chat=GROUP)
    code = _code(stack.db)
    await stack.robot.send(f"/resolve {code} 灯已更换", user=OFFICER)
    cards = await stack.urls.wait_for(GROUP)
    card = cards[0].body
    assert card["msgtype"] == "template_card"
    buttons = card["template_card"]["button_list"]
    assert [b["key"] for b in buttons] == [
        f"rate:{code}:satisfied",
        f"rate:{code}:basically",
        f"rate:{code}:unsatisfied",
    ]

    click = stack.robot.click(buttons[0]["key"], user=RESIDENT, chat=GROUP, task_id=card["template_card"]["task_id"])
    answer = await stack.robot.post(click)
    again = await stack.robot.post(click)  # WeCom's retry of the same click
    assert answer.reply is not None and answer.reply["response_type"] == "update_template_card"
    assert answer.reply["template_card"]["task_id"] == card["template_card"]["task_id"]
    assert again.status == 200
    with stack.db.transaction() as session:
        case = session.exec(select(Case)).one()
    assert (case.status, case.rating) == ("closed", "satisfied")


async def test_officer_files_a_quoted_group_message(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    quote = {"msgtype": "text", "text": {"content": "3幢2单元楼下有人乱停车，消防通道堵住了"}}
    callback = stack.robot.text("/file", user=OFFICER, chat=GROUP, quote=quote)
    answer = await stack.robot.post(callback)
    again = await stack.robot.post(stack.robot.text("/file", user=OFFICER, chat=GROUP, quote=quote))

    with stack.db.transaction() as session:
        case = session.exec(select(Case)).one()
        post = session.exec(select(Post)).one()
    assert case.code is not None and answer.content is not None and case.code in answer.content
    assert post.text.startswith("3幢2单元楼下有人乱停车") and post.chat_id == GROUP
    assert again.content is not None and case.code in again.content  # already filed: the same code


async def until(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    """Wait (polling) until ``condition`` holds; fail after ``within`` seconds."""
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _code(db: Database) -> str:
    with db.transaction() as session:
        case = session.exec(select(Case).order_by(Case.id.desc())).first()  # type: ignore[union-attr]
    assert case is not None and case.code is not None
    return case.code


async def test_an_ack_that_misses_the_passive_budget_goes_through_the_response_url(stack_factory: StartStack) -> None:
    handler_seconds = 3.0
    stack = await stack_factory(delay=handler_seconds, budget=0.2)
    answer = await stack.robot.send("1幢楼道灯坏了好几天了，晚上很黑", user=RESIDENT, chat=GROUP)
    # Answered (empty) while the core was still busy; the ack follows through the response_url.
    assert answer.status == 200 and answer.reply is None and answer.seconds < handler_seconds
    acks = await stack.urls.wait_for(GROUP)
    assert _code(stack.db) in acks[0].text
    assert len(acks) == 1  # sent once, not also passively


async def test_entering_the_one_to_one_chat_gets_the_welcome_as_text(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    answer = await stack.robot.post(
        stack.robot.callback(user=NEIGHBOUR, msgtype="event", event={"eventtype": "enter_chat"})
    )
    assert answer.reply is not None and answer.reply["msgtype"] == "text"
    assert answer.content


async def test_a_rating_request_through_the_push_robot_says_how_to_rate_in_words(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    await stack.robot.send("1幢楼道灯坏了，晚上很黑", user=RESIDENT, chat=GROUP)
    code = _code(stack.db)
    stack.urls.expire(GROUP)
    await stack.robot.send(f"/resolve {code} 灯已更换", user=OFFICER)
    await until(lambda: bool(stack.webhook.sent))
    text = stack.webhook.sent[0].text
    assert f"/rate {code} 满意" in text and "weixin://" not in text


async def test_an_unlinked_group_is_told_how_to_link_it_once(stack_factory: StartStack) -> None:
    stack = await stack_factory()
    await stack.robot.send("1幢楼道灯坏了", user=RESIDENT, chat=GROUP)
    await stack.robot.send("大家好", user=NEIGHBOUR, chat="wrNEW00001")
    await stack.robot.send("1幢楼道灯坏了", user=NEIGHBOUR, chat="wrNEW00001")
    told = await stack.urls.wait_for("wrNEW00001")
    assert "--platform wecom --chat-id wrNEW00001" in told[0].text
    await asyncio.sleep(0.3)
    assert sum("--chat-id" in p.text for p in stack.urls.to("wrNEW00001")) == 1
    assert not any("--chat-id" in p.text for p in stack.urls.posted if p.chat_id == GROUP)  # linked: nothing

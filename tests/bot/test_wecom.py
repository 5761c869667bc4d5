"""WeCom group robots: overdue alerts and digests from the real jobs reach a fake robot webhook
within its rate limit, retried on failure, never dropped."""

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.delivery import RateLimits
from bot.wechat.cli import link_robot
from bot.wechat.run import WeChatOptions, WeChatService
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.digests import Digests
from handlers.messages import OutgoingMessage
from handlers.overdue import OverdueChecker
from handlers.service import Minqing
from storage.db import Database
from storage.models import Case, ChatIdentity, Outbox
from tests.fakes.wechat import FakeWeChatApi, FakeWeComWebhook
from tests.support.factories import build_world, insert_case

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROBOT = "gh-leaders"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
PER_WINDOW, WINDOW = 5, 0.5


@pytest.fixture
async def webhook() -> AsyncIterator[FakeWeComWebhook]:
    fake = FakeWeComWebhook(per_window=PER_WINDOW, window=WINDOW)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def api() -> AsyncIterator[FakeWeChatApi]:
    fake = FakeWeChatApi()
    await fake.start()
    yield fake
    await fake.close()


async def serve(
    database: Database, clock: FixedClock, api: FakeWeChatApi, webhook: FakeWeComWebhook, core: Minqing
) -> WeChatService:
    options = WeChatOptions(
        token="t",
        appid=api.appid,
        secret=api.secret,
        api_url=api.url,
        listen=("127.0.0.1", 0),
        robots={ROBOT: webhook.robot_url("key-gh")},
        robot_per_minute=PER_WINDOW,
        robot_span=WINDOW,
        limits=RateLimits(per_private_per_second=100),
    )
    service = WeChatService(handle=core.handle, apologise=core.apologise, db=database, clock=clock, options=options)
    await service.start()
    return service


def robot_rows(database: Database) -> list[Outbox]:
    with database.transaction() as session:
        return list(session.exec(select(Outbox).where(Outbox.platform == "wecom").order_by(col(Outbox.id))).all())


async def wait_until_sent(database: Database, *, within: float = 15.0) -> list[Outbox]:
    deadline = time.monotonic() + within
    while True:
        rows = robot_rows(database)
        if rows and all(row.sent_at is not None or row.error.startswith("gave up") for row in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError([(r.id, r.sent_at, r.error) for r in rows])
        await asyncio.sleep(0.05)


def link(core: Minqing, admin: Admin, clock: FixedClock) -> None:
    _, invite = admin.add_officer(name="GH社区工作群", role="community_leader", scope="GH", now=clock.now())
    joined = link_robot(core, robot=ROBOT, invite=invite, clock=clock)
    assert not joined.refused, joined.messages


async def test_alerts_and_digests_reach_the_robot_within_its_rate_limit(
    core: Minqing,
    admin: Admin,
    clock: FixedClock,
    database: Database,
    api: FakeWeChatApi,
    webhook: FakeWeComWebhook,
) -> None:
    build_world(core, admin, clock)
    link(core, admin, clock)
    last_week = clock.now() - timedelta(days=6)
    case_ids = []
    for number in range(8):
        case_id = insert_case(
            database,
            grid="GH-01",
            community="GH",
            created_at=last_week + timedelta(hours=number),
            assignee="officer_gh1",
            first_reply_due=last_week + timedelta(hours=number + 4),
        )
        case_ids.append(case_id)
    with database.transaction() as session:
        codes = list(session.exec(select(Case.code).where(col(Case.id).in_(case_ids))).all())
    alerts = OverdueChecker(db=database, taxonomy=core.taxonomy, clock=clock, zone=SHANGHAI).check()
    digests = Digests(db=database, taxonomy=core.taxonomy, clock=clock, zone=SHANGHAI, chart=lambda figures: PNG)
    produced = digests.produce("week")
    queued = robot_rows(database)
    assert alerts and any(d.scope_code == "GH" and d.created for d in produced)
    assert {row.kind for row in queued} == {"reply", "alert", "digest"}  # the link's welcome, alerts, digest

    service = await serve(database, clock, api, webhook, core)
    try:
        rows = await wait_until_sent(database)
    finally:
        await service.close()

    assert all(row.sent_at is not None for row in rows)
    assert webhook.over_limit == 0  # never above WeCom's limit, so nothing was refused
    posts = webhook.sent
    for first, later in zip(posts, posts[PER_WINDOW:], strict=False):
        assert later.at - first.at >= WINDOW * 0.95
    alert_texts = [p.text for p in posts if p.msg_type == "text"]
    assert codes and all(any(str(code) in text for text in alert_texts) for code in codes)
    markdown = [p for p in posts if p.msg_type == "markdown"]
    assert markdown and all(len(p.text.encode()) <= 4096 for p in markdown)
    assert "GH" in markdown[0].text or "社区" in markdown[0].text
    images = [p for p in posts if p.msg_type == "image"]
    assert len(images) == 1 and images[0].body["image"]["md5"] == hashlib.md5(PNG).hexdigest()
    # Each message kept its place: the digest's text comes before its chart.
    assert posts.index(images[0]) > posts.index(markdown[-1])


async def test_robot_failures_are_retried_and_unknown_robots_kept_for_monitoring(
    core: Minqing,
    admin: Admin,
    clock: FixedClock,
    database: Database,
    api: FakeWeChatApi,
    webhook: FakeWeComWebhook,
) -> None:
    build_world(core, admin, clock)
    link(core, admin, clock)
    with database.transaction() as session:
        robot = session.exec(select(ChatIdentity).where(ChatIdentity.platform == "wecom")).one()
        assert robot.user_id == ROBOT and robot.officer_id is not None
        payload = OutgoingMessage("wecom", "no-such-robot", "告警", kind="alert").to_json()
        session.add(
            Outbox(platform="wecom", chat_id="no-such-robot", kind="alert", payload=payload, created_at=clock.now())
        )
    webhook.fail_next.extend([503, -1])  # WeCom down, then a system error: both retried with back-off

    service = await serve(database, clock, api, webhook, core)
    try:
        rows = await wait_until_sent(database)
    finally:
        await service.close()

    delivered = [row for row in rows if row.chat_id == ROBOT]
    assert len(delivered) == 1 and delivered[0].sent_at is not None and delivered[0].attempts == 3
    assert len(webhook.sent) == 1 and "GH社区工作群" in webhook.sent[0].text
    lost = [row for row in rows if row.chat_id == "no-such-robot"]
    assert lost[0].sent_at is None and "no WeCom robot" in lost[0].error

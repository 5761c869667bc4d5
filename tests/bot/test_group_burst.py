"""A burst of posts in one group: Telegram's 20-a-minute group limit is kept, and every resident sees their code."""

import asyncio
import re
import time

import pytest
from sqlmodel import col, select

from bot.delivery import RateLimits
from bot.settings import Settings
from bot.telegram.runner import TelegramOptions, serve_telegram
from bot.wiring import App
from handlers.admin import Admin
from handlers.clock import FixedClock, SystemClock
from handlers.service import Minqing
from storage.models import Case, ChatIdentity
from tests.fakes.telegram_api import Call, FakeTelegram
from tests.support.factories import GROUP_GH, build_telegram_world
from tests.support.telegram import quiet_outbox

GROUP = int(GROUP_GH)
POSTS = 100
FIRST_RESIDENT = 7_000_000


def _seen_by(calls: list[Call], user_id: int, message_id: int, code: str) -> float | None:
    """When the resident was first shown their code: a reply to their post, or a message mentioning them."""
    for call in calls:
        raw = str(call.params.get("text", ""))
        addressed = call.reply_to == message_id or f'href="tg://user?id={user_id}"' in raw
        if addressed and code in call.text:
            return call.at
    return None


@pytest.mark.parametrize("framework", ["ptb", "aiogram"])
async def test_hundred_posts_in_one_group_within_a_minute(
    framework: str, core: Minqing, admin: Admin, clock: FixedClock
) -> None:
    build_telegram_world(core, admin, clock)
    app = App(settings=Settings(), db=core.db, core=core, admin=admin, digests=core.digests)
    quiet_outbox(app)
    fake = FakeTelegram(enforce_limits=True, limit_tolerance=0.15)
    await fake.start()
    # Telegram's real limits, shared by nothing but this process.
    options = TelegramOptions(
        framework=framework, token=fake.token, api_url=fake.url, listen=("127.0.0.1", 0), limits=RateLimits()
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve_telegram(app, options, stop=stop, delivery_clock=SystemClock()))
    try:
        await fake.wait_for(lambda: bool(fake.called("deleteWebhook")))
        posted: dict[int, tuple[int, float]] = {}
        for n in range(POSTS):
            user = FIRST_RESIDENT + n
            text = f"@{fake.username} {n % 9 + 1}号楼{n % 4 + 1}单元停电了，电梯也停了 #{n}"
            message = fake.message(user_id=user, text=text, chat_id=GROUP)
            posted[user] = (message["message_id"], time.monotonic())
            await fake.inject({"message": message})
            await asyncio.sleep(0.4)  # 100 posts in 40 s

        codes = await _codes_by_reporter(app, expected=POSTS)
        start = min(at for _, at in posted.values())

        def everyone_seen() -> bool:
            calls = fake.sent(chat_id=GROUP)
            return all(_seen_by(calls, u, m, codes[u]) is not None for u, (m, _) in posted.items())

        await fake.wait_for(everyone_seen, within=start + 130 - time.monotonic())
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await fake.stop()

    group_sends = fake.sent(chat_id=GROUP)
    assert fake.limit_breaks == []
    assert len(group_sends) <= 2 * 20 + 5  # far fewer messages than posts, within the group's limit
    for user, (message_id, at) in posted.items():
        seen = _seen_by(group_sends, user, message_id, codes[user])
        assert seen is not None and seen - at <= 120, (user, codes[user])
    # Each code is shown once in the group: none lost, none doubled.
    for code in codes.values():
        pattern = re.compile(re.escape(code) + r"(?![0-9])")
        assert sum(len(pattern.findall(call.text)) for call in group_sends) == 1, code


async def _codes_by_reporter(app: App, *, expected: int) -> dict[int, str]:
    for _ in range(300):
        with app.db.transaction() as session:
            rows = session.exec(
                select(ChatIdentity.user_id, Case.code)
                .join(ChatIdentity, col(ChatIdentity.id) == col(Case.reporter_identity_id))
                .where(col(ChatIdentity.user_id).startswith("7"))
            ).all()
        if len(rows) >= expected:
            return {int(user): str(code) for user, code in rows}
        await asyncio.sleep(0.2)
    raise AssertionError(f"only {len(rows)} of {expected} posts were filed")

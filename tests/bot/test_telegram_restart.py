"""`minqing run` as a real process: killed mid-burst and restarted, every post is filed exactly once."""

import asyncio
import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from bot.settings import Settings
from bot.telegram.runner import TelegramOptions, serve_telegram
from bot.wiring import App
from handlers.admin import Admin
from handlers.clock import FixedClock, SystemClock
from handlers.service import Minqing
from storage.models import Case, Outbox, Post
from tests.fakes.telegram_api import FakeTelegram
from tests.support.factories import build_telegram_world
from tests.support.telegram import NO_LIMITS

REPO = Path(__file__).resolve().parents[2]
BURST = 200
FIRST_RESIDENT = 50_000


async def _start_bot(framework: str, fake: FakeTelegram, db_url: str, log: Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        # The fake is not Telegram: acks go out as soon as they are committed, so they mark progress.
        "MINQING_TELEGRAM_PER_SECOND": "10000",
        "MINQING_TELEGRAM_PER_PRIVATE_PER_SECOND": "10000",
    }
    command = ["-m", "bot.cli", "run", "--platform", "telegram", "--framework", framework]
    command += ["--token", fake.token, "--api-url", fake.url, "--db", db_url]
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable, *command, cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
        )


@pytest.mark.parametrize("framework", ["ptb", "aiogram"])
async def test_bot_killed_mid_burst_files_every_post_exactly_once_after_restart(
    framework: str, sqlite_url: str, core: Minqing, admin: Admin, clock: FixedClock, tmp_path: Path
) -> None:
    build_telegram_world(core, admin, clock)
    with core.db.transaction() as session:
        session.execute(sa.update(Outbox).values(sent_at=clock.now()))
    fake = FakeTelegram()
    await fake.start()
    log = tmp_path / "bot.log"
    updates = [
        await fake.inject_text(user_id=FIRST_RESIDENT + i, text=f"{i % 9 + 1}幢楼道的灯坏了，晚上很黑（{i}）")
        for i in range(BURST)
    ]
    last_update = updates[-1]["update_id"]
    # Only the first half is served before the kill, so the kill always lands mid-burst.
    fake.hold_from = updates[BURST // 2]["update_id"]
    bot: asyncio.subprocess.Process | None = None
    try:
        bot = await _start_bot(framework, fake, sqlite_url, log)
        await fake.wait_for(lambda: len(fake.sent()) >= 30, within=60)
        bot.kill()  # SIGKILL: no shutdown, no final offset confirmation
        await bot.wait()
        with core.db.transaction() as session:
            filed_at_kill = session.exec(select(func.count()).select_from(Post)).one()
        assert 0 < filed_at_kill < BURST, "the kill must land in the middle of the burst"
        assert fake.confirmed <= last_update
        fake.hold_from = None

        # Restart in this process: the same serve loop as `minqing run`, without paying its start-up again.
        stop = asyncio.Event()
        app = App(settings=Settings(), db=core.db, core=core, admin=admin, digests=core.digests)
        options = TelegramOptions(framework=framework, token=fake.token, api_url=fake.url, limits=NO_LIMITS)
        restarted = asyncio.create_task(serve_telegram(app, options, stop=stop, delivery_clock=SystemClock()))
        await fake.wait_for(lambda: fake.confirmed > last_update, within=60)
        # Acks queued before the kill but not yet sent go out after the restart: every resident gets one.
        residents = {str(FIRST_RESIDENT + i) for i in range(BURST)}
        await fake.wait_for(lambda: residents <= {c.chat_id for c in fake.sent()}, within=30)
        stop.set()
        await asyncio.wait_for(restarted, 15)
    finally:
        if bot is not None and bot.returncode is None:
            bot.kill()
            await bot.wait()
        await fake.stop()

    with core.db.transaction() as session:
        posts = session.exec(select(Post.user_id)).all()
        cases = session.exec(select(func.count()).select_from(Case)).one()
    assert sorted(posts) == sorted(str(FIRST_RESIDENT + i) for i in range(BURST))
    assert cases == BURST

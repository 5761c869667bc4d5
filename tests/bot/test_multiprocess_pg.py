"""Three `minqing run` webhook processes on one PostgreSQL, one killed mid-burst, against a fake Bot API
that enforces Telegram's limits: every post filed once, every acknowledgement sent once, no 429."""

import asyncio
import itertools
import os
import re
import signal
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from sqlmodel import func, select

from analysis.analyzer import Analyzer
from bot.delivery import RateLimits
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import CoreSettings, Minqing
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Case, Outbox, Post
from tests.fakes.telegram_api import SECRET_HEADER, FakeTelegram
from tests.support.factories import GROUP_GH, GROUP_WT, build_telegram_world

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 3
PRIVATE_POSTS = 270
CASE_CODE = re.compile(r"MQ-\d{4}-\d+")
GROUP_POSTS = 15  # per group: within the 20-a-minute group limit, so every group ack can go at once
FIRST_RESIDENT = 70_000
SECRET = "multi-process-test-secret"
REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


async def start_bot(fake: FakeTelegram, db_url: str, port: int, log: Path, redis_prefix: str) -> Any:
    env = {
        **os.environ,
        "MINQING_TELEGRAM_WEBHOOK_SECRET": SECRET,
        # No digests to catch up at start-up: this test is about intake and delivery.
        "MINQING_DIGEST_WEEK_CRON": "",
        "MINQING_DIGEST_MONTH_CRON": "",
        "MINQING_DIGEST_QUARTER_CRON": "",
        "MINQING_PACK_DAYS_CRON": "",
        "MINQING_DIGEST_CHARTS": "false",
        # The killed process's claims are taken over after this (30 s by default).
        "MINQING_TELEGRAM_LEASE_SECONDS": "8",
    }
    if redis_prefix:
        env |= {"MINQING_REDIS_URL": REDIS_URL, "MINQING_REDIS_PREFIX": redis_prefix}
    command = ["-m", "bot.cli", "run", "--platform", "telegram", "--framework", "aiogram", "--token", fake.token]
    command += ["--api-url", fake.url, "--db", db_url]
    command += ["--webhook-url", f"http://127.0.0.1:{port}/tg", "--listen", f"127.0.0.1:{port}"]
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable, *command, cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
        )


async def deliver(
    http: aiohttp.ClientSession, ports: list[int], alive: list[bool], update: dict[str, Any], start: int
) -> int:
    """POST an update as Telegram does: to one process, and again to another until one answers 200."""
    for attempt in itertools.count():
        index = (start + attempt) % len(ports)
        if not alive[index]:
            continue
        try:
            async with http.post(
                f"http://127.0.0.1:{ports[index]}/tg", json=update, headers={SECRET_HEADER: SECRET},
                timeout=aiohttp.ClientTimeout(total=20),
            ) as response:  # fmt: skip
                if response.status == 200:
                    return index
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("unreachable")


def group_codes(fake: FakeTelegram, group: str) -> set[str]:
    """The case codes acknowledged in a group so far."""
    return {code for call in fake.sent(chat_id=group) for code in CASE_CODE.findall(call.text)}


async def wait_until_serving(http: aiohttp.ClientSession, port: int, within: float = 110) -> None:
    """Until the process says it is ready (/readyz: database reachable, migrations current, model loaded)."""
    async with asyncio.timeout(within):
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)


async def test_three_processes_one_killed_file_every_post_once_ack_once_and_keep_telegrams_limits(
    pg_url: str, analyzer: Analyzer, clock: FixedClock, tmp_path: Path
) -> None:
    began = time.monotonic()
    upgrade(pg_url)
    db = Database.from_url(pg_url)
    core = Minqing(db=db, analyzer=analyzer, clock=clock, settings=CoreSettings(bot_username="minqing_test_bot"))
    # The fake shares two busy cores with three bots and this test: it may read a send up to 0.15 s
    # after the request arrived, so its windows are read that much shorter.
    fake = FakeTelegram(enforce_limits=True, limit_tolerance=0.15)
    build_telegram_world(core, Admin(db), clock)
    with db.transaction() as session:
        session.execute(sa.update(Outbox).values(sent_at=clock.now()))  # the world's own replies are history
    await fake.start()
    ports = [free_port() for _ in range(PROCESSES)]
    prefix = f"test-{uuid.uuid4().hex}" if redis_reachable() else ""
    logs = [tmp_path / f"bot{i}.log" for i in range(PROCESSES)]
    bots = [await start_bot(fake, pg_url, port, log, prefix) for port, log in zip(ports, logs, strict=True)]
    alive = [True] * PROCESSES
    updates: list[dict[str, Any]] = []
    update_ids = itertools.count(5_000)
    for i in range(PRIVATE_POSTS):
        message = fake.message(user_id=FIRST_RESIDENT + i, text=f"{i % 9 + 1}幢楼道的灯坏了，晚上很黑（{i}）")
        updates.append({"update_id": next(update_ids), "message": message})
    for group, base in ((GROUP_GH, 80_000), (GROUP_WT, 81_000)):
        for i in range(GROUP_POSTS):
            message = fake.message(user_id=base + i, chat_id=int(group), text=f"@{fake.username} 小区路灯坏了（{i}）")
            updates.append({"update_id": next(update_ids), "message": message})
    # Interleave private and group posts, the way a busy street's updates arrive.
    updates.sort(key=lambda u: hash(u["update_id"]) % 97)
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(wait_until_serving(http, port) for port in ports))
            print("serving", time.monotonic() - began, file=sys.stderr)
            fake.calls.clear()  # start-up menus and webhook registration are not part of the burst

            async def burst() -> None:
                tasks = []
                for n, update in enumerate(updates):
                    tasks.append(asyncio.create_task(deliver(http, ports, alive, update, n)))
                    await asyncio.sleep(0.01)  # about 100 updates a second
                await asyncio.gather(*tasks)

            sending = asyncio.create_task(burst())
            await asyncio.sleep(len(updates) * 0.01 * 0.4)
            bots[1].send_signal(signal.SIGKILL)  # no shutdown: claims and in-flight requests are simply lost
            alive[1] = False
            await bots[1].wait()
            await sending
            print("burst sent", time.monotonic() - began, file=sys.stderr)

            residents = {str(FIRST_RESIDENT + i) for i in range(PRIVATE_POSTS)}
            await fake.wait_for(lambda: residents <= set(fake.sends_per_chat()), within=60)
            await fake.wait_for(
                lambda: all(len(group_codes(fake, g)) >= GROUP_POSTS for g in (GROUP_GH, GROUP_WT)), within=30
            )
            print("acked", time.monotonic() - began, file=sys.stderr)
            await asyncio.sleep(1.0)  # anything sent twice would show by now
    finally:
        for bot in bots:  # what they did is in the fake's records and the database already
            if bot.returncode is None:
                bot.kill()
        for bot in bots:
            await bot.wait()
        await fake.stop()
        print("stopped", time.monotonic() - began, file=sys.stderr)

    with db.transaction() as session:
        posts = session.exec(select(func.count()).select_from(Post)).one()
        cases = session.exec(select(func.count()).select_from(Case)).one()
    db.dispose()
    assert posts == cases == len(updates)  # every post filed, once (unique per chat and message id)
    counts = fake.sends_per_chat()
    acks = [counts[r] for r in residents]
    twice = sum(1 for n in acks if n == 2)
    assert all(n in (1, 2) for n in acks)
    # Only what the killed process sent in its last pass, not yet marked sent, may go twice: a pass
    # claims at most a second's worth of messages (``per_second``).
    assert twice <= RateLimits().per_second, f"{twice} acknowledgements sent twice"
    for group in (GROUP_GH, GROUP_WT):
        # One acknowledgement per group post, alone or coalesced with others waiting for that group.
        assert len(group_codes(fake, group)) == GROUP_POSTS
    assert fake.limit_breaks == [], f"{len(fake.limit_breaks)} sends broke a limit: {fake.limit_breaks[:5]}"

"""Acknowledgement latency for group @-posts through the WeCom intelligent robot, on SQLite.

Run: ``uv run python -m bench.bench_wecom [--residents 500] [--rates 20,50] [--seconds 15]``.

Residents (bound WeCom userids) @-mention the robot in their community's group with the demo
texts, at a steady rate per run (open loop, as WeCom's servers post whatever happened to earlier
callbacks), through real HTTP on 127.0.0.1 with the fake robot (AES + signatures, empty
ReceiveId). Grid officers are WeCom users too, so each new case also notifies an officer through
the outbox (response_url, else the fake app API). Triage still applies in groups, so some posts
file no case and get no acknowledgement.

Acknowledgement latency: from posting the callback to the ack with the case code — the HTTP
answer when the ack went passively, else its arrival at the fake response_url. Reported: p50/p99,
and the share of acknowledgements that made it into the passive reply.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlmodel import func, select

from analysis.analyzer import Analyzer
from bot.delivery import RateLimits
from bot.demo import demo_posts, household_rows
from bot.wecom.run import WeComOptions, WeComService
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.messages import IncomingMessage
from handlers.service import Minqing
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Case
from tests.fakes.wecom_bot import FakeAppApi, FakeResponseUrls, FakeWeComRobot

TOKEN, AES_KEY = "bench-token", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CODE = re.compile(r"MQ-\d{4}-\d{6}")


def setup_street(core: Minqing, db: Database, clock: FixedClock, residents: int) -> list[tuple[str, str]]:
    """Households, a WeCom grid officer per grid, a linked group per community, bound residents."""
    admin = Admin(db)
    rows = household_rows(random.Random(1))
    admin.import_households(rows, now=clock.now())
    for index, grid in enumerate(sorted({row["grid"] for row in rows})):
        _, code = admin.add_officer(name=f"网格员{index}", role="grid_officer", scope=grid, now=clock.now())
        say(core, clock, f"officer{index:03d}", f"/join {code}")
    for community in sorted({row["community"] for row in rows}):
        admin.link_group(platform="wecom", chat_id=f"wr{community}", community=community)
    people = []
    for index, row in enumerate(rows[:residents]):
        user = f"resident{index:04d}"
        unit = f"{row['unit']}单元" if row["unit"] else ""
        say(core, clock, user, f"/bind {row['community']} {row['building']}幢{unit}{row['room']} {row['phone'][-4:]}")
        people.append((user, f"wr{row['community']}"))
    return people


def say(core: Minqing, clock: FixedClock, user: str, text: str) -> None:
    say.count = getattr(say, "count", 0) + 1  # type: ignore[attr-defined]
    core.handle(IncomingMessage("wecom", user, user, f"setup-{say.count}", text, clock.now()))  # type: ignore[attr-defined]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def paced(
    robot: FakeWeComRobot,
    urls: FakeResponseUrls,
    people: list[tuple[str, str]],
    texts: list[str],
    rate: float,
    seconds: float,
    db: Database,
) -> dict[str, object]:
    rng = random.Random(int(rate))
    total = int(rate * seconds)
    sent_at: dict[str, float] = {}  # response_code → when its callback was posted
    passive: list[float] = []
    http: list[float] = []
    failures = 0
    cases_before = count_cases(db)

    async def one(index: int, start: float) -> None:
        nonlocal failures
        await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
        user, group = rng.choice(people)
        callback = robot.text(rng.choice(texts), user=user, chat=group)
        sent_at[str(callback["response_url"]).rsplit("=", 1)[1]] = time.monotonic()
        answer = await robot.post(callback)
        http.append(answer.seconds)
        failures += answer.status != 200
        if answer.content and CODE.search(answer.content):
            passive.append(answer.seconds)

    start = time.perf_counter()
    await asyncio.gather(*(one(i, start) for i in range(total)))
    elapsed = time.perf_counter() - start
    await asyncio.sleep(2.0)  # acks that missed the passive answer leave through the response_url
    late = [
        p.at - sent_at[p.code]
        for p in urls.posted
        if p.accepted and p.code in sent_at and p.chat_id.startswith("wr") and CODE.search(p.text)
    ]
    acks = passive + late
    filed = count_cases(db) - cases_before
    return {
        "target_rate": rate,
        "posts": total,
        "posts_per_s": round(total / elapsed, 1),
        "cases_filed": filed,
        "acks": len(acks),
        "ack_p50_ms": round(statistics.median(acks) * 1000, 1) if acks else None,
        "ack_p99_ms": round(percentile(acks, 0.99) * 1000, 1) if acks else None,
        "ack_max_ms": round(max(acks) * 1000, 1) if acks else None,
        "passive_acks": len(passive),
        "passive_share": round(len(passive) / len(acks), 4) if acks else None,
        "acks_via_response_url": len(late),
        "http_p99_ms": round(percentile(http, 0.99) * 1000, 1),
        "http_failures": failures,
    }


def count_cases(db: Database) -> int:
    with db.transaction() as session:
        return int(session.exec(select(func.count()).select_from(Case)).one())


async def run(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    db = Database.from_url(url)
    clock = FixedClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    core = Minqing(db=db, analyzer=Analyzer(), clock=clock)
    people = setup_street(core, db, clock, args.residents)
    texts = [row["text"] for row in demo_posts()]
    urls, app_api = FakeResponseUrls(), FakeAppApi()
    await urls.start()
    await app_api.start()
    options = WeComOptions(
        token=TOKEN,
        aes_key=AES_KEY,
        listen=("127.0.0.1", 0),
        api_url=app_api.url,
        corpid=app_api.corpid,
        app_secret=app_api.secret,
        agentid=1000002,
        limits=RateLimits(per_private_per_second=5),
    )
    service = WeComService(handle=core.handle, press=core.handle_callback, db=db, clock=clock, options=options)
    port = await service.start()
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    robot = FakeWeComRobot(http, f"http://127.0.0.1:{port}/wecom", token=TOKEN, aes_key=AES_KEY, urls=urls)
    runs = []
    try:
        await robot.send("热身：1幢路灯不亮", user=people[0][0], chat=people[0][1])  # lazy imports
        for rate in args.rates:
            runs.append(await paced(robot, urls, people, texts, rate, args.seconds, db))
    finally:
        await http.close()
        await service.close()
        await urls.close()
        await app_api.close()
    db.dispose()
    sender = service.sender.sent if service.sender is not None else {}
    return {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "residents": len(people),
        "runs": runs,
        "outbox_routes": sender,
        "app_messages": len(app_api.sent),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=500)
    parser.add_argument("--rates", type=lambda v: [float(x) for x in v.split(",")], default=[20.0, 50.0])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="minqing-bench-wecom-") as folder:
        report = asyncio.run(run(args, Path(folder)))
    sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark `minqing run` on both frameworks against the fake Bot API server.

Run: ``uv run python -m bench.bench_telegram`` (add ``--json`` for machine-readable output).

For each framework and rate, a fresh SQLite street with 500 bound residents is served by a real
``minqing run`` process; the fake server injects private posts at a steady rate (open loop, so a
slow bot cannot slow the arrivals down) and records when each acknowledgement arrives. Latency is
from the update becoming available to getUpdates to the ack reaching the server; posts/s is posts
divided by the time from the first post to the last ack; RSS is the bot process's peak (VmHWM).

Telegram's own limits (30 messages/s overall) would cap acks at 30/s whatever the bot can do, so
they are lifted by default to measure the bot itself; ``--telegram-limits`` keeps them.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from handlers.messages import IncomingMessage
from tests.fakes.telegram_api import FakeTelegram

REPO = Path(__file__).resolve().parent.parent

RESIDENTS = 500
FIRST_USER = 700_000
POSTS = (
    "楼道里的灯坏了一个星期了，晚上很黑",
    "小区门口的垃圾三天没人清运了",
    "电梯又停了，老人上下楼很不方便",
    "楼上漏水把我家天花板泡坏了",
    "地下车库有人乱停车，堵住了消防通道",
    "请问办理居住证需要带什么材料",
    "晚上广场舞音乐太吵了，影响休息",
    "单元门禁坏了，陌生人随便进出",
)


@dataclass
class Result:
    framework: str
    rate: int
    posts: int
    acked: int
    lost: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    posts_per_s: float
    rss_mb: float


def build_street(path: Path) -> None:
    """A street with 500 households, five grids with an officer each, and 500 bound residents."""
    from analysis.analyzer import Analyzer
    from handlers.admin import Admin
    from handlers.clock import SystemClock
    from handlers.service import Minqing
    from storage.db import Database
    from storage.migrate import upgrade
    from storage.models import Outbox

    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database.from_url(url)
    admin, clock = Admin(db), SystemClock()
    core = Minqing(db=db, analyzer=Analyzer(), clock=clock)
    rows = []
    for i in range(RESIDENTS):
        building, unit, room = i // 50 + 1, i // 25 % 2 + 1, 101 + i % 25
        rows.append(
            {"community": "GH", "grid": f"GH-0{building // 3 + 1}", "building": str(building), "unit": str(unit)}
            | {"room": str(room), "head_name": f"住户{i}", "phone": "13800001111", "tags": ""}
        )
    admin.import_households(rows, now=clock.now())
    for n, grid in enumerate(sorted({r["grid"] for r in rows})):
        _, code = admin.add_officer(name=f"网格员{n}", role="grid_officer", scope=grid, now=clock.now())
        core.handle(_message(f"/join {code}", user=str(600_000 + n)))
    for i, row in enumerate(rows):
        where = f"{row['building']}幢{row['unit']}单元{row['room']}"
        core.handle(_message(f"/bind {where} 1111", user=str(FIRST_USER + i)))
    # Start from an empty outbox: the benchmark measures posts, not the set-up replies.
    with db.transaction() as session:
        session.execute(sa.update(Outbox).values(sent_at=clock.now()))
    db.dispose()


def _message(text: str, *, user: str) -> IncomingMessage:
    return IncomingMessage(
        platform="telegram",
        chat_id=user,
        user_id=user,
        message_id=f"setup-{time.monotonic_ns()}",
        text=text,
        sent_at=datetime.now(UTC),
    )


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def run_one(
    framework: str, rate: int, seconds: float, template: Path, *, telegram_limits: bool, warmup: float
) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="bench-tg-"))
    db_path = workdir / "bench.db"
    shutil.copy(template, db_path)
    fake = FakeTelegram()
    await fake.start()
    env = dict(os.environ)
    if not telegram_limits:
        env |= {
            "MINQING_TELEGRAM_PER_SECOND": "100000",
            "MINQING_TELEGRAM_PER_GROUP_PER_MINUTE": "100000",
            "MINQING_TELEGRAM_PER_PRIVATE_PER_SECOND": "100000",
        }
    command = ["-m", "bot.cli", "run", "--platform", "telegram", "--framework", framework]
    command += ["--token", fake.token, "--api-url", fake.url, "--db", f"sqlite:///{db_path}"]
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await fake.wait_for(lambda: bool(fake.called("deleteWebhook")), within=120)
        # Let start-up finish (the scheduler's catch-up draws digest charts) before measuring steady state.
        await asyncio.sleep(warmup)
        total = int(rate * seconds)
        sent: dict[tuple[str, int], int] = {}
        start = time.monotonic()
        for n in range(total):
            due = start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            user = FIRST_USER + n % RESIDENTS
            update = await fake.inject_text(user_id=user, text=POSTS[n % len(POSTS)] + f"（{n}）")
            sent[(str(user), update["message"]["message_id"])] = update["update_id"]

        def acks() -> dict[tuple[str, int], float]:
            return {(c.chat_id, c.reply_to): c.at for c in fake.sent() if c.reply_to is not None}

        with contextlib.suppress(TimeoutError):  # whatever is missing by then counts as lost
            await fake.wait_for(lambda: sent.keys() <= acks().keys(), within=120)
        received = acks()
        latencies = sorted(
            (received[key] - fake.injected_at[update_id]) * 1000 for key, update_id in sent.items() if key in received
        )
        last_ack = max((received[key] for key in sent if key in received), default=start)
        rss = _peak_rss_mb(bot.pid)
    finally:
        bot.terminate()
        await bot.wait()
        await fake.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    return Result(
        framework=framework,
        rate=rate,
        posts=total,
        acked=len(latencies),
        lost=total - len(latencies),
        p50_ms=round(statistics.median(latencies), 1) if latencies else float("nan"),
        p99_ms=round(quantiles[98], 1),
        max_ms=round(latencies[-1], 1) if latencies else float("nan"),
        posts_per_s=round(len(latencies) / (last_ack - start), 1) if last_ack > start else 0.0,
        rss_mb=round(rss, 1),
    )


async def main_async(args: argparse.Namespace) -> list[Result]:
    template = Path(tempfile.mkdtemp(prefix="bench-tg-street-")) / "street.db"
    print(f"building a street with {RESIDENTS} bound residents …", file=sys.stderr)
    await asyncio.to_thread(build_street, template)
    results = []
    for framework in args.frameworks:
        for rate in args.rates:
            seconds = args.seconds if args.seconds else (10.0 if rate <= 50 else 5.0)
            print(f"{framework} at {rate} posts/s for {seconds:.0f}s …", file=sys.stderr)
            results.append(
                await run_one(
                    framework, rate, seconds, template, telegram_limits=args.telegram_limits, warmup=args.warmup
                )
            )
    shutil.rmtree(template.parent, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frameworks", nargs="+", default=["ptb", "aiogram"])
    parser.add_argument("--rates", nargs="+", type=int, default=[50, 200])
    parser.add_argument("--seconds", type=float, default=0.0, help="burst length (default 10s at 50/s, 5s above)")
    parser.add_argument("--telegram-limits", action="store_true", help="keep Telegram's 30 msg/s limits")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds between start-up and the burst")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, SQLite"
    if args.json:
        print(json.dumps({"machine": machine, "results": [asdict(r) for r in results]}, ensure_ascii=False))
        return
    print(f"machine: {machine}")
    print("| framework | posts/s offered | posts | lost | p50 ms | p99 ms | max ms | posts/s sustained | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.framework} | {r.rate} | {r.posts} | {r.lost} | {r.p50_ms} | {r.p99_ms} | {r.max_ms} "
            f"| {r.posts_per_s} | {r.rss_mb} |"
        )


if __name__ == "__main__":
    main()

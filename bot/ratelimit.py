"""Rate windows every sending process shares: in memory (one process), in Redis, or in the database.

Telegram counts what the *bot* sends, not what each of our processes sends: ~30 messages a second
overall, 20 a minute per group, about one a second per private chat; a 429 with ``retry_after``
means stop for that long. A ``RateGate`` answers "may this message go now?" and, when it may,
counts it in the same atomic step, so N processes together keep the limits.

- ``LocalGate``: sliding windows in this process (SQLite's one-process deployment, tests).
- ``RedisGate``: one Lua script per send over sorted sets (``redis-py``); times come from the
  Redis server, so the processes' clocks need not agree.
- ``DatabaseGate``: the same windows as rows of ``SendMark`` under a PostgreSQL advisory lock,
  for a PostgreSQL deployment without Redis (a few statements per send; fine at Telegram's rates).

Windows are counted from when a send starts, with a margin on top of each span (5 %, at least 250 ms): a request
started just inside a window can reach Telegram just outside it, and another process's request
can overtake it on the way.
"""

import asyncio
import time
import uuid
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from handlers.clock import Clock
from storage import operations as ops
from storage.db import Database


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` sends within any ``span`` seconds for ``key``."""

    key: str
    limit: int
    span: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """0/0: go (and the send is counted); else how long the platform as a whole / this chat must wait."""

    overall: float = 0.0
    chat: float = 0.0

    @property
    def go(self) -> bool:
        return self.overall <= 0 and self.chat <= 0


class RateGate(Protocol):
    async def acquire(self, overall: Window, chat: Window) -> Verdict:
        """Count a send in both windows if both have room; otherwise count nothing and say how long to wait."""

    async def pause(self, platform: str, seconds: float) -> None:
        """The platform said "retry after": no process sends to it for ``seconds``."""


def with_margin(window: Window) -> Window:
    """The span plus 5 % (at least 250 ms): the margin for requests that overtake each other on the way.

    A process whose core threads keep the GIL busy can hold a counted request back a few hundred ms
    before it leaves, while another process's request goes at once; Telegram counts arrivals.
    """
    return Window(window.key, window.limit, window.span + max(0.25, window.span * 0.05))


# ---------------------------------------------------------------------------------------- in memory


@dataclass(slots=True)
class _Sent:
    sent: deque[float] = field(default_factory=deque)

    def wait(self, now: float, window: Window) -> float:
        while self.sent and now - self.sent[0] >= window.span:
            self.sent.popleft()
        return 0.0 if len(self.sent) < window.limit else window.span - (now - self.sent[0])


class LocalGate:
    """Windows of this process only."""

    def __init__(self) -> None:
        self._windows: dict[str, _Sent] = {}
        self._paused_until: dict[str, float] = {}

    async def acquire(self, overall: Window, chat: Window) -> Verdict:
        now = time.monotonic()
        platform = overall.key.rsplit(":", 1)[0]
        paused = self._paused_until.get(platform, 0.0) - now
        if paused > 0:
            return Verdict(overall=paused)
        windows = [with_margin(overall), with_margin(chat)]
        waits = [self._windows.setdefault(w.key, _Sent()).wait(now, w) for w in windows]
        if any(waits):
            return Verdict(overall=waits[0], chat=waits[1])
        for w in windows:
            self._windows[w.key].sent.append(now)
        return Verdict()

    async def pause(self, platform: str, seconds: float) -> None:
        self._paused_until[platform] = max(self._paused_until.get(platform, 0.0), time.monotonic() + seconds)


# ---------------------------------------------------------------------------------------- Redis

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return {paused, 0} end
local waits = {0, 0}
for i = 2, 3 do
  local limit = tonumber(ARGV[i * 2 - 2])
  local span = tonumber(ARGV[i * 2 - 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - span)
  if redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    waits[i - 1] = math.max(1, tonumber(oldest[2]) + span - now)
  end
end
if waits[1] > 0 or waits[2] > 0 then return waits end
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], now, ARGV[1] .. ':' .. i)
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[i * 2 - 1]))
end
return {0, 0}
"""


class RedisGate:
    """Windows in Redis sorted sets, checked and counted by one script (atomic across processes)."""

    def __init__(self, url: str, *, prefix: str = "minqing") -> None:
        import redis.asyncio as aioredis  # imported only by deployments that configure Redis

        self.redis: Any = aioredis.from_url(url)
        self.prefix = prefix
        self._script = self.redis.register_script(_ACQUIRE)

    def _key(self, name: str) -> str:
        return f"{self.prefix}:rate:{name}"

    async def acquire(self, overall: Window, chat: Window) -> Verdict:
        windows = [with_margin(overall), with_margin(chat)]
        platform = overall.key.rsplit(":", 1)[0]
        keys = [self._key(f"pause:{platform}")] + [self._key(w.key) for w in windows]
        args: list[str | int] = [uuid.uuid4().hex]
        for w in windows:
            args += [w.limit, int(w.span * 1000)]
        overall_ms, chat_ms = await self._script(keys=keys, args=args)
        return Verdict(overall=int(overall_ms) / 1000, chat=int(chat_ms) / 1000)

    async def pause(self, platform: str, seconds: float) -> None:
        key = self._key(f"pause:{platform}")
        ms = max(1, int(seconds * 1000))
        # Keep the longer of two pauses: SET ... GT needs Redis 7, so compare the remaining time first.
        if int(await self.redis.pttl(key)) < ms:
            await self.redis.set(key, "1", px=ms)

    async def close(self) -> None:
        await self.redis.aclose()


# ---------------------------------------------------------------------------------------- database


class DatabaseGate:
    """Windows as ``SendMark`` rows, checked under one advisory lock (PostgreSQL without Redis)."""

    LOCK = zlib.crc32(b"minqing-rate-windows")

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._sweeps = 0

    async def acquire(self, overall: Window, chat: Window) -> Verdict:
        return await asyncio.to_thread(self._acquire, [with_margin(overall), with_margin(chat)])

    def _acquire(self, windows: Sequence[Window]) -> Verdict:
        now = self.clock.now()
        platform = windows[0].key.rsplit(":", 1)[0]
        with self.db.transaction() as session:
            ops.lock_rate_windows(session=session, key=self.LOCK)
            # A pause is a mark dated in the future.
            _, paused = ops.sends_since(session=session, key=f"pause:{platform}", since=now)
            if paused is not None:
                return Verdict(overall=(paused - now).total_seconds())
            waits = []
            for w in windows:
                count, oldest = ops.sends_since(session=session, key=w.key, since=now - timedelta(seconds=w.span))
                full = count >= w.limit and oldest is not None
                waits.append(w.span - (now - oldest).total_seconds() if full and oldest else 0.0)
            if any(wait > 0 for wait in waits):
                return Verdict(overall=waits[0], chat=waits[1])
            ops.mark_sends(session=session, keys=[w.key for w in windows], at=now)
            self._sweeps += 1
            if self._sweeps % 500 == 0:
                ops.forget_sends(session=session, before=now - timedelta(minutes=5))
        return Verdict()

    async def pause(self, platform: str, seconds: float) -> None:
        def write() -> None:
            with self.db.transaction() as session:
                until = self.clock.now() + timedelta(seconds=seconds)
                ops.mark_sends(session=session, keys=[f"pause:{platform}"], at=until)

        await asyncio.to_thread(write)


def gate_for(db: Database, clock: Clock, *, redis_url: str | None, prefix: str = "minqing") -> RateGate:
    """Redis when configured; else the database for PostgreSQL, memory for SQLite (one process)."""
    if redis_url:
        return RedisGate(redis_url, prefix=prefix)
    if db.is_sqlite:
        return LocalGate()
    return DatabaseGate(db, clock)

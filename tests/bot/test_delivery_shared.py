"""Several senders on one outbox: each row sent once, in order per chat, leases taken over, limits shared."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.delivery import Delivery, RateLimits, RetryAfter
from bot.ratelimit import DatabaseGate, LocalGate, RateGate, RedisGate, Window
from handlers.clock import FixedClock, SystemClock
from handlers.messages import OutgoingMessage
from storage import repositories as repo
from storage.db import Database
from storage.models import Outbox

REDIS_URL = "redis://127.0.0.1:6379/0"


class Recorder:
    def __init__(self, name: str, log: list[tuple[str, str, str]], delay: float = 0.0) -> None:
        self.name, self.log, self.delay = name, log, delay

    async def send(self, message: OutgoingMessage) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.log.append((self.name, message.chat_id, message.text))


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    from storage.migrate import upgrade

    upgrade(pg_url)
    db = Database.from_url(pg_url)
    yield db
    db.dispose()


def queue(db: Database, clock: FixedClock | SystemClock, messages: list[tuple[str, str]]) -> None:
    with db.transaction() as session:
        repo.queue_outgoing(
            session=session, rows=[OutgoingMessage("telegram", c, t).outbox_row(clock.now()) for c, t in messages]
        )


def unsent(db: Database) -> int:
    with db.transaction() as session:
        return len(session.exec(select(Outbox.id).where(col(Outbox.sent_at).is_(None))).all())


LIFTED = RateLimits(per_second=10_000, per_group_per_minute=10_000, per_private_per_second=10_000)


async def test_three_senders_send_every_row_once_and_each_chat_in_order(pg: Database) -> None:
    clock = SystemClock()
    chats = [str(1000 + i) for i in range(20)]
    queue(pg, clock, [(chat, f"{chat}-{n}") for n in range(6) for chat in chats])
    log: list[tuple[str, str, str]] = []
    senders = [
        Delivery(db=pg, senders={"telegram": Recorder(f"p{i}", log, delay=0.002)}, clock=clock, limits=LIFTED,
                 owner=f"p{i}", batch=5)
        for i in range(3)
    ]  # fmt: skip

    for _ in range(40):
        await asyncio.gather(*(d.drain_once() for d in senders))
        if unsent(pg) == 0:
            break

    texts = [text for _, _, text in log]
    assert sorted(texts) == sorted(f"{chat}-{n}" for n in range(6) for chat in chats)  # each exactly once
    for chat in chats:
        assert [t for _, c, t in log if c == chat] == [f"{chat}-{n}" for n in range(6)]
    assert len({name for name, _, _ in log}) > 1  # the work was in fact shared


async def test_a_dead_senders_claims_are_taken_over_once_the_lease_expires(pg: Database, clock: FixedClock) -> None:
    queue(pg, clock, [("1001", "a"), ("1001", "b")])
    log: list[tuple[str, str, str]] = []
    dead = Delivery(db=pg, senders={"telegram": Recorder("dead", log)}, clock=clock, limits=LIFTED, owner="dead")
    alive = Delivery(db=pg, senders={"telegram": Recorder("alive", log)}, clock=clock, limits=LIFTED, owner="alive")

    assert [row.id for row in dead.claim()]  # claimed, then the process "dies" before sending
    assert await alive.drain_once() == 0  # the head is leased: nothing overtakes it
    clock.advance(timedelta(seconds=LIFTED.lease_seconds + 1))
    assert await alive.drain_once() == 1
    assert await alive.drain_once() == 1

    assert [(name, text) for name, _, text in log] == [("alive", "a"), ("alive", "b")]


async def test_retry_after_holds_back_every_sender(pg: Database) -> None:
    clock = SystemClock()
    gate = LocalGate()

    class Refusing:
        async def send(self, message: OutgoingMessage) -> None:
            raise RetryAfter(2)

    log: list[tuple[str, str, str]] = []
    queue(pg, clock, [("1001", "a"), ("1002", "b")])
    first = Delivery(db=pg, senders={"telegram": Refusing()}, clock=clock, limits=LIFTED, gate=gate, owner="a")
    await first.drain_once()
    verdict = await gate.acquire(Window("telegram:all", 30, 1.0), Window("telegram:chat:1003", 1, 1.0))
    assert not verdict.go and verdict.overall > 1.5
    second = Delivery(db=pg, senders={"telegram": Recorder("b", log)}, clock=clock, limits=LIFTED, gate=gate)
    assert await second.drain_once() == 0  # both rows wait for their retry-after


@contextlib.asynccontextmanager
async def three_gates(kind: str, pg_url: str) -> AsyncIterator[list[RateGate]]:
    """Three gates standing for three processes: Redis with a key prefix of this test's own, or the database."""
    if kind == "database":
        from storage.migrate import upgrade

        upgrade(pg_url)
        dbs = [Database.from_url(pg_url) for _ in range(3)]
        yield [DatabaseGate(db, SystemClock()) for db in dbs]
        for db in dbs:
            db.dispose()
        return
    prefix = f"test-{uuid.uuid4().hex}"
    gates = [RedisGate(REDIS_URL, prefix=prefix) for _ in range(3)]
    try:
        await gates[0].redis.ping()
    except Exception as error:  # any connection error means no server here
        for gate in gates:
            await gate.close()
        pytest.skip(f"no Redis at {REDIS_URL}: {error!r}")
    try:
        yield list(gates)
    finally:
        keys = await gates[0].redis.keys(f"{prefix}:*")
        if keys:
            await gates[0].redis.delete(*keys)
        for gate in gates:
            await gate.close()


@pytest.mark.parametrize("kind", ["redis", "database"])
async def test_gates_in_three_processes_keep_one_overall_limit(kind: str, pg_url: str) -> None:
    overall = Window("telegram:all", 30, 1.0)
    async with three_gates(kind, pg_url) as gates:
        verdicts = await asyncio.gather(
            *(gates[i % 3].acquire(overall, Window(f"telegram:chat:{i}", 1, 1.0)) for i in range(60))
        )

    assert sum(v.go for v in verdicts) == 30
    assert all(v.overall > 0 for v in verdicts if not v.go)


@pytest.mark.parametrize("kind", ["redis", "database"])
async def test_gates_in_three_processes_keep_one_limit_per_chat(kind: str, pg_url: str) -> None:
    overall = Window("telegram:all", 1000, 1.0)
    group = Window("telegram:chat:-100111", 20, 60.0)
    async with three_gates(kind, pg_url) as gates:
        verdicts = [await gates[i % 3].acquire(overall, group) for i in range(25)]

    assert [v.go for v in verdicts] == [True] * 20 + [False] * 5
    assert all(55 < v.chat <= 63 for v in verdicts[20:])


@pytest.mark.parametrize("kind", ["redis", "database"])
async def test_a_pause_in_one_process_holds_the_others(kind: str, pg_url: str) -> None:
    async with three_gates(kind, pg_url) as gates:
        await gates[0].pause("telegram", 3)
        verdict = await gates[2].acquire(Window("telegram:all", 30, 1.0), Window("telegram:chat:1", 1, 1.0))

    assert not verdict.go and 2 < verdict.overall <= 3


def test_a_second_run_on_one_sqlite_file_is_refused_with_the_reason(sqlite_url: str) -> None:
    from bot.run import RunError, hold_sqlite_alone
    from bot.settings import Settings

    settings = Settings(database_url=sqlite_url)
    first = hold_sqlite_alone(settings)
    try:
        with pytest.raises(RunError, match="one-process"):
            hold_sqlite_alone(settings)
    finally:
        first.close()
    hold_sqlite_alone(settings).close()  # free again once the first process is gone


def test_postgresql_takes_no_process_lock(pg_url: str) -> None:
    from bot.run import hold_sqlite_alone
    from bot.settings import Settings

    assert hold_sqlite_alone(Settings(database_url=pg_url)) is None

"""Storage on SQLite and PostgreSQL: migrations, pragmas, time zones, codes under concurrency."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from analysis.analyzer import Analyzer
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import Minqing
from storage.db import Database
from storage.migrate import downgrade, upgrade
from storage.models import Case, Post, Street
from tests.support.factories import T0, World, build_world


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database.from_url(db_url)
    yield database
    database.dispose()


@pytest.fixture
def world(db: Database, analyzer: Analyzer) -> World:
    clock = FixedClock(T0)
    return build_world(Minqing(db=db, analyzer=analyzer, clock=clock), Admin(db), clock)


def test_migrations_build_and_remove_the_schema_from_empty(db_url: str) -> None:
    downgrade(db_url, "base")
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(db_url)
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert {"case", "post", "household", "outbox", "inboundmessage", "digest", "alertsent"} <= tables


def test_sqlite_pragmas(sqlite_url: str) -> None:
    db = Database.from_url(sqlite_url)
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    db.dispose()


def test_timestamps_come_back_aware_in_utc(db: Database) -> None:
    shanghai = timezone(timedelta(hours=8))
    with db.transaction() as session:
        session.add(Street(code="X", name="x"))
        session.flush()
        from storage.models import Community, Grid, Household

        community = Community(code="C", name="c", street_id=1)
        session.add(community)
        session.flush()
        grid = Grid(code="G", name="g", community_id=community.id or 0)
        session.add(grid)
        session.flush()
        session.add(
            Household(
                community_id=community.id or 0,
                grid_id=grid.id or 0,
                building="1",
                room="101",
                created_at=datetime(2026, 1, 1, 8, 0, tzinfo=shanghai),
            )
        )
    with db.transaction() as session:
        stored = session.exec(select(Household)).one()
    assert stored.created_at == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert stored.created_at.utcoffset() == timedelta(0)


def test_foreign_keys_are_enforced(db: Database) -> None:
    from storage.models import Grid

    with pytest.raises(sa.exc.IntegrityError), db.transaction() as session:
        session.add(Grid(code="G", name="g", community_id=999))


def test_redelivered_post_files_one_case(world: World) -> None:
    first = world.send("1幢路灯坏了", user="res_1_1_301", message_id="42")
    second = world.send("1幢路灯坏了", user="res_1_1_301", message_id="42")

    assert len(first.case_codes) == 1 and second.duplicate
    with world.core.db.transaction() as session:
        assert session.exec(select(func.count()).select_from(Case)).one() == 1


def test_concurrent_posts_get_distinct_codes(world: World) -> None:
    codes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def post(worker: int) -> None:
        try:
            for n in range(5):
                result = world.send(
                    f"{worker}号反映：楼道灯坏了第{n}次", user=f"user{worker}", message_id=f"{worker}-{n}"
                )
                with lock:
                    codes.extend(result.case_codes)
        except BaseException as error:  # surfaced below; a thread must not swallow it
            errors.append(error)

    threads = [threading.Thread(target=post, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert len(codes) == 30 and len(set(codes)) == 30


def test_concurrent_redelivery_files_once(world: World) -> None:
    results = []

    def deliver() -> None:
        results.append(world.send("2幢电梯坏了", user="res_1_1_301", message_id="dup-1"))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(len(r.case_codes) for r in results) == 1
    assert sum(r.duplicate for r in results) == 3
    with world.core.db.transaction() as session:
        assert session.exec(select(func.count()).select_from(Post)).one() == 1

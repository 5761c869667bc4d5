"""The overdue ladder: who is alerted when, exactly once, on working time, through the index."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from analysis.analyzer import Analyzer
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.deadlines import deadlines
from handlers.messages import OutgoingMessage
from handlers.overdue import OverdueChecker
from handlers.service import CoreSettings, Minqing
from storage.alerts import FIRST_REPLY, RESOLUTION, overdue_query
from storage.db import Database
from storage.models import AlertSent, Case, Outbox
from tests.support.factories import World, build_world, insert_case

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def world_on(db_url: str, analyzer: Analyzer) -> Iterator[World]:
    db = Database.from_url(db_url)
    clock = FixedClock(datetime(2026, 11, 23, 10, tzinfo=SHANGHAI))
    core = Minqing(db=db, analyzer=analyzer, clock=clock, settings=CoreSettings())
    yield build_world(core, Admin(db), clock)
    db.dispose()


def checker(world: World) -> OverdueChecker:
    return OverdueChecker(db=world.core.db, taxonomy=world.core.taxonomy, clock=world.clock, zone=SHANGHAI)


def alerts_to(world: World) -> list[tuple[str, str]]:
    """(chat id, first line) of every alert in the outbox, in order."""
    with world.core.db.session() as session:
        rows = session.exec(select(Outbox).where(Outbox.kind == "alert").order_by(Outbox.id)).all()  # type: ignore[arg-type]
    return [(r.chat_id, OutgoingMessage.from_json(r.payload).text.split("\n")[0]) for r in rows]


def high_case(world: World, *, urgency: str = "high") -> tuple[int, datetime]:
    """A case filed now with the taxonomy's deadline for ``urgency`` (high: 4 hours, wall clock)."""
    now = world.clock.now()
    first_due, resolution_due = deadlines(
        world.core.taxonomy, category="property", urgency=urgency, received_at=now, zone=SHANGHAI
    )
    case_id = insert_case(
        world.core.db,
        grid="GH-01",
        community="GH",
        created_at=now,
        urgency=urgency,
        assignee="officer_gh1",
        first_reply_due=first_due,
        resolution_due=resolution_due,
    )
    return case_id, first_due


def test_ladder_reminds_then_escalates_to_chief_then_leader(world_on: World) -> None:
    _, due = high_case(world_on)  # 240 minutes allowed
    overdue = checker(world_on)
    world_on.clock.set(due - timedelta(minutes=1))
    assert overdue.check() == []
    world_on.clock.set(due)
    assert [(a.kind, a.level) for a in overdue.check()] == [(FIRST_REPLY, 1)]
    assert overdue.check() == []  # every minute after: nothing new
    world_on.clock.set(due + timedelta(minutes=119))
    assert overdue.check() == []
    world_on.clock.set(due + timedelta(minutes=120))  # +50% of 240 minutes
    assert [(a.kind, a.level) for a in overdue.check()] == [(FIRST_REPLY, 2)]
    world_on.clock.set(due + timedelta(minutes=240))  # +100%
    assert [(a.kind, a.level) for a in overdue.check()] == [(FIRST_REPLY, 3)]
    assert alerts_to(world_on) == [
        ("officer_gh1", f"【超时提醒】诉求 {_code(world_on)} · 物业服务"),
        ("chief_gh1", f"【超时督办】诉求 {_code(world_on)} · 物业服务"),
        ("leader_gh", f"【超时上报】诉求 {_code(world_on)} · 物业服务"),
    ]


def test_critical_case_alerts_assignee_and_chief_at_once(world_on: World) -> None:
    _, due = high_case(world_on, urgency="critical")
    world_on.clock.set(due)
    alerts = checker(world_on).check()
    assert [(a.level, a.recipients) for a in alerts] == [(1, ("officer_gh1的名字", "chief_gh1的名字"))]
    assert {chat for chat, _ in alerts_to(world_on)} == {"officer_gh1", "chief_gh1"}
    assert all(head.startswith("【紧急】") for _, head in alerts_to(world_on))


def test_a_replied_case_gets_only_resolution_alerts(world_on: World) -> None:
    case_id, _ = high_case(world_on)
    with world_on.core.db.transaction() as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.first_replied_at = world_on.clock.now() + timedelta(minutes=5)
        session.add(case)
        resolution_due = case.resolution_due
    world_on.clock.set(resolution_due + timedelta(minutes=1))
    assert [(a.kind, a.level) for a in checker(world_on).check()] == [(RESOLUTION, 1)]


def test_a_late_first_check_sends_every_level_reached_once(world_on: World) -> None:
    """After downtime the ladder catches up: each level reached is sent, none twice."""
    _, due = high_case(world_on)
    world_on.clock.set(due + timedelta(days=1))
    first = checker(world_on).check()
    restarted = checker(world_on).check()  # a new process after a restart
    assert [a.level for a in first if a.kind == FIRST_REPLY] == [1, 2, 3]
    assert [a for a in restarted if a.kind == FIRST_REPLY] == []
    with world_on.core.db.session() as session:
        assert session.exec(select(func.count()).select_from(AlertSent)).one() == len(first)


def test_rejected_and_resolved_cases_are_never_chased(world_on: World) -> None:
    now = world_on.clock.now()
    for status, closed, resolved in (("rejected", now, None), ("closed", now, now)):
        insert_case(
            world_on.core.db,
            grid="GH-01",
            community="GH",
            created_at=now - timedelta(days=20),
            status=status,
            assignee="officer_gh1",
            closed_at=closed,
            resolved_at=resolved,
        )
    world_on.clock.set(now + timedelta(days=30))
    assert checker(world_on).check() == []


def test_deadline_over_national_day_counts_working_days_only(world_on: World) -> None:
    """A normal case (one working day to reply) posted on 30 Sep is due on 8 Oct, after the holiday."""
    received = datetime(2026, 9, 30, 10, tzinfo=SHANGHAI)
    first_due, _ = deadlines(
        world_on.core.taxonomy, category="property", urgency="normal", received_at=received, zone=SHANGHAI
    )
    assert first_due.astimezone(SHANGHAI) == datetime(2026, 10, 8, 10, tzinfo=SHANGHAI)
    world_on.clock.set(received)
    insert_case(
        world_on.core.db,
        grid="GH-01",
        community="GH",
        created_at=received,
        assignee="officer_gh1",
        first_reply_due=first_due,
        resolution_due=first_due + timedelta(days=30),
    )
    overdue = checker(world_on)
    world_on.clock.set(datetime(2026, 10, 7, 23, tzinfo=SHANGHAI))  # holiday: nothing is late yet
    assert overdue.check() == []
    world_on.clock.set(first_due)
    assert [a.level for a in overdue.check()] == [1]
    # +50% of one working day = 12 working hours: 8 Oct 10:00 -> 8 Oct 22:00 (a working day).
    world_on.clock.set(datetime(2026, 10, 8, 21, 59, tzinfo=SHANGHAI))
    assert overdue.check() == []
    world_on.clock.set(datetime(2026, 10, 8, 22, tzinfo=SHANGHAI))
    assert [a.level for a in overdue.check()] == [2]


def test_adjusted_saturday_workday_counts(world_on: World) -> None:
    """Saturday 10 Oct 2026 is an adjusted workday: a Friday post is due on Saturday, not Monday."""
    received = datetime(2026, 10, 9, 10, tzinfo=SHANGHAI)
    first_due, _ = deadlines(
        world_on.core.taxonomy, category="property", urgency="normal", received_at=received, zone=SHANGHAI
    )
    assert first_due.astimezone(SHANGHAI) == datetime(2026, 10, 10, 10, tzinfo=SHANGHAI)
    ordinary = datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)  # an ordinary Friday: due on Monday
    first_due, _ = deadlines(
        world_on.core.taxonomy, category="property", urgency="normal", received_at=ordinary, zone=SHANGHAI
    )
    assert first_due.astimezone(SHANGHAI) == datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("kind", "index"), [(FIRST_REPLY, "ix_case_open_first_reply"), (RESOLUTION, "ix_case_open_resolution")]
)
def test_overdue_query_uses_the_partial_index(world_on: World, kind: str, index: str) -> None:
    """The job's own query, explained by the database: it must reach the partial index."""
    db = world_on.core.db
    explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "

    seen: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append((statement, parameters))

    with db.session() as session:
        connection = session.connection()
        if not db.is_sqlite:
            # The test table is tiny, so forbid the sequential scan that would win here and check
            # the index is usable at all (its predicate is implied by the query's conditions).
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        sa.event.listen(db.engine, "before_cursor_execute", remember)
        try:
            session.execute(overdue_query(kind, world_on.clock.now())).all()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", remember)
        statement, parameters = seen[-1]
        plan = connection.exec_driver_sql(explain + statement, parameters).all()  # type: ignore[arg-type]
    assert index in " ".join(str(row) for row in plan)


def _code(world: World) -> str:
    with world.core.db.session() as session:
        return session.exec(select(Case.code)).first() or ""

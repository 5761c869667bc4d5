"""Several scheduler processes on one PostgreSQL: one leader, one digest per period, one alert per level."""

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from analysis.analyzer import Analyzer
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import CoreSettings, Minqing
from schedules.scheduler import AdvisoryLockLeader
from storage.db import Database
from storage.models import AlertSent, Digest, Outbox
from tests.support.factories import World, build_world, insert_case

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_world(pg_url: str, analyzer: Analyzer) -> Iterator[World]:
    db = Database.from_url(pg_url)
    clock = FixedClock(NOW)
    core = Minqing(db=db, analyzer=analyzer, clock=clock, settings=CoreSettings())
    yield build_world(core, Admin(db), clock)
    db.dispose()


def test_only_one_process_leads_and_a_standby_takes_over_when_it_dies(pg_url: str) -> None:
    first_db, second_db = Database.from_url(pg_url), Database.from_url(pg_url)
    first, second = AdvisoryLockLeader(first_db.engine), AdvisoryLockLeader(second_db.engine)
    try:
        assert first.is_leader()
        assert not second.is_leader()
        assert first.is_leader()  # still leading on the next job
        # The leader's process dies: the server drops its connection and with it the lock.
        assert first._connection is not None
        pid = first._connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with second_db.engine.connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # The backend exits (and drops the lock) a moment after being told to, slower on a busy host.
        deadline = time.monotonic() + 5
        while not second.is_leader() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.is_leader()
        assert not first.is_leader()  # the old leader notices it lost the lock and stands by
        second.release()
        assert first.is_leader()  # a clean shutdown hands over at once
    finally:
        first.release()
        second.release()
        first_db.dispose()
        second_db.dispose()


RACE = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from analysis.taxonomy import load_taxonomy
    from handlers.clock import FixedClock
    from schedules.jobs import Jobs, ScheduleSettings
    from storage.db import Database

    db = Database.from_url(sys.argv[1])
    clock = FixedClock(datetime.fromisoformat(sys.argv[2]))
    # No leadership here on purpose: both processes act, and only the unique keys keep them apart.
    jobs = Jobs(db=db, taxonomy=load_taxonomy(), clock=clock, settings=ScheduleSettings(charts=False))
    for _ in range(3):
        jobs.catch_up()
        jobs.check_overdue()
    db.dispose()
    """
)


def test_two_scheduler_processes_send_each_digest_and_alert_once(pg_world: World, pg_url: str) -> None:
    db = pg_world.core.db
    for hours in (1, 3, 30):  # 4 h allowed: levels at +0, +2 h, +4 h -> 1, 2 and 3 levels due
        created = NOW - timedelta(hours=hours + 4)
        insert_case(
            db,
            grid="GH-01",
            community="GH",
            created_at=created,
            urgency="high",
            assignee="officer_gh1",
            first_reply_due=created + timedelta(hours=4),
            resolution_due=created + timedelta(hours=72),
        )
    processes = [
        subprocess.Popen([sys.executable, "-c", RACE, pg_url, NOW.isoformat()], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    with db.session() as session:
        digests = session.exec(select(Digest.kind, Digest.scope_code)).all()
        alert_levels = session.exec(select(AlertSent.case_id, AlertSent.kind, AlertSent.level)).all()
        duplicates = session.exec(
            select(Outbox.chat_id, Outbox.payload, func.count())
            .group_by(Outbox.chat_id, Outbox.payload)
            .having(func.count() > 1)
        ).all()
        alert_messages = session.exec(select(func.count()).select_from(Outbox).where(Outbox.kind == "alert")).one()
    # Three scopes (GH, WT, ST01) x three kinds, each once.
    assert sorted(digests) == sorted((k, s) for k in ("week", "month", "quarter") for s in ("GH", "WT", "ST01"))
    # 1 + 2 + 3 first-reply levels; no resolution deadline (72 h) has passed yet.
    assert sorted(level for _, _, level in alert_levels) == [1, 1, 1, 2, 2, 3]
    assert alert_messages == 6  # each level goes to one officer with one chat account
    assert duplicates == []

"""Schedules on a fake clock: local firing times, catch-up after downtime, the APScheduler wiring."""

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import Minqing
from schedules.jobs import Jobs, ScheduleSettings, SimulatedSchedule, cron_trigger, last_fire
from schedules.scheduler import SchedulerHandle, SoleLeader, start_scheduler
from storage.models import Digest, Outbox
from tests.support.factories import World, build_world, insert_case

SHANGHAI = ZoneInfo("Asia/Shanghai")
NO_CHARTS = ScheduleSettings(charts=False)


@pytest.fixture(params=["UTC", "Asia/Shanghai"])
def host_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test with the host's local time zone set to UTC, then to Shanghai."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    return build_world(core, admin, clock)


def jobs_for(world: World, settings: ScheduleSettings = NO_CHARTS) -> Jobs:
    return Jobs(db=world.core.db, taxonomy=world.core.taxonomy, clock=world.clock, settings=settings)


def digests(world: World) -> list[tuple[str, str, datetime, datetime]]:
    """(kind, scope, local period start, local creation time) of every stored digest."""
    with world.core.db.session() as session:
        rows = session.exec(select(Digest).order_by(col(Digest.id))).all()
    return [
        (d.kind, d.scope_code, d.period_start.astimezone(SHANGHAI), d.created_at.astimezone(SHANGHAI)) for d in rows
    ]


def test_digests_fire_at_local_times_across_month_quarter_and_year_ends(world: World, host_zone: str) -> None:
    start = datetime(2026, 12, 20, 12, tzinfo=SHANGHAI)
    world.clock.set(start)
    insert_case(world.core.db, grid="GH-01", community="GH", created_at=datetime(2026, 12, 30, 9, tzinfo=SHANGHAI))
    schedule = SimulatedSchedule(jobs_for(world), world.clock, names=("week", "month", "quarter"))
    schedule.run_until(datetime(2027, 1, 12, 12, tzinfo=SHANGHAI))

    fired = [(job.name, job.at.astimezone(SHANGHAI)) for job in schedule.fired]
    eight = {"hour": 8, "tzinfo": SHANGHAI}
    assert fired == [
        ("week", datetime(2026, 12, 21, **eight)),  # type: ignore[arg-type]
        ("week", datetime(2026, 12, 28, **eight)),  # type: ignore[arg-type]
        ("month", datetime(2027, 1, 1, **eight)),  # type: ignore[arg-type]
        ("quarter", datetime(2027, 1, 1, **eight)),  # type: ignore[arg-type]
        ("week", datetime(2027, 1, 4, **eight)),  # type: ignore[arg-type]
        ("week", datetime(2027, 1, 11, **eight)),  # type: ignore[arg-type]
    ]
    street = [(kind, start_, created) for kind, scope, start_, created in digests(world) if scope == "ST01"]
    assert [(kind, s.date().isoformat(), c.isoformat()) for kind, s, c in street] == [
        ("week", "2026-12-14", "2026-12-21T08:00:00+08:00"),
        ("week", "2026-12-21", "2026-12-28T08:00:00+08:00"),
        ("month", "2026-12-01", "2027-01-01T08:00:00+08:00"),
        ("quarter", "2026-10-01", "2027-01-01T08:00:00+08:00"),
        ("week", "2026-12-28", "2027-01-04T08:00:00+08:00"),
        ("week", "2027-01-04", "2027-01-11T08:00:00+08:00"),
    ]


def test_restart_after_a_missed_monday_catches_up_exactly_once(world: World) -> None:
    world.clock.set(datetime(2026, 11, 23, 7, tzinfo=SHANGHAI))  # Monday, before the 08:00 run
    insert_case(world.core.db, grid="GH-01", community="GH", created_at=datetime(2026, 11, 18, 9, tzinfo=SHANGHAI))
    jobs_for(world).catch_up()  # the process started: last week, month and quarter are there
    before = digests(world)
    # Down from 07:00 to 11:00: the Monday run was missed. Two restarts in a row.
    world.clock.set(datetime(2026, 11, 23, 11, tzinfo=SHANGHAI))
    jobs_for(world).catch_up()
    jobs_for(world).catch_up()
    new = [d for d in digests(world) if d not in before]
    assert [(kind, scope, start.date().isoformat()) for kind, scope, start, _ in new] == [
        ("week", "GH", "2026-11-16"),
        ("week", "WT", "2026-11-16"),
        ("week", "ST01", "2026-11-16"),
    ]
    with world.core.db.session() as session:
        to_leader = session.exec(select(Outbox).where(Outbox.chat_id == "leader_gh", Outbox.kind == "digest")).all()
    heads = [row.payload for row in to_leader if "11月16日—11月22日" in row.payload]
    assert len(heads) == 1  # one message for the caught-up week (it fits in one)


def test_catch_up_waits_for_the_firing_time(world: World) -> None:
    world.clock.set(datetime(2026, 11, 23, 7, 59, tzinfo=SHANGHAI))
    jobs_for(world).catch_up()
    weeks = {start.date().isoformat() for kind, _, start, _ in digests(world) if kind == "week"}
    assert weeks == {"2026-11-09"}  # the week that ended on Sunday is not due before 08:00


def test_overdue_checks_run_on_the_simulated_clock(world: World) -> None:
    now = world.clock.now()
    insert_case(
        world.core.db,
        grid="GH-01",
        community="GH",
        created_at=now,
        urgency="high",
        assignee="officer_gh1",
        first_reply_due=now + timedelta(minutes=30),
    )
    schedule = SimulatedSchedule(jobs_for(world), world.clock, names=("overdue",))
    fired = schedule.run_until(now + timedelta(minutes=45))
    assert len(fired) == 45  # every minute
    with_alerts = [job for job in fired if job.result]
    assert [job.at - now for job in with_alerts] == [timedelta(minutes=30)]


def test_numeric_weekdays_are_refused() -> None:
    with pytest.raises(ValueError, match="names"):
        cron_trigger("0 8 * * 1", SHANGHAI)
    trigger = cron_trigger("0 8 * * mon", SHANGHAI)
    fired = last_fire(trigger, datetime(2026, 11, 25, tzinfo=SHANGHAI))
    assert fired == datetime(2026, 11, 23, 8, tzinfo=SHANGHAI)


def test_schedule_times_are_configurable(world: World) -> None:
    settings = ScheduleSettings(charts=False, crons={"week": "30 9 * * fri", "overdue": "*/5 * * * *"})
    jobs = jobs_for(world, settings)
    assert set(jobs.triggers) == {"week", "overdue"}
    assert last_fire(jobs.triggers["week"], datetime(2026, 11, 24, tzinfo=SHANGHAI)) == datetime(
        2026, 11, 20, 9, 30, tzinfo=SHANGHAI
    )


async def test_start_scheduler_registers_jobs_and_catches_up_at_once(world: World) -> None:
    app = SimpleNamespace(db=world.core.db, core=world.core)  # what bot.wiring.App offers
    woken: list[bool] = []
    handle: SchedulerHandle = start_scheduler(app, lambda: woken.append(True), NO_CHARTS, clock=world.clock)
    try:
        assert isinstance(handle.leadership, SoleLeader)
        jobs = {job.id: job for job in handle.scheduler.get_jobs()}
        assert set(jobs) == {  # visits and surveys: issue 13; ops_notice: issue 16
            "week", "month", "quarter", "overdue", "pack_days", "leadership", "visits", "surveys", "survey_reminders",
            "ops_notice",
        }  # fmt: skip
        daily = jobs["ops_notice"].next_run_time.astimezone(SHANGHAI)
        assert (daily.hour, daily.minute) == (9, 0)  # the admin's operations notice (issue 16)
        nightly = jobs["pack_days"].next_run_time.astimezone(SHANGHAI)
        assert (nightly.hour, nightly.minute) == (3, 30)
        weekly = jobs["week"].next_run_time.astimezone(SHANGHAI)
        assert (weekly.weekday(), weekly.hour, weekly.minute) == (0, 8, 0)
        quarterly = jobs["quarter"].next_run_time.astimezone(SHANGHAI)
        assert (quarterly.month, quarterly.day, quarterly.hour) in {(m, 1, 8) for m in (1, 4, 7, 10)}
        # The leadership job runs at once; on becoming leader it catches up the missed digests.
        for _ in range(200):
            await asyncio.sleep(0.05)
            if len(digests(world)) >= 9:
                break
    finally:
        handle.shutdown()
    await asyncio.sleep(0.01)  # APScheduler's asyncio shutdown runs on the loop's next turn
    assert not handle.scheduler.running
    # The fixed clock is Monday 23 Nov 10:00: last week, October and the third quarter, per scope.
    assert {(kind, start.date().isoformat()) for kind, _, start, _ in digests(world)} == {
        ("week", "2026-11-16"),
        ("month", "2026-10-01"),
        ("quarter", "2026-07-01"),
    }
    assert len(digests(world)) == 9
    assert woken  # the delivery loop was told about the queued digests


def test_deployment_settings_build_the_schedule() -> None:
    from bot.settings import Settings

    settings = Settings(digest_week_cron="30 9 * * fri", overdue_cron="", overdue_chief_after=0.25, digest_min_sample=3)
    schedule = settings.schedule()
    assert schedule.crons == {
        "week": "30 9 * * fri",
        "month": "0 8 1 * *",
        "quarter": "0 8 1 jan,apr,jul,oct *",
        "visits": "0 8 * * mon",  # issue 13: the weekly visit lists
        "surveys": "0 9 1 * *",  # issue 13: the monthly 回访 / 知晓率 sample
        "survey_reminders": "0 10 * * *",
        "ops_notice": "0 9 * * *",  # issue 16: the admin's daily operations notice
    }
    assert (schedule.chief_after, schedule.leader_after, schedule.digest.min_sample) == (0.25, 1.0, 3)
    assert str(schedule.zone) == "Asia/Shanghai"

"""Visits that count (issue 13): plans by tag, /due, the weekly list sent once, a visit note filed as a case."""

from datetime import timedelta

import pytest
from sqlmodel import select

from analysis.analyzer import Analyzer
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import Minqing
from handlers.visits import VisitPlan, interval_for, parse_plans
from schedules.jobs import VISITS, Jobs, ScheduleSettings
from storage.models import Case, Household, Outbox, Visit
from tests.support.factories import World, build_world, households


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    world = build_world(core, admin, clock)
    rows = households()
    for row in rows:
        if (row["community"], row["building"], row["unit"], row["room"]) == ("GH", "1", "1", "101"):
            row["tags"] = "独居老人;低保户"
    report = admin.import_households(rows, now=clock.now())
    assert report.updated == 1
    return world


def test_plans_read_and_the_most_frequent_applies() -> None:
    plans = parse_plans("独居老人=14；低保户=30;*=91")

    assert plans == (
        VisitPlan("独居老人", timedelta(days=14)),
        VisitPlan("低保户", timedelta(days=30)),
        VisitPlan("*", timedelta(days=91)),
    )
    assert interval_for("低保户;独居老人", plans) == (timedelta(days=14), "独居老人")
    assert interval_for("", plans) == (timedelta(days=91), "*")
    assert interval_for("", parse_plans("独居老人=14")) is None
    for bad in ("独居老人", "独居老人=两周", "=14", "*=0"):
        with pytest.raises(ValueError, match="TAG=DAYS"):
            parse_plans(bad)


def test_due_lists_the_grid_and_a_visit_takes_a_household_off(world: World) -> None:
    first = world.send("/due", user="officer_gh1").messages[0].text
    assert "本周应走访 12 户" in first and "1幢1单元101（独居老人）" in first and "从未走访" in first
    assert "3幢" not in first, "only the officer's own grid"

    assert "已记入" in world.send("/visit 1幢1单元101 上门看望，老人身体不错", user="officer_gh1").messages[0].text
    world.send("/visit 1幢1单元102 不存在的房号", user="officer_gh1")
    world.send("/visit 1幢1单元301 了解近况", user="officer_gh1")
    after = world.send("/due", user="officer_gh1").messages[0].text
    assert "本周应走访 10 户" in after and "1幢1单元101" not in after and "1幢1单元301" not in after

    world.clock.advance(timedelta(days=10))  # within a week of the 14-day plan's next visit
    later = world.send("/due", user="officer_gh1").messages[0].text
    assert "1幢1单元101（独居老人）" in later and "1幢1单元301" not in later
    assert "3幢2单元" in world.send("/due", user="leader_gh").messages[0].text, "a leader sees every grid"


def test_a_visit_note_can_become_a_case_for_that_household(world: World) -> None:
    result = world.send("/visit 1幢1单元101 #诉求 楼道灯坏了，老人晚上下楼看不清", user="officer_gh1")

    assert not result.refused and "并登记为诉求" in result.messages[0].text
    code = result.messages[0].text.split("诉求 ")[-1].rstrip("。")
    case = world.case(code)
    with world.core.db.transaction() as session:
        household = session.get(Household, case.household_id)
        visits = session.exec(select(Visit)).all()
    assert household is not None and (household.building, household.unit, household.room) == ("1", "1", "101")
    assert case.grid_id == household.grid_id and len(visits) == 1
    assert world.send("/visit 1幢1单元101 #诉求", user="officer_gh1").refused


def jobs_for(world: World, analyzer: Analyzer) -> Jobs:
    return Jobs(
        db=world.core.db,
        taxonomy=analyzer.taxonomy,
        clock=world.clock,
        settings=ScheduleSettings(visit_plans="独居老人=14;*=91", charts=False),
    )


def visit_lists(world: World) -> list[Outbox]:
    with world.core.db.transaction() as session:
        return [row for row in session.exec(select(Outbox)).all() if "【走访提醒】" in row.payload]


def test_the_weekly_list_is_sent_once_per_officer_and_week(world: World, analyzer: Analyzer) -> None:
    assert jobs_for(world, analyzer).visit_lists() == 2  # GH-01 and GH-02 have a grid officer
    assert jobs_for(world, analyzer).visit_lists() == 0, "a restarted scheduler sends nothing twice"
    sent = visit_lists(world)
    assert sorted(row.chat_id for row in sent) == ["officer_gh1", "officer_gh2"]

    world.clock.advance(timedelta(days=7))
    assert jobs_for(world, analyzer).run(VISITS) == [] and len(visit_lists(world)) == 4


def test_a_missed_monday_is_caught_up_once(world: World, analyzer: Analyzer) -> None:
    world.clock.advance(timedelta(days=2))  # T0 is a Monday 10:00 in Shanghai; now Wednesday

    jobs_for(world, analyzer).catch_up()
    jobs_for(world, analyzer).catch_up()

    assert len(visit_lists(world)) == 2


def test_cases_of_the_visit_are_counted_in_the_household_file(world: World) -> None:
    world.send("/visit 1幢1单元101 #诉求 家里水管漏水", user="officer_gh1")

    text = world.send("/household 1幢1单元101", user="officer_gh1").messages[0].text

    assert "诉求 1 件" in text and "走访 1 次" in text
    with world.core.db.transaction() as session:
        assert len(session.exec(select(Case)).all()) == 1


def test_due_list_and_register_counts_on_both_backends(db_url: str, analyzer: Analyzer) -> None:
    from handlers.household_file import community_register
    from storage.db import Database
    from tests.support.factories import T0

    db = Database.from_url(db_url)
    try:
        clock = FixedClock(T0)
        world = build_world(Minqing(db=db, analyzer=analyzer, clock=clock), Admin(db), clock)
        world.send("/visit 1幢1单元101 上门了解情况", user="officer_gh1")
        world.send("/visit 1幢1单元101 #诉求 门口台阶破损", user="officer_gh1")
        clock.advance(timedelta(days=100))  # past the quarterly plan: visited households are due again

        due = world.send("/due", user="officer_gh1").messages[0].text
        register = community_register(db, "GH")

        assert "本周应走访 12 户" in due and "上次：11-23" in due
        row = next(r for r in register.grids["GH-01"] if (r.household.building, r.household.room) == ("1", "101"))
        assert (row.visits, row.cases, row.open_cases) == (2, 1, 1)
        assert row.last_visit is not None and row.last_visit.tzinfo is not None and row.last_visit <= clock.now()
    finally:
        db.dispose()


def test_the_digest_shows_visit_coverage_per_grid(world: World) -> None:
    world.clock.advance(timedelta(days=-3))  # last week, so the weekly digest of T0 covers it
    world.send("3幢门口路灯坏了", user="res_3_2_502")
    world.send("/visit 1幢1单元101 上门看望", user="officer_gh1")
    world.send("/visit 1幢1单元101 再次回访", user="officer_gh1")
    world.send("/visit 2幢2单元502 了解情况", user="officer_gh1")
    world.clock.advance(timedelta(days=3))

    parts = [m.text for m in world.send("/digest week", user="leader_gh").messages]

    text = "\n".join(parts)
    assert "十、走访覆盖" in text
    assert "GH-01：走访 2/12 户（17%），未走访 10 户" in text, "a household visited twice counts once"
    assert "GH-02：走访 0/6 户（0%），未走访 6 户" in text
    assert "WT-01" not in text, "only the leader's community"

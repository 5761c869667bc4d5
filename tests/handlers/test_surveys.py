"""回访 and 知晓率 by random sample (issue 13): seeded and recorded, asked once, reminded once."""

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from analysis.analyzer import Analyzer
from handlers import catalogue
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import CoreSettings, Minqing
from handlers.surveys import AWARENESS, FOLLOWUP, SurveySettings, draw, round_summary, run_monthly, send_reminders
from schedules.jobs import SURVEYS, Jobs, ScheduleSettings
from storage import surveys as store
from storage.db import Database
from storage.models import Outbox, Survey
from tests.support.factories import T0, World, build_world

ZONE = ZoneInfo("Asia/Shanghai")
DECEMBER_1 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, when the monthly job runs
SETTINGS = SurveySettings(followup_share=0.5, awareness_share=0.5)


def street(db: Database, analyzer: Analyzer, *, handler: str = "officer_gh1") -> World:
    """The factories' street with November's history: six closed cases in GH-01, ten proved residents."""
    clock = FixedClock(T0)
    world = build_world(Minqing(db=db, analyzer=analyzer, clock=clock, settings=CoreSettings()), Admin(db), clock)
    for n, room in enumerate(("101", "301", "502")):
        for unit in ("1", "2"):
            user = f"neighbour-{unit}-{room}"
            assert "绑定成功" in world.send(f"/bind GH 1幢{unit}单元{room} 1111", user=user).messages[0].text
            code = world.send(f"1幢{unit}单元{room}门口第{n}盏路灯坏了", user=user).case_codes[0]
            world.send(f"/resolve {code} 已修好", user=handler)
            world.press(f"rate:{code}:satisfied", user=user)
    return world


def rounds(world: World) -> list[dict[str, object]]:
    with world.core.db.transaction() as session:
        return [round_summary(session, r) for r in store.rounds(session=session)]


@pytest.fixture
def world(database: Database, analyzer: Analyzer) -> World:
    return street(database, analyzer)


def test_the_sample_is_recorded_and_can_be_redrawn(world: World) -> None:
    world.clock.set(DECEMBER_1)

    asked = run_monthly(world.core.db, settings=SETTINGS, zone=ZONE, now=world.clock.now())

    found = {(r["kind"], r["grid_id"]): r for r in rounds(world)}
    followup = next(r for (kind, _), r in found.items() if kind == FOLLOWUP and r["eligible"])
    assert followup["eligible"] == 6 and followup["sampled"] == 3, "half of six closed cases, rounded up"
    awareness = [r for (kind, _), r in found.items() if kind == AWARENESS and r["eligible"]]
    assert sum(int(str(r["sampled"])) for r in awareness) + 3 == asked
    with world.core.db.transaction() as session:
        grid = followup["grid_id"]
        closed = store.closed_cases_of_grid(
            session=session,
            grid_id=int(str(grid)),
            start=datetime(2026, 10, 31, 16, tzinfo=UTC),
            end=DECEMBER_1 - timedelta(hours=9),
        )
    population = [case_id for case_id, _ in closed]
    assert draw(population, 0.5, int(str(followup["seed"]))) == followup["members"]


def test_the_sample_does_not_depend_on_who_handled_the_cases(
    world: World, analyzer: Analyzer, sqlite_template: Path, tmp_path: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "other.db")
    other_db = Database.from_url(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        other = street(other_db, analyzer, handler="chief_gh1")  # the same street, another officer at work
        for each in (world, other):
            each.clock.set(DECEMBER_1)
            run_monthly(each.core.db, settings=SETTINGS, zone=ZONE, now=each.clock.now())
        strip = [{k: v for k, v in r.items() if k != "answered"} for r in rounds(world)]
        assert strip == [{k: v for k, v in r.items() if k != "answered"} for r in rounds(other)]
    finally:
        other_db.dispose()


def test_nobody_is_asked_twice_across_restarts(world: World, analyzer: Analyzer) -> None:
    world.clock.set(DECEMBER_1)
    settings = ScheduleSettings(charts=False, surveys=SETTINGS)

    first = Jobs(db=world.core.db, taxonomy=analyzer.taxonomy, clock=world.clock, settings=settings).survey_round()
    again = Jobs(db=world.core.db, taxonomy=analyzer.taxonomy, clock=world.clock, settings=settings)
    again.run(SURVEYS)

    with world.core.db.transaction() as session:
        surveys = session.exec(select(Survey)).all()
        questions = [
            r for r in session.exec(select(Outbox)).all() if "【回访】" in r.payload or "【民情调查】" in r.payload
        ]
    assert first > 0 and len(surveys) == first == len(questions)
    assert len({(s.round_id, s.identity_id) for s in surveys}) == len(surveys)


def asked(world: World) -> list[Outbox]:
    with world.core.db.transaction() as session:
        return [r for r in session.exec(select(Outbox).order_by(Outbox.id)).all() if "【回访】" in r.payload]  # type: ignore[arg-type]


def test_reporters_answer_by_buttons_once_each(world: World) -> None:
    from handlers.messages import OutgoingMessage

    world.clock.set(DECEMBER_1)
    run_monthly(world.core.db, settings=SETTINGS, zone=ZONE, now=world.clock.now())
    question = OutgoingMessage.from_json(asked(world)[0].payload)
    user = question.chat_id
    solved, satisfied = (row[0].callback_data for row in question.buttons)
    assert [b.label for b in question.buttons[0]] == ["已解决", "未解决"] and "MQ-2026-" in question.text

    stranger = world.press(solved, user="res_3_2_502")
    first = world.press(solved, user=user)
    twice = world.press(solved.replace(":y", ":n"), user=user)
    last = world.press(satisfied, user=user)

    assert stranger.refused and stranger.toast == catalogue.SURVEY_NOT_YOURS
    assert (first.toast, twice.toast, last.toast) == (
        catalogue.SURVEY_ONE_MORE, catalogue.SURVEY_ALREADY, catalogue.SURVEY_THANKS,
    )  # fmt: skip
    with world.core.db.transaction() as session:
        survey = session.get(Survey, int(solved.split(":")[1]))
        assert survey is not None and (survey.answer1, survey.answer2) == ("y", "y") and survey.answered_at


def test_one_polite_reminder_and_no_more(world: World) -> None:
    from handlers.messages import OutgoingMessage

    world.clock.set(DECEMBER_1)
    sent = run_monthly(world.core.db, settings=SETTINGS, zone=ZONE, now=world.clock.now())
    question = OutgoingMessage.from_json(asked(world)[0].payload)
    for row in question.buttons:
        world.press(row[0].callback_data, user=question.chat_id)  # this one answers at once

    world.clock.advance(timedelta(days=2))
    early = send_reminders(world.core.db, settings=SETTINGS, zone=ZONE, now=world.clock.now())
    world.clock.advance(timedelta(days=2))
    reminded = send_reminders(world.core.db, settings=SETTINGS, zone=ZONE, now=world.clock.now())
    world.clock.advance(timedelta(days=7))
    again = send_reminders(world.core.db, settings=SETTINGS, zone=ZONE, now=world.clock.now())

    assert (early, reminded, again) == (0, sent - 1, 0)
    with world.core.db.transaction() as session:
        reminders = [r for r in session.exec(select(Outbox)).all() if catalogue.SURVEY_REMINDER in r.payload]
    answered = question.buttons[0][0].callback_data.rsplit(":", 2)[0] + ":"  # "sv:ID:"
    assert len(reminders) == sent - 1 and not any(answered in r.payload for r in reminders)


def test_officers_are_never_sampled(world: World) -> None:
    world.clock.set(DECEMBER_1)
    run_monthly(
        world.core.db, settings=SurveySettings(followup_share=1.0, awareness_share=1.0), zone=ZONE, now=DECEMBER_1
    )

    with world.core.db.transaction() as session:
        chats = {r.chat_id for r in session.exec(select(Outbox)).all() if "【民情调查】" in r.payload}
    assert chats and not any(chat.startswith(("officer", "chief", "leader", "admin")) for chat in chats)
    assert "res_1_1_301" in chats and "stranger" not in chats


def test_sampled_once_on_both_backends(db_url: str, analyzer: Analyzer) -> None:
    db = Database.from_url(db_url)
    try:
        world = street(db, analyzer)
        world.clock.set(DECEMBER_1)
        first = run_monthly(db, settings=SETTINGS, zone=ZONE, now=DECEMBER_1)
        second = run_monthly(db, settings=SETTINGS, zone=ZONE, now=DECEMBER_1 + timedelta(hours=1))
        summary = rounds(world)
    finally:
        db.dispose()
    assert first > 0 and second == 0
    assert sum(int(str(r["sampled"])) for r in summary) == first


def test_the_monthly_digest_reports_the_samples_beside_the_ratings(world: World) -> None:
    from handlers.messages import OutgoingMessage

    world.clock.set(DECEMBER_1)
    run_monthly(world.core.db, settings=SETTINGS, zone=ZONE, now=world.clock.now())
    followups = [OutgoingMessage.from_json(r.payload) for r in asked(world)]
    solved, unsatisfied = followups[0].buttons[0][0].callback_data, followups[0].buttons[1][1].callback_data
    world.press(solved, user=followups[0].chat_id)
    world.press(unsatisfied, user=followups[0].chat_id)
    world.send("1幢1单元101楼下的共享单车堆满了", user="neighbour-1-101")  # December is not empty
    world.clock.set(datetime(2027, 1, 1, 2, tzinfo=UTC))

    text = "\n".join(m.text for m in world.send("/digest month", user="leader_gh").messages)

    assert "十一、随机抽样回访与知晓率" in text
    assert "回访：抽访 3 人，已回答 1 人（回答率 33.3%）；问题已解决 100.0%，回访满意率 0.0%" in text
    assert "知晓率：抽访" in text and "居民自评满意率" in text

"""Digest figures against hand-computed values, text limits, exactly-once storage and delivery."""

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import col, func, select

from analysis.analyzer import Analyzer
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.digests import (
    DigestBuilder,
    DigestFigures,
    Digests,
    DigestSettings,
    Period,
    parse_counts,
    period_ending_on,
    period_just_ended,
    split_message,
)
from handlers.jurisdiction import scopes
from handlers.messages import OutgoingMessage
from handlers.service import CoreSettings, Minqing
from storage.db import Database
from storage.digest_days import DayCache
from storage.models import Case, Digest, DigestDay, Outbox
from tests.support.digests import SHANGHAI, local, seed_week
from tests.support.factories import World, build_world, insert_case

WEEK = Period("week", date(2026, 11, 16), date(2026, 11, 23), SHANGHAI)


@pytest.fixture
def world_on(db_url: str, analyzer: Analyzer) -> Iterator[World]:
    """The factories' street on SQLite and on PostgreSQL."""
    db = Database.from_url(db_url)
    clock = FixedClock(local(23, 12))
    core = Minqing(db=db, analyzer=analyzer, clock=clock, settings=CoreSettings())
    yield build_world(core, Admin(db), clock)
    db.dispose()


def test_figures_match_hand_computed_values(world_on: World) -> None:
    db = world_on.core.db
    seed_week(db)
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    with db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        figures = builder.figures(session, gh, WEEK)

    assert figures.counts.total == 6
    assert figures.previous.total == 2
    assert figures.counts.by_category == {"property": 2, "noise": 2, "safety": 1, "environment": 1}
    assert figures.counts.by_intent == {"complaint": 4, "help": 1, "question": 1}
    assert figures.counts.by_grid == {"GH-01": 4, "GH-02": 2}
    overall = figures.overall
    # closed = 1, 3, 5; on time = 1, 5; open overdue = 2 -> on-time rate 2 / (3 + 1)
    assert (overall.closed, overall.closed_on_time, overall.open_overdue) == (3, 2, 1)
    assert overall.on_time_rate == pytest.approx(0.5)
    # ratings: satisfied, unsatisfied, basically -> 2 of 3
    assert (overall.satisfied, overall.rated) == (2, 3)
    # first replies 60, 180, 120, 30 minutes -> median 90; resolutions 2880, 1440, 300 -> 1440
    assert figures.median_first_reply_minutes == pytest.approx(90, abs=0.01)
    assert figures.median_resolution_minutes == pytest.approx(1440, abs=0.01)
    assert (figures.counts.negative, figures.positive, figures.neutral) == (3, 1, 2)
    assert figures.counts.negative_intensity == pytest.approx(1.8)
    assert figures.critical_count == 1 and figures.critical[0].category == "安全隐患"
    assert figures.hot_keywords[0] == ("电梯", 3)
    assert figures.hot_places == (("1幢", 2),)
    assert [(label, count) for label, count, _ in figures.repeated_households] == [("GH1幢1单元301", 2)]
    grids = {g.name: g for g in figures.grids}
    assert (grids["GH-01"].cases, grids["GH-01"].previous, grids["GH-01"].open_overdue) == (4, 2, 1)
    assert (grids["GH-02"].closed_on_time, grids["GH-02"].satisfied) == (1, 1)
    officers = {o.name: o for o in figures.officers}
    assert officers["officer_gh1的名字"].cases == 4
    # Backlog now: cases 4 (open) and 2's twin? no: 2 is resolved; only case 4 is open.
    assert (figures.backlog_open, figures.backlog_overdue) == (1, 0)


def test_street_digest_covers_all_communities(world_on: World) -> None:
    db = world_on.core.db
    seed_week(db)
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    with db.session() as session:
        street = next(s for s in scopes(session) if s.level == "street")
        figures = builder.figures(session, street, WEEK)
    assert figures.counts.total == 7
    assert figures.counts.by_grid["WT-01"] == 1


def test_rendered_text_reads_the_figures(world_on: World) -> None:
    db = world_on.core.db
    seed_week(db)
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    with db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        parts = builder.render(builder.figures(session, gh, WEEK))
    text = "\n".join(parts)
    assert parts[0].startswith("【民情分析·周报】GH · 2026年11月16日—11月22日")
    assert "本期受理诉求 6 件，比上期（2 件）增加 200.0%" in text
    assert "按时办结率 50.0%" in text
    assert "首次回复用时中位数 1小时30分钟，办结用时中位数 1天" in text
    assert "满意率 66.7%" in text
    assert "物业服务 2 件（上期 2，持平）" in text
    # Two grids with fewer than five judged cases each: nobody is ranked.
    assert "样本不足（需至少 5 件已办结或超时），暂不排名" in text
    assert all(len(part) <= DigestSettings().message_limit for part in parts)


def test_mood_counts_each_cases_strongest_emotion_and_categories_awaiting_confirmation(world_on: World) -> None:
    db = world_on.core.db
    for hour, emotions, unconfirmed in ((9, "anger,disgust", False), (10, "anger", True), (11, "fear", False)):
        insert_case(
            db, grid="GH-01", community="GH", created_at=local(17, hour), polarity="negative",
            emotions=emotions, unconfirmed=unconfirmed,
        )  # fmt: skip
    insert_case(db, grid="GH-01", community="GH", created_at=local(18), polarity="neutral")
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    with db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        figures = builder.figures(session, gh, WEEK)
        text = "\n".join(builder.render(figures))
    assert figures.emotions == (("anger", 2), ("fear", 1))
    assert figures.unconfirmed == 1
    assert "主要情绪：愤怒 50.0%，担忧 25.0%。" in text
    assert "类别已确认 3 件，待确认 1 件。" in text


def test_empty_period_gives_a_short_no_posts_digest(world_on: World) -> None:
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    with world_on.core.db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        figures = builder.figures(session, gh, WEEK)
        parts = builder.render(figures)
    assert figures.is_empty
    assert len(parts) == 1 and "本期没有收到居民诉求" in parts[0] and len(parts[0]) < 120


def test_rising_category_in_a_grid_raises_an_early_warning(world_on: World) -> None:
    db = world_on.core.db
    for week_start, count in ((2, 1), (9, 1), (16, 7)):
        for i in range(count):
            insert_case(db, grid="GH-02", community="GH", created_at=local(week_start + i % 5), category="noise")
    # The two earlier weeks were digested when they ended: their stored counts are the history.
    digests = Digests(db=db, taxonomy=world_on.core.taxonomy, clock=world_on.clock, zone=SHANGHAI)
    digests.produce("week", WEEK.previous().previous())
    digests.produce("week", WEEK.previous())
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    with db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        figures = builder.figures(session, gh, WEEK)
    assert [h.total for h in figures.history] == [1, 1]
    assert [(w.grid, w.category, w.current) for w in figures.warnings] == [("GH-02", "噪音扰民", 7)]
    assert figures.warnings[0].baseline == pytest.approx(1.0)
    text = "\n".join(builder.render(figures))
    assert "GH-02 噪音扰民 7 件，是此前几期平均（1.0 件）的 7.0 倍" in text


def test_a_steady_category_raises_no_warning(world_on: World) -> None:
    db = world_on.core.db
    for week_start in (9, 16):
        for i in range(6):
            insert_case(db, grid="GH-02", community="GH", created_at=local(week_start + i % 5), category="noise")
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    with db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        assert builder.figures(session, gh, WEEK).warnings == ()


def test_ranking_needs_a_minimum_sample(world_on: World) -> None:
    db = world_on.core.db
    for i in range(5):
        insert_case(
            db,
            grid="GH-01",
            community="GH",
            created_at=local(16 + i),
            assignee="officer_gh1",
            status="closed",
            first_replied_at=local(16 + i, 11),
            resolved_at=local(16 + i, 12),
        )
    insert_case(db, grid="GH-02", community="GH", created_at=local(17), assignee="officer_gh2", resolved_at=local(18))
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    with db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        text = "\n".join(builder.render(builder.figures(session, gh, WEEK)))
    assert "按时办结率排名（样本≥5 件）：1. GH-01 100.0%" in text
    assert "2. GH-02" not in text


def test_unrouted_cases_and_non_grid_staff_are_listed_but_never_ranked(world_on: World) -> None:
    # A leader reading the demo found 未定网格 ranked among the grids, and a community secretary and the
    # street director ranked as 网格员.
    db = world_on.core.db
    for i in range(5):
        for grid, community, assignee in (
            ("GH-01", "GH", "officer_gh1"),
            ("GH-02", "GH", "leader_gh"),
            (None, None, "leader_street"),
        ):
            insert_case(
                db,
                grid=grid,
                community=community,
                created_at=local(16 + i),
                assignee=assignee,
                status="closed",
                first_replied_at=local(16 + i, 11),
                resolved_at=local(16 + i, 12),
            )
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    with db.session() as session:
        street = next(s for s in scopes(session) if s.level == "street")
        text = "\n".join(builder.render(builder.figures(session, street, WEEK)))
    grids = text[text.index("七、各网格") : text.index("八、网格员")]
    officers = text[text.index("八、网格员") : text.index("九、动态预警")]
    grid_ranking = next(line for line in grids.splitlines() if "按时办结率排名" in line)
    assert "未定网格：5 件" in grids and "未定网格" not in grid_ranking
    assert "GH-01" in grid_ranking and "GH-02" in grid_ranking
    staff, others = officers.split("其他承办人")
    ranking = next(line for line in staff.splitlines() if "按时办结率排名" in line)
    assert "officer_gh1" in ranking and "leader_gh" not in ranking and "leader_street" not in ranking
    assert "leader_gh的名字：承办 5 件" in others and "leader_street的名字：承办 5 件" in others


def test_digest_is_stored_and_queued_once_per_scope(world_on: World) -> None:
    db = world_on.core.db
    seed_week(db)
    charts: list[str] = []

    def chart(figures: object) -> bytes:
        charts.append(str(figures))
        return b"\x89PNG fake"

    digests = Digests(db=db, taxonomy=world_on.core.taxonomy, clock=world_on.clock, zone=SHANGHAI, chart=chart)
    first = digests.produce("week")
    again = digests.produce("week")
    assert {p.scope_code for p in first} == {"GH", "WT", "ST01"}
    assert all(p.created for p in first) and not any(p.created for p in again)
    with db.session() as session:
        assert session.exec(select(func.count()).select_from(Digest)).one() == 3
        rows = session.exec(select(Outbox).where(Outbox.kind == "digest").order_by(col(Outbox.id))).all()
    messages = [OutgoingMessage.from_json(r.payload) for r in rows]
    to_leader_gh = [m for m in messages if m.chat_id == "leader_gh"]
    # Text first, then the chart, which the sender loads by the digest's id.
    assert to_leader_gh[0].text.startswith("【民情分析·周报】GH")
    gh_digest = next(p for p in first if p.scope_code == "GH")
    assert to_leader_gh[-1].photo_ref == f"digest:{gh_digest.digest_id}"
    assert {m.chat_id for m in messages} == {"leader_gh", "leader_street", "admin"}
    assert len(charts) == 3  # WT's digest has one case; GH and street have several


def test_stored_figures_feed_the_next_digest(world_on: World) -> None:
    db = world_on.core.db
    seed_week(db)
    digests = Digests(db=db, taxonomy=world_on.core.taxonomy, clock=world_on.clock, zone=SHANGHAI)
    digests.produce("week", WEEK.previous())
    with db.session() as session:
        stored = session.exec(select(Digest).where(Digest.scope_code == "GH")).one()
        # Tamper with the stored history: the next digest must read it instead of rescanning cases.
        data = json.loads(stored.figures)
        data["counts"]["total"] = 40
        stored.figures = json.dumps(data)
        session.add(stored)
        session.commit()
    counts = parse_counts(stored.figures)
    assert counts is not None and counts.total == 40
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    with db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        assert builder.figures(session, gh, WEEK).previous.total == 40


def test_split_keeps_lines_whole_and_within_the_limit() -> None:
    sections = ["标题", "\n".join(f"第{i}行 " + "字" * 30 for i in range(300)), "结尾"]
    parts = split_message(sections, limit=1000)
    assert len(parts) > 3
    assert all(len(p) <= 1000 for p in parts)
    assert parts[1].startswith("（续 2/")
    lines = [line for p in parts for line in p.split("\n") if line and not line.startswith("（续")]
    assert lines == [line for s in sections for line in s.split("\n")]


@pytest.mark.parametrize(
    ("kind", "moment", "first", "end"),
    [
        ("week", datetime(2027, 1, 4, 8, tzinfo=SHANGHAI), date(2026, 12, 28), date(2027, 1, 4)),
        ("month", datetime(2027, 1, 1, 8, tzinfo=SHANGHAI), date(2026, 12, 1), date(2027, 1, 1)),
        ("month", datetime(2026, 3, 1, 8, tzinfo=SHANGHAI), date(2026, 2, 1), date(2026, 3, 1)),
        ("quarter", datetime(2027, 1, 1, 8, tzinfo=SHANGHAI), date(2026, 10, 1), date(2027, 1, 1)),
        ("quarter", datetime(2026, 7, 1, 0, tzinfo=SHANGHAI), date(2026, 4, 1), date(2026, 7, 1)),
    ],
)
def test_period_just_ended_crosses_month_quarter_and_year_ends(
    kind: str, moment: datetime, first: date, end: date
) -> None:
    # 00:30 UTC on 1 Jan is already 08:30 in Shanghai: the local date decides, not the UTC one.
    period = period_just_ended(kind, moment.astimezone(ZoneInfo("UTC")), SHANGHAI)
    assert (period.first_day, period.end_day) == (first, end)
    assert period.previous().end_day == first


def test_end_option_names_the_last_day_of_the_period() -> None:
    assert period_ending_on("quarter", date(2026, 9, 30), SHANGHAI).first_day == date(2026, 7, 1)
    assert period_ending_on("week", date(2026, 11, 22), SHANGHAI).first_day == date(2026, 11, 16)
    assert period_ending_on("week", date(2026, 11, 21), SHANGHAI).first_day == date(2026, 11, 9)
    assert WEEK.start == datetime(2026, 11, 15, 16, tzinfo=ZoneInfo("UTC"))
    assert WEEK.end - WEEK.start == timedelta(days=7)


def test_leader_asks_for_the_week_and_officers_may_not(world: World) -> None:
    seed_week(world.core.db)
    world.clock.set(local(24, 9))
    reply = world.send("/digest week", user="leader_gh").messages
    assert reply[0].text.startswith("【民情分析·周报】GH · 2026年11月16日—11月22日")
    assert "本期受理诉求 6 件" in reply[0].text
    street = world.send("/digest", user="leader_street").messages
    assert street[0].text.startswith("【民情分析·周报】街道 · ") and "本期受理诉求 7 件" in street[0].text
    assert "不能使用 /digest" in world.send("/digest week", user="officer_gh1").messages[0].text
    assert world.send("/digest year", user="leader_gh").messages[0].text.startswith("用法：/digest")


def test_leader_sees_the_stored_digest_with_its_chart(world: World) -> None:
    seed_week(world.core.db)
    world.clock.set(local(23, 9))
    Digests(
        db=world.core.db, taxonomy=world.core.taxonomy, clock=world.clock, zone=SHANGHAI, chart=lambda f: b"png"
    ).produce("week")
    replies = world.send("/digest week", user="leader_gh").messages
    assert replies[-1].photo_ref is not None and replies[-1].photo_ref.startswith("digest:")
    assert replies[0].text.startswith("【民情分析·周报】GH")


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    return build_world(core, admin, clock)


def test_digest_command_prints_one_json_object(world: World) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    seed_week(world.core.db)
    # The world lives in the `database` fixture's file; point the CLI at the same file.
    url = str(world.core.db.engine.url)
    result = CliRunner().invoke(app, ["digest", "--period", "week", "--end", "2026-11-22", "--json", "--db", url])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["label"] == "2026年11月16日—11月22日"
    by_scope = {d["scope"]: d for d in data["digests"]}
    assert by_scope["GH"]["figures"]["counts"]["total"] == 6
    assert by_scope["GH"]["messages"][0].startswith("【民情分析·周报】GH")
    with world.core.db.session() as session:  # on demand: nothing stored, nothing queued
        assert session.exec(select(func.count()).select_from(Digest)).one() == 0
        assert session.exec(select(func.count()).select_from(DigestDay)).one() == 0


# ------------------------------------------------------------------------------------------ packed days


def _settle(db: Database, at: datetime | None = None) -> None:
    """Mark every case as last changed at ``at`` (default: when it was received)."""
    with db.transaction() as session:
        session.execute(sa.update(Case).values(updated_at=at if at is not None else Case.created_at))


def _gh_figures(db: Database, builder: DigestBuilder, cache: DayCache) -> DigestFigures:
    with db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        return builder.figures(session, gh, WEEK, cache=cache)


def test_digest_job_stores_the_days_it_packed_and_reads_them_back(world_on: World) -> None:
    db = world_on.core.db
    seed_week(db)
    _settle(db)
    digests = Digests(db=db, taxonomy=world_on.core.taxonomy, clock=world_on.clock, zone=SHANGHAI)
    digests.produce("week", WEEK)
    with db.session() as session:
        days = set(session.exec(select(col(DigestDay.day))).all())
    # The week and the week before (its counts are the comparison).
    assert days == {date(2026, 11, 9) + timedelta(days=i) for i in range(14)}
    cache = DayCache(SHANGHAI, now=world_on.clock.now())
    figures = _gh_figures(db, digests.builder, cache)
    assert cache.rebuilt == [] and cache.patched == []
    assert (figures.counts.total, figures.previous.total) == (6, 2)
    assert (figures.overall.closed, figures.overall.closed_on_time, figures.overall.open_overdue) == (3, 2, 1)
    assert figures.median_resolution_minutes == pytest.approx(1440, abs=0.01)
    assert figures.hot_keywords[0] == ("电梯", 3) and figures.hot_places == (("1幢", 2),)


def test_cases_changed_after_packing_are_read_again(world_on: World) -> None:
    db = world_on.core.db
    seed_week(db)
    _settle(db)
    builder = DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI)
    first = DayCache(SHANGHAI, now=world_on.clock.now())
    before = _gh_figures(db, builder, first)
    with db.transaction() as session:
        first.save(session)
    # Late changes: the open case of 19 Nov is resolved within the week, and a case of 18 Nov
    # arrives late (both stamped after the days were packed).
    with db.transaction() as session:
        session.execute(
            sa.update(Case)
            .where(col(Case.created_at) == local(19))
            .values(resolved_at=local(20), status="resolved", updated_at=world_on.clock.now())
        )
    insert_case(db, grid="GH-02", community="GH", created_at=local(18, 15), category="noise", polarity="negative")
    cache = DayCache(SHANGHAI, now=world_on.clock.now())
    after = _gh_figures(db, builder, cache)
    assert sorted(cache.patched) == [date(2026, 11, 18), date(2026, 11, 19)] and cache.rebuilt == []
    assert (before.counts.total, after.counts.total) == (6, 7)
    assert (before.overall.closed, after.overall.closed) == (3, 4)
    assert after.counts.by_category["noise"] == 3 and after.counts.negative == 4
    # The same figures as reading every case afresh.
    with db.transaction() as session:
        session.execute(sa.delete(DigestDay))
    fresh = _gh_figures(db, builder, DayCache(SHANGHAI))
    assert after.to_json() == fresh.to_json()


def test_a_day_whose_cases_are_still_changing_is_not_stored(world_on: World) -> None:
    db = world_on.core.db
    seed_week(db)
    now = world_on.clock.now()
    _settle(db)
    with db.transaction() as session:  # one case of 17 Nov changed a minute ago
        session.execute(
            sa.update(Case).where(col(Case.created_at) == local(17)).values(updated_at=now - timedelta(minutes=1))
        )
    cache = DayCache(SHANGHAI, now=now)
    assert _gh_figures(db, DigestBuilder(taxonomy=world_on.core.taxonomy, zone=SHANGHAI), cache).counts.total == 6
    assert date(2026, 11, 17) not in cache.to_store and date(2026, 11, 16) in cache.to_store


def test_nightly_packing_covers_the_quarter_so_far(world_on: World) -> None:
    db = world_on.core.db
    seed_week(db)
    _settle(db)
    digests = Digests(db=db, taxonomy=world_on.core.taxonomy, clock=world_on.clock, zone=SHANGHAI)
    assert digests.refresh_days() == (date(2026, 11, 23) - date(2026, 10, 1)).days
    assert digests.refresh_days() == 0  # nothing changed since
    cache = DayCache(SHANGHAI, now=world_on.clock.now())
    assert _gh_figures(db, digests.builder, cache).counts.total == 6 and cache.rebuilt == []


def test_on_demand_digest_uses_the_deployments_digest_settings(database: Database, analyzer: Analyzer) -> None:
    # /digest once ignored MINQING_DIGEST_MIN_SAMPLE: the leader read other rankings than the scheduler sent.
    clock = FixedClock(local(24, 9))

    def core_with(min_sample: int) -> Minqing:
        settings = DigestSettings(min_sample=min_sample)
        digests = Digests(db=database, taxonomy=analyzer.taxonomy, clock=clock, zone=SHANGHAI, settings=settings)
        return Minqing(db=database, analyzer=analyzer, clock=clock, settings=CoreSettings(), digests=digests)

    world = build_world(core_with(1), Admin(database), clock)
    seed_week(database)
    texts = {}
    for min_sample in (1, 50):
        world.core = core_with(min_sample)
        texts[min_sample] = "\n".join(m.text for m in world.send("/digest week", user="leader_gh").messages)
        digests = world.core.digests
        scheduled = "\n".join(digests.builder.render(digests.preview(WEEK, scope_code="GH")[0].figures))
        assert ("样本≥1 件" in scheduled) is (min_sample == 1)
    assert "样本≥1 件" in texts[1] and "需至少 1 件" not in texts[1]
    assert "需至少 50 件" in texts[50] and "样本≥50 件" not in texts[50]

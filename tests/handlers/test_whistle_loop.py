"""吹哨报到 (issue 15): units, the whistle loop with its deadlines and ladder, notes, 督办, merging,
closing without a rating, handover and 代办 — through ``Minqing.handle`` as the chat adapters call it."""

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app as cli_app
from handlers import catalogue
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.handover import HandoverError, close_unrated, deactivate_officer
from handlers.service import Minqing
from handlers.unit_overdue import UnitOverdueChecker
from storage.db import Database
from storage.models import Case, CaseEvent, Dispatch, Officer, Outbox
from tests.support.factories import GROUP_GH, World, build_world
from tests.support.units import add_units, internal_words_in_groups

WY = "桂花苑物业"
GL = "社区管理办公室"


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """The loop runs on SQLite and on PostgreSQL (the migration too)."""
    db = Database.from_url(db_url)
    yield db
    db.dispose()


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    built = build_world(core, admin, clock)
    add_units(built)
    return built


def kinds(world: World, code: str) -> list[str]:
    with world.core.db.transaction() as session:
        case = session.exec(select(Case).where(Case.code == code)).one()
        return [e.kind for e in session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()]


def dispatches(world: World, code: str) -> list[Dispatch]:
    with world.core.db.transaction() as session:
        case = session.exec(select(Case).where(Case.code == code)).one()
        return list(session.exec(select(Dispatch).where(Dispatch.case_id == case.id).order_by(col(Dispatch.id))))


def to(result_messages: list, chat: str) -> list[str]:  # type: ignore[type-arg]
    return [m.text for m in result_messages if m.chat_id == chat]


def new_case(world: World, text: str = "物业不打扫楼道，垃圾堆了一个星期", user: str = "res_1_1_301") -> str:
    return world.post_in_group(text, user=user).case_codes[0]


# ------------------------------------------------------------------------------------------ units


def test_units_add_prints_code_and_invite_and_list_shows_them(tmp_path: Path) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'units.db'}"
    csv_file = tmp_path / "h.csv"
    csv_file.write_text("community,grid,building,unit,room,head_name,phone,tags\nGH,GH-01,1,1,101,张三,13800001111,\n")
    assert runner.invoke(cli_app, ["db", "upgrade", "--db", db]).exit_code == 0
    assert runner.invoke(cli_app, ["households", "import", str(csv_file), "--db", db]).exit_code == 0

    add = ["units", "add", "--name", WY, "--kind", "property", "--scope", "GH", "--db", db, "--json"]
    added = runner.invoke(cli_app, add)
    bad = runner.invoke(cli_app, ["units", "add", "--name", "X", "--kind", "bank", "--scope", "GH", "--db", db])
    listed = runner.invoke(cli_app, ["units", "list", "--db", db, "--json"])

    payload = json.loads(added.stdout)
    assert added.exit_code == 0 and set(payload) == {"code", "invite_code"} and payload["code"] == "GH-U01"
    assert len(payload["invite_code"]) == 10
    assert bad.exit_code == 2
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["code"], r["name"], r["kind"], r["people"]) for r in rows] == [("GH-U01", WY, "property", 1)]

    head = runner.invoke(cli_app, ["units", "invite", WY, "--head", "--db", db, "--json"])
    assert head.exit_code == 0 and len(json.loads(head.stdout)["invite_code"]) == 10
    add_officer = ["officers", "add", "--name", "王芳", "--role", "grid_officer", "--scope", "GH-01"]
    officer = runner.invoke(cli_app, [*add_officer, "--db", db, "--json"])
    officer_id = str(json.loads(officer.stdout)["officer_id"])
    unknown = runner.invoke(cli_app, ["officers", "deactivate", officer_id, "--to", "999", "--db", db])
    left = runner.invoke(cli_app, ["officers", "deactivate", officer_id, "--db", db, "--json"])
    assert unknown.exit_code == 2
    assert left.exit_code == 0 and json.loads(left.stdout) == {"officer": "王芳", "to": "", "cases": []}


def test_unit_invite_is_one_time(world: World) -> None:
    _, invite = world.admin.add_unit(name="城管中队", kind="city_management", scope="ST01", now=world.clock.now())
    first = world.send(f"/join {invite}", user="cg1")
    second = world.send(f"/join {invite}", user="cg2")
    assert "城管中队联络员" in first.messages[0].text
    assert second.messages[0].text == catalogue.INVITE_INVALID


# ------------------------------------------------------------------------------------------ the loop


def test_the_whole_loop_whistle_return_rewhistle_extend_done_sendback_verify_rate(world: World) -> None:
    code = new_case(world)
    world.send(f"/category {code} 环境卫生", user="officer_gh1")
    by_office = world.send(f"/whistle {code}", user="officer_gh1").messages[0].text
    assert f"/whistle {code} ST01-U01" in by_office  # the category's owning office
    world.send(f"/category {code} 物业服务", user="officer_gh1")
    suggestion = world.send(f"/whistle {code}", user="officer_gh1").messages[0].text
    assert WY in suggestion and f"/whistle {code} GH-U01" in suggestion  # the estate's property company

    whistled = world.send(f"/whistle {code} {WY} 楼道保洁归物业，请安排清理", user="officer_gh1")
    assert world.case(code).status == "escalated"
    (notice,) = to(whistled.messages, "liaison_wy")
    assert notice.startswith(f"【吹哨】诉求 {code}") and "1幢1单元301" in notice and "住户111301" not in notice

    # Another unit's liaison cannot touch it; nothing changes.
    refused = world.send(f"/accept {code}", user="liaison_wt").messages[0].text
    assert refused == catalogue.CASE_NOT_IN_SCOPE.format(code=code)

    accepted = world.send(f"/accept {code}", user="liaison_wy")
    assert accepted.messages[0].text.startswith("已报到") and to(accepted.messages, "officer_gh1")
    returned = world.send(f"/return {code} 这是社区公共区域，不在物业合同范围", user="liaison_wy")
    assert world.case(code).status == "assigned" and world.case(code).unit_id is None
    assert to(returned.messages, "officer_gh1")[0].startswith("【退单】")

    world.send(f"/whistle {code} ST01-U01 请管理办协调保洁", user="officer_gh1")  # by code this time
    assert world.send(f"/accept {code}", user="liaison_wy").messages[0].text == catalogue.CASE_NOT_IN_SCOPE.format(
        code=code
    )
    world.send(f"/accept {code}", user="liaison_gl")

    asked = world.send(f"/extend {code} 2 等保洁公司排班", user="liaison_gl")
    assert to(asked.messages, "chief_gh1")[0].startswith("【延期申请】")
    assert world.send(f"/grant {code}", user="officer_gh1").messages[0].text == catalogue.APPROVER_ONLY
    due_before = dispatches(world, code)[-1].done_due
    world.send(f"/grant {code}", user="chief_gh1")
    assert dispatches(world, code)[-1].done_due > due_before  # type: ignore[operator]

    world.send(f"/done {code} 已安排保洁清理完毕", user="liaison_gl")
    # The unit cannot verify its own work.
    assert world.send(f"/verify {code} 好了", user="liaison_gl").messages[0].text.startswith("抱歉，单位联络员不能")
    back = world.send(f"/sendback {code} 三楼还有垃圾", user="officer_gh1")
    assert to(back.messages, "liaison_gl")[0].startswith("【核实未通过】")
    world.send(f"/done {code} 三楼也清理了", user="liaison_gl")
    verified = world.send(f"/verify {code} 上门看过，已清理干净", user="officer_gh1")

    (to_group,) = [m for m in verified.messages if m.chat_id == GROUP_GH]
    assert to_group.text.startswith(f"【{code} 已办结】") and [b.label for row in to_group.buttons for b in row] == [
        "满意",
        "基本满意",
        "不满意",
    ]
    world.send(f"/rate {code} 满意", user="res_1_1_301")
    assert world.case(code).status == "closed"
    assert kinds(world, code)[kinds(world, code).index("whistled") :] == [
        "whistled", "accepted", "returned", "whistled", "accepted", "extension_asked",
        "extension_approved", "unit_done", "sent_back", "unit_done", "verified", "rated",
    ]  # fmt: skip
    assert [d.state for d in dispatches(world, code)] == ["returned", "verified"]


def test_refusals_by_role(world: World) -> None:
    code = new_case(world)
    assert world.send(f"/note {code} 内部", user="res_1_1_301").messages[0].text == catalogue.NOT_ALLOWED.format(
        role="居民", command="/note"
    )
    assert world.send(f"/reply {code} 你好", user="liaison_wy").messages[0].text == catalogue.NOT_ALLOWED.format(
        role="单位联络员", command="/reply"
    )
    assert world.send(f"/whistle {code} {WY} 请处理", user="liaison_wy").messages[0].text.startswith("抱歉")
    assert world.send(f"/supervise {code} 请尽快", user="officer_gh1").messages[0].text.startswith("抱歉")
    # A grid officer of another grid cannot whistle it; a liaison sees nothing before it is whistled.
    other_grid = world.send(f"/whistle {code} {WY} 请处理", user="officer_gh2").messages[0].text
    assert other_grid == catalogue.CASE_NOT_IN_SCOPE.format(code=code)
    assert world.send(f"/case {code}", user="liaison_wy").messages[0].text == catalogue.CASE_NOT_IN_SCOPE.format(
        code=code
    )
    # A unit that does not serve this community is refused; an unknown unit lists the real ones.
    assert world.send(f"/whistle {code} 梧桐苑物业 请处理", user="officer_gh1").messages[0].text == (
        catalogue.UNIT_NOT_SERVING.format(unit="梧桐苑物业")
    )
    unknown = world.send(f"/whistle {code} 自来水公司 请处理", user="officer_gh1").messages[0].text
    assert unknown.startswith("没有找到单位“自来水公司”") and WY in unknown
    assert world.send(f"/accept {code}", user="liaison_wy").messages[0].text == catalogue.CASE_NOT_IN_SCOPE.format(
        code=code
    )
    assert kinds(world, code) == ["filed"] and world.case(code).status == "assigned"


def test_notes_and_supervision_never_reach_residents(world: World) -> None:
    code = new_case(world)
    world.send(f"/reply {code} 已收到，正在联系物业", user="officer_gh1")
    noted = world.send(f"/note {code} 该户曾多次投诉，注意沟通方式", user="officer_gh1")
    supervised = world.send(f"/supervise {code} 2 请本周内解决并回复居民", user="leader_gh")
    world.send(f"/whistle {code} {WY} 请清理", user="officer_gh1")
    liaison_note = world.send(f"/note {code} 保洁员明天上午到", user="liaison_wy")

    assert to(noted.messages, "officer_gh1") == [catalogue.NOTE_OK.format(code=code)]
    assert to(supervised.messages, "officer_gh1")[0].startswith("【督办单】")
    assert to(liaison_note.messages, "officer_gh1")[0].startswith("【内部备注】")
    detail = world.send(f"/case {code}", user="res_1_1_301").messages[0].text
    assert "已收到，正在联系物业" in detail and "已交相关单位办理" in detail
    for secret in ("多次投诉", "本周内解决", "保洁员明天", "请清理"):
        assert secret not in detail
    assert "多次投诉" in world.send(f"/case {code}", user="officer_gh1").messages[0].text
    with world.core.db.transaction() as session:
        group_texts = [r.payload for r in session.exec(select(Outbox).where(Outbox.chat_id == GROUP_GH))]
    assert group_texts and not any(s in p for p in group_texts for s in ("多次投诉", "本周内解决", "保洁员明天"))


# ------------------------------------------------------------------------------------------ the unit ladder


def test_each_step_breach_alerts_each_level_once_across_a_restart(world: World) -> None:
    code = new_case(world)
    world.send(f"/whistle {code} {WY} 请清理", user="officer_gh1")
    due = dispatches(world, code)[0].accept_due  # property: 2 hours, calendar time

    def checker() -> UnitOverdueChecker:  # a fresh one each time, as after a restart
        return UnitOverdueChecker(db=world.core.db, clock=world.clock, settings=world.core.settings)

    world.clock.set(due - timedelta(minutes=1))
    assert checker().check() == []
    world.clock.set(due + timedelta(minutes=1))
    (first,) = checker().check()
    assert checker().check() == []
    world.clock.set(due + timedelta(hours=1, minutes=1))  # +50 % of the 2-hour allowance
    (second,) = checker().check()
    world.clock.set(due + timedelta(hours=2, minutes=1))
    (third,) = checker().check()
    assert checker().check() == []

    assert (first.level, first.recipients) == (1, ("桂花苑物业联络员",))
    assert first.text.startswith("【超时提醒】") and f"/accept {code}" in first.text
    assert (second.level, second.recipients) == (2, ("物业经理",)) and second.text.startswith("【超时督办】")
    assert (third.level, third.recipients) == (3, ("leader_street的名字",))
    assert third.text.startswith("【超时上报】") and "吹哨交办" in third.text

    # Signing in ends the sign-in ladder; the completion step has its own.
    world.send(f"/accept {code}", user="liaison_wy")
    done_due = dispatches(world, code)[0].done_due
    assert done_due is not None
    world.clock.set(done_due + timedelta(minutes=1))
    (late,) = checker().check()
    assert late.kind == "unit_done" and late.level == 1 and "/extend" in late.text
    assert checker().check() == []


def test_overdue_supervision_alerts_the_assignee_and_the_leader_once(world: World) -> None:
    code = new_case(world)
    world.send(f"/supervise {code} 1 今天内联系居民", user="leader_gh")
    world.clock.advance(timedelta(days=2))
    checker = UnitOverdueChecker(db=world.core.db, clock=world.clock, settings=world.core.settings)
    (alert,) = checker.check()
    assert alert.kind == "supervision" and set(alert.recipients) == {"officer_gh1的名字", "leader_gh的名字"}
    assert checker.check() == []


# ------------------------------------------------------------------------------------------ duplicates, merge


def test_duplicate_is_named_then_merged_and_its_reporter_follows_the_main_case(world: World) -> None:
    first = new_case(world, "1幢楼道灯坏了好几天，晚上看不见")
    second_post = world.post_in_group("1号楼楼道灯坏了，晚上很黑", user="stranger")  # a neighbour, not bound
    second = second_post.case_codes[0]
    (notice,) = to(second_post.messages, "officer_gh1")
    assert f"可能重复：{first}" in notice

    other = world.send("我想问下社区什么时候办老年证", user="res_3_2_502")
    assert "可能重复" not in " ".join(to(other.messages, "officer_gh2"))

    merged = world.send(f"/merge {second} INTO {first}", user="officer_gh1")
    (to_resident,) = [m for m in merged.messages if m.chat_id == GROUP_GH]
    assert to_resident.text == catalogue.merged_to_resident(second, first)
    assert "不属于社区受理范围" not in to_resident.text
    assert world.case(second).status == "merged" and world.case(second).merged_into_id == world.case(first).id

    replied = world.send(f"/reply {first} 电工下午来换灯", user="officer_gh1")
    resolved = world.send(f"/resolve {first} 灯已换好", user="officer_gh1")
    posts = {m.reply_to_message_id for m in replied.messages if m.chat_id == GROUP_GH}
    assert len(posts) == 2  # a reply under each reporter's own post
    assert len([m for m in resolved.messages if m.chat_id == GROUP_GH and m.buttons]) == 2
    assert (
        world.send(f"/merge {second} INTO {first}", user="officer_gh1")
        .messages[0]
        .text.startswith(f"诉求 {second} 当前状态为“已合并”")
    )


def test_reject_and_merge_have_separate_wording(world: World) -> None:
    code = new_case(world)
    rejected = world.send(f"/reject {code} 属于市级事项", user="officer_gh1")
    (to_group,) = [m.text for m in rejected.messages if m.chat_id == GROUP_GH]
    assert to_group != catalogue.merged_to_resident(code, code) and "合并" not in to_group


# ------------------------------------------------------------------------------------------ closing, handover, 代办


def test_resolved_case_nobody_rates_closes_as_unrated_after_the_configured_days(world: World) -> None:
    code = new_case(world)
    rated = new_case(world, "3幢电梯坏了", user="res_3_2_502")
    world.send(f"/resolve {code} 已处理", user="officer_gh1")
    world.send(f"/resolve {rated} 已修好", user="officer_gh2")
    world.send(f"/rate {rated} 不满意", user="res_3_2_502")  # reopened: not resolved, not touched

    after = world.core.settings.unrated_close_after
    world.clock.advance(after - timedelta(hours=1))
    assert close_unrated(world.core.db, now=world.clock.now(), after=after) == []
    world.clock.advance(timedelta(hours=2))
    assert close_unrated(world.core.db, now=world.clock.now(), after=after) == [code]
    assert close_unrated(world.core.db, now=world.clock.now(), after=after) == []
    case = world.case(code)
    assert case.status == "closed" and case.rating is None and kinds(world, code)[-1] == "unrated_closed"
    assert world.case(rated).status == "reopened"


def test_deactivate_hands_open_cases_over_with_an_event_each(world: World) -> None:
    a = new_case(world)
    b = new_case(world, "楼下有人占用消防通道停车")
    with world.core.db.transaction() as session:
        ids = {o.name: o.id for o in session.exec(select(Officer))}
    leaving, taking = ids["officer_gh1的名字"], ids["chief_gh1的名字"]
    with pytest.raises(HandoverError):
        deactivate_officer(world.core.db, officer_id=leaving or 0, to_id=None, now=world.clock.now())

    done = deactivate_officer(world.core.db, officer_id=leaving or 0, to_id=taking, now=world.clock.now())

    assert sorted(done.codes) == sorted([a, b])
    assert world.case(a).assignee_id == taking and kinds(world, a)[-1] == "handed_over"
    assert world.send("/cases", user="officer_gh1").messages[0].text.startswith("抱歉")  # now a plain resident
    assert a in world.send("/cases", user="chief_gh1").messages[0].text


def test_officer_files_a_walk_in_case_for_a_household_of_another_grid(world: World) -> None:
    result = world.send("/new 3幢2单元301 老人来电说家里水管漏水，需要上门看看", user="officer_gh1")
    (code,) = [m.text.split()[1] for m in result.messages if m.chat_id == "officer_gh1" and m.text.startswith("已受理")]
    case = world.case(code)
    assert case.household_id is not None and case.assignee_id is not None
    assert (
        to(result.messages, "officer_gh2")[0].startswith("【新诉求】")
        and "3幢2单元301" in to(result.messages, "officer_gh2")[0]
    )
    assert "代办" in world.send(f"/case {code}", user="officer_gh2").messages[0].text
    assert world.send("/new 9幢9单元909 水管漏水", user="officer_gh1").messages[0].text == (
        catalogue.NEW_FOR_HOUSEHOLD_UNKNOWN.format(address="9幢9单元909")
    )


def test_readme_draws_the_unit_steps_table() -> None:
    from handlers import lifecycle

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{lifecycle.unit_mermaid()}\n```" in readme


def test_the_three_overdue_levels_say_different_things_to_different_people(world: World) -> None:
    from handlers.overdue import OverdueChecker

    code = new_case(world)
    world.send(f"/note {code} 已电话联系，居民不在家", user="officer_gh1")
    case = world.case(code)
    checker = OverdueChecker(
        db=world.core.db, taxonomy=world.core.taxonomy, clock=world.clock, zone=world.core.settings.zone
    )
    world.clock.set(case.first_reply_due + timedelta(days=5))  # past every rung of the first-reply ladder
    remind, chase, report = sorted((a for a in checker.check() if a.kind == "first_reply"), key=lambda a: a.level)

    assert remind.recipients == ("officer_gh1的名字",)
    assert f"/reply {code}" in remind.text and "督促" not in remind.text  # the assignee is told to act
    assert chase.recipients == ("chief_gh1的名字",) and "officer_gh1的名字 尚未首次回复，请您督促" in chase.text
    assert report.recipients == ("leader_gh的名字",) and "办理经过" in report.text
    assert "已电话联系" in report.text  # the leader gets the history
    assert len({remind.text.split("\n")[-1], chase.text.split("\n")[-1], report.text.split("\n")[-1]}) == 3


def test_scanner_finds_a_note_that_leaked_into_a_group(world: World) -> None:
    # The scan of the demo must be able to fail: put a note's words into a group message.
    from handlers.context import queue
    from handlers.messages import OutgoingMessage

    code = new_case(world)
    world.send(f"/note {code} 内部备注不该出现在群里", user="officer_gh1")
    assert internal_words_in_groups(world.core.db) == []
    with world.core.db.transaction() as session:
        leak = OutgoingMessage("telegram", GROUP_GH, "转发：内部备注不该出现在群里", kind="reply")
        queue(session, [leak], world.clock.now())
    assert internal_words_in_groups(world.core.db) == ["内部备注不该出现在群里"]


@pytest.mark.parametrize(
    ("said", "command"),
    [
        ("吹哨 MQ-2026-000001 桂花苑物业 请清理", "/whistle MQ-2026-000001 桂花苑物业 请清理"),
        ("报到 mq-2026-000001", "/accept MQ-2026-000001"),
        ("退单 MQ-2026-000001 不归我们管", "/return MQ-2026-000001 不归我们管"),
        ("核实 MQ-2026-000001 已修好", "/verify MQ-2026-000001 已修好"),
        ("备注：MQ-2026-000001 老人独居", "/note MQ-2026-000001 老人独居"),
        ("合并 MQ-2026-000002 并入 MQ-2026-000001", "/merge MQ-2026-000002 并入 MQ-2026-000001"),
        ("代办 3幢2单元301 水管漏水", "/new 3幢2单元301 水管漏水"),
        ("报到了吗", None),
    ],
)
def test_wechat_words_for_the_loop(said: str, command: str | None) -> None:
    from handlers.aliases import expand_alias

    assert expand_alias(said) == command


def test_merge_in_chinese_words_works_like_into(world: World) -> None:
    first = new_case(world, "1幢楼道灯坏了好几天，晚上看不见")
    second = new_case(world, "1号楼楼道灯坏了，晚上很黑", user="stranger")
    assert world.send(f"/merge {second} 并入 {first}", user="officer_gh1").messages[
        -1
    ].text == catalogue.MERGED_OK.format(code=second, main=first)


def test_digest_counts_ratings_only_of_cases_closed_in_the_period_and_reports_the_rating_rate(
    world: World,
) -> None:
    from handlers.digests import DigestBuilder, Period
    from handlers.jurisdiction import scopes
    from tests.support.digests import SHANGHAI, local
    from tests.support.factories import insert_case

    db = world.core.db
    week = Period("week", local(16).date(), local(23).date(), SHANGHAI)

    def case(created: int, resolved: int | None, closed: int | None, rating: str | None, status: str) -> None:
        insert_case(
            db, grid="GH-01", community="GH", assignee="officer_gh1", created_at=local(created),
            first_replied_at=local(created, 12), resolved_at=local(resolved) if resolved else None,
            closed_at=local(closed) if closed else None, rating=rating, status=status,
        )  # fmt: skip

    case(17, 18, 18, "satisfied", "closed")
    case(17, 19, 26, None, "closed")  # 未评价
    # Resolved and rated after the period ended: not a closed case of this period, not a rating of it.
    case(18, 24, 24, "satisfied", "closed")
    # Resolved in the period, rated satisfied (which closes it) only after the period ended.
    case(19, 21, 25, "satisfied", "closed")
    # Rated unsatisfied, which reopened it and undid its resolution: still a rating, and not a happy one.
    case(20, None, None, "unsatisfied", "reopened")
    builder = DigestBuilder(taxonomy=world.core.taxonomy, zone=SHANGHAI)
    with db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        figures = builder.figures(session, gh, week)
    overall = figures.overall
    assert (overall.closed, overall.rated, overall.satisfied, overall.rateable) == (3, 2, 1, 4)
    text = "\n".join(builder.sections(figures))
    assert "满意率 50.0%" in text and "参评率 50.0%" in text


# ------------------------------------------------------------------------------------------ digests


def test_digest_reports_each_unit_and_ranks_them_by_sign_in(world: World) -> None:
    from handlers.digests import DigestBuilder, period_just_ended
    from handlers.jurisdiction import scopes

    codes = [new_case(world, f"{n}幢楼道垃圾堆了一个星期，物业不管") for n in (1, 2, 3)]
    for code in codes:
        world.send(f"/whistle {code} {WY} 楼道保洁归物业", user="officer_gh1")
    world.send(f"/accept {codes[0]}", user="liaison_wy")
    world.send(f"/return {codes[1]} 不归我们管，是市政的", user="liaison_wy")
    world.send(f"/whistle {codes[1]} {GL} 请管理办协调", user="officer_gh1")
    start = world.clock.now()
    world.clock.set(start + timedelta(days=7))  # the week ends; the third whistle was never signed in
    builder = DigestBuilder(taxonomy=world.core.taxonomy, zone=world.core.settings.zone)
    period = period_just_ended("week", world.clock.now(), builder.zone)
    assert period.start <= start < period.end
    with world.core.db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        figures = builder.figures(session, gh, period)
        earlier = builder.figures(session, gh, period.previous())
    # Whistles count in the period they were made; what waits on a unit is read as it stands now.
    assert [(u.whistled, u.waiting) for u in earlier.units] == [(0, 2), (0, 1)]
    units = {u.name: u for u in figures.units}
    wy, gl = units[WY], units[GL]
    assert (wy.whistled, wy.accepted, wy.returned, wy.late_unaccepted, wy.waiting) == (3, 1, 1, 1, 2)
    assert (gl.whistled, gl.accepted, gl.late_unaccepted, gl.waiting) == (1, 0, 1, 1)
    assert wy.on_time_rate == 0.5 and gl.on_time_rate == 0.0
    text = "\n".join(builder.render(figures))
    section = text[text.index(catalogue.DIGEST_UNITS) :]
    assert f"{WY}：本期吹哨 3 件 · 按时报到率 50.0%" in section and "退单 1 件" in section
    # Signed in at once on the test's fixed clock: a leader reads "under a minute", not "0分钟".
    assert "报到用时中位数 不到1分钟" in section and "0分钟" not in section
    assert "按时报到率排名：样本不足（需至少 5 件已报到或逾期未报到）" in section

"""The case lifecycle as officers and residents drive it through chat commands."""

from collections.abc import Iterator

import pytest
from sqlmodel import select

from handlers.admin import Admin
from handlers.aliases import expand_alias
from handlers.clock import FixedClock
from handlers.messages import QuotedMessage
from handlers.service import Minqing
from storage.db import Database
from storage.models import Case, CaseEvent
from tests.support.factories import GROUP_GH, World, build_world


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """These behaviours run on SQLite and on PostgreSQL."""
    db = Database.from_url(db_url)
    yield db
    db.dispose()


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    return build_world(core, admin, clock)


def case(world: World, code: str) -> Case:
    return world.case(code)


def events(world: World, code: str) -> list[str]:
    with world.core.db.transaction() as session:
        found = session.exec(select(Case).where(Case.code == code)).one()
        return [e.kind for e in session.exec(select(CaseEvent).where(CaseEvent.case_id == found.id)).all()]


def test_officer_reply_goes_back_to_the_group_as_a_reply_to_the_post(world: World) -> None:
    posted = world.post_in_group("1幢电梯又坏了，老人上不去", user="res_1_1_301")
    code = posted.case_codes[0]
    post_message_id = posted.messages[0].reply_to_message_id

    result = world.send(f"/reply {code} 已联系维保公司，下午到", user="officer_gh1")

    to_group = [m for m in result.messages if m.chat_id == GROUP_GH]
    assert len(to_group) == 1 and to_group[0].reply_to_message_id == post_message_id
    assert "已联系维保公司" in to_group[0].text and code in to_group[0].text
    assert case(world, code).status == "replied" and case(world, code).first_replied_at == world.clock.now()


def test_resolve_asks_for_rating_and_satisfied_closes(world: World) -> None:
    code = world.send("1幢楼道灯不亮", user="res_1_1_301").case_codes[0]

    resolved = world.send(f"/resolve {code} 已更换灯泡", user="officer_gh1")
    buttons = [b for m in resolved.messages for row in m.buttons for b in row]
    assert [b.label for b in buttons] == ["满意", "基本满意", "不满意"]

    rated = world.press(buttons[0].callback_data, user="res_1_1_301")
    again = world.press(buttons[2].callback_data, user="res_1_1_301")

    assert not rated.refused and again.refused  # the second press changes nothing
    assert case(world, code).status == "closed" and case(world, code).rating == "satisfied"


def test_unsatisfied_rating_reopens_and_tells_the_officer(world: World) -> None:
    code = world.send("1幢楼道灯不亮", user="res_1_1_301").case_codes[0]
    world.send(f"/resolve {code} 已更换灯泡", user="officer_gh1")

    result = world.press(f"rate:{code}:unsatisfied", user="res_1_1_301")

    assert case(world, code).status == "reopened"
    assert any(m.chat_id == "officer_gh1" and "不满意" in m.text for m in result.messages)


def test_only_the_reporter_can_rate(world: World) -> None:
    code = world.send("1幢楼道灯不亮", user="res_1_1_301").case_codes[0]
    world.send(f"/resolve {code} 已更换灯泡", user="officer_gh1")

    result = world.press(f"rate:{code}:unsatisfied", user="res_3_2_502")

    assert result.refused and case(world, code).status == "resolved"


def test_transfer_moves_the_case_and_notifies_the_new_grid(world: World) -> None:
    code = world.send("1幢门口下水道堵了", user="res_1_1_301").case_codes[0]

    result = world.send(f"/transfer {code} GH-02 该位置属于二网格", user="officer_gh1")

    assert [m.chat_id for m in result.messages if m.kind == "notify"] == ["officer_gh2"]
    moved = case(world, code)
    assert moved.status == "transferred"
    assert world.send(f"/reply {code} 收到", user="officer_gh2").refused is False
    assert world.send(f"/reply {code} 收到", user="officer_gh1").refused is True
    assert "transferred" in events(world, code)


def test_reject_tells_the_resident_and_closes(world: World) -> None:
    code = world.send("帮我查一下外省的社保", user="res_1_1_301").case_codes[0]

    result = world.send(f"/reject {code} 请到参保地办理", user="officer_gh1")

    assert any(m.chat_id == "res_1_1_301" and "请到参保地办理" in m.text for m in result.messages)
    assert case(world, code).status == "rejected"
    assert world.send(f"/resolve {code} 好了", user="officer_gh1").refused


def test_officer_files_a_chatter_message_with_slash_file(world: World) -> None:
    quoted = QuotedMessage(
        message_id="555", user_id="res_1_1_301", user_name="居民", text="楼下那个坑还没人管", sent_at=world.clock.now()
    )

    result = world.send("/file", user="officer_gh1", chat=GROUP_GH, group=True, reply_to=quoted)
    again = world.send("/file", user="chief_gh1", chat=GROUP_GH, group=True, reply_to=quoted)

    acks = [m for m in result.messages if m.kind == "ack"]
    assert len(acks) == 1 and acks[0].reply_to_message_id == "555"
    assert "已登记" in again.messages[0].text
    with world.core.db.transaction() as session:
        assert len(session.exec(select(Case)).all()) == 1


def test_my_lists_own_cases_and_cases_lists_the_grid(world: World) -> None:
    mine = world.send("1幢楼道灯不亮", user="res_1_1_301").case_codes[0]
    other = world.send("3幢门口垃圾没人收", user="res_3_2_502").case_codes[0]

    my = world.send("/my", user="res_1_1_301").messages[0].text
    gh1 = world.send("/cases", user="officer_gh1").messages[0].text
    leader = world.send("/cases", user="leader_gh").messages[0].text

    assert mine in my and other not in my
    assert mine in gh1 and other not in gh1
    assert mine in leader and other in leader


def test_group_commands_that_would_leak_privacy_are_refused(world: World) -> None:
    result = world.send("/bind 1幢1单元101", user="stranger", chat=GROUP_GH, group=True)

    assert result.refused and "私聊" in result.messages[0].text


def test_visit_is_logged_in_the_household_file(world: World) -> None:
    from storage.models import Visit

    result = world.send("/visit 3幢2单元502 上门了解情况，家中一切正常", user="officer_gh2")

    assert not result.refused and "3幢2单元502" in result.messages[0].text
    with world.core.db.transaction() as session:
        visit = session.exec(select(Visit)).one()
        assert visit.note == "上门了解情况，家中一切正常"


def test_officer_corrects_the_category_and_the_history_says_so(world: World) -> None:
    code = world.send("1幢门口的路灯坏了一个礼拜了", user="res_1_1_301").case_codes[0]
    before = case(world, code)
    assert before.category != "traffic"

    result = world.send(f"/category {code} 停车交通", user="officer_gh1")

    assert not result.refused and "停车交通" in result.messages[0].text
    after = case(world, code)
    assert after.category == "traffic" and after.status == before.status
    assert after.first_reply_due == before.first_reply_due  # a correction moves no deadline
    assert after.updated_at == world.clock.now()
    assert events(world, code)[-1] == "recategorised"
    detail = world.send(f"/case {code}", user="officer_gh1").messages[0].text
    assert "类别更正" in detail and "→ 停车交通" in detail
    # The Chinese command word (WeChat) expands to it; the code form works; the same category is a no-op.
    assert expand_alias(f"更正类别 {code} 公共设施") == f"/category {code} 公共设施"
    assert not world.send(f"/category {code} facilities", user="officer_gh1").refused
    assert case(world, code).category == "facilities"
    same = world.send(f"/category {code} 公共设施", user="officer_gh1")
    assert same.refused and "已经是" in same.messages[0].text


@pytest.mark.parametrize("wanted", ["天气", "", "traffic_jam", "🙂"])
def test_unknown_category_is_refused_and_changes_nothing(world: World, wanted: str) -> None:
    code = world.send("1幢门口的路灯坏了", user="res_1_1_301").case_codes[0]
    category = case(world, code).category

    result = world.send(f"/category {code} {wanted}".strip(), user="officer_gh1")

    assert result.refused and ("用法" in result.messages[0].text or "可选类别" in result.messages[0].text)
    assert case(world, code).category == category and "recategorised" not in events(world, code)


def test_labelled_history_keeps_what_officers_confirmed(world: World) -> None:
    corrected = world.send("1幢门口的路灯坏了", user="res_1_1_301").case_codes[0]
    resolved = world.send("1幢楼道灯不亮", user="res_1_1_301").case_codes[0]
    still_open = world.send("1幢电梯有异响", user="res_1_1_301").case_codes[0]
    world.send(f"/category {corrected} 停车交通", user="officer_gh1")
    world.send(f"/resolve {resolved} 已更换灯泡", user="officer_gh1")

    confirmed = list(world.admin.labelled_history())
    everything = list(world.admin.labelled_history(include_unconfirmed=True))

    assert [(r["text"], r["category"], r["corrected"]) for r in confirmed] == [
        ("1幢门口的路灯坏了", "traffic", "yes"),
        ("1幢楼道灯不亮", case(world, resolved).category, "no"),
    ]
    assert len(everything) == 3 and case(world, still_open).code == still_open
    assert all(r["intent"] and r["urgency"] for r in everything)


def test_an_unsure_category_asks_the_officer_and_one_tap_confirms_it(world: World) -> None:
    filed = world.send("1幢后面那块空地到底归谁管", user="res_1_1_301")
    code = filed.case_codes[0]
    before = case(world, code)
    assert before.unconfirmed and before.model_category == before.category
    offered = [item.split(":")[0] for item in before.alternatives.split(",")]
    assert offered[0] == before.category and 1 <= len(offered) <= 3
    notice = next(m for m in filed.messages if m.kind == "notify" and m.chat_id == "officer_gh1")
    assert "待确认" in notice.text
    taps = [button.callback_data for row in notice.buttons for button in row]
    assert taps == [f"cat:{code}:{c}" for c in offered] + [f"cat:{code}:?"]

    listed = world.press(f"cat:{code}:?", user="officer_gh1")
    assert "可选类别" in listed.messages[0].text and case(world, code).unconfirmed

    pick = "traffic"  # any category may be tapped, offered or picked from the list
    tapped = world.press(f"cat:{code}:{pick}", user="officer_gh1")
    assert not tapped.refused and tapped.toast
    after = case(world, code)
    assert after.category == pick and not after.unconfirmed and after.model_category == before.category
    assert after.first_reply_due == before.first_reply_due
    again = world.press(f"cat:{code}:{pick}", user="officer_gh1")  # a second tap changes nothing
    assert again.refused and case(world, code).category == pick


def test_officer_confirms_the_models_guess_with_the_same_category(world: World) -> None:
    code = world.send("1幢后面那块空地到底归谁管", user="res_1_1_301").case_codes[0]
    guess = case(world, code).category
    result = world.press(f"cat:{code}:{guess}", user="officer_gh1")
    assert not result.refused and "已确认" in result.messages[0].text
    assert not case(world, code).unconfirmed and case(world, code).category == guess
    assert events(world, code)[-1] == "recategorised"


def test_an_officer_answers_the_newest_unsure_case_with_a_number(world: World) -> None:
    code = world.send("1幢后面那块空地到底归谁管", user="res_1_1_301").case_codes[0]
    offered = [item.split(":")[0] for item in case(world, code).alternatives.split(",")]
    listed = world.send(str(len(offered) + 1), user="officer_gh1")  # the last number: every category
    assert "可选类别" in listed.messages[0].text and case(world, code).unconfirmed
    picked = world.send("1", user="officer_gh1")
    assert not picked.refused and not picked.case_codes  # a choice, not a new case
    assert not case(world, code).unconfirmed and case(world, code).category == offered[0]
    # Nothing waits any more: another number changes nothing on this case.
    world.send("2", user="officer_gh1")
    assert case(world, code).category == offered[0] and not case(world, code).unconfirmed


def test_a_resident_cannot_confirm_a_category(world: World) -> None:
    code = world.send("1幢后面那块空地到底归谁管", user="res_1_1_301").case_codes[0]
    result = world.press(f"cat:{code}:traffic", user="res_1_1_301")
    assert result.refused and case(world, code).unconfirmed

"""Intake: a resident's post becomes a filed, routed, deadline-tracked case."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import func, select

from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import Minqing
from storage.db import Database
from storage.models import Case, CaseEvent, Outbox, Post
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


def test_bound_resident_group_post_is_routed_to_their_grid_officer(world: World) -> None:
    result = world.post_in_group("楼道里的灯坏了一个星期了，晚上黑漆漆的", user="res_1_1_301")

    assert len(result.case_codes) == 1
    code = result.case_codes[0]
    ack, *notices = result.messages
    assert ack.chat_id == GROUP_GH and ack.kind == "ack" and ack.reply_to_message_id is not None
    assert ack.text.startswith(f"已受理 {code}")
    assert [n.chat_id for n in notices] == ["officer_gh1"]
    assert "1幢1单元301" in notices[0].text
    with world.core.db.transaction() as session:
        case = session.exec(select(Case).where(Case.code == code)).one()
        assert case.status == "assigned"
        assert case.first_reply_due > world.clock.now()
        assert session.exec(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id)).one() == 1


def test_group_ack_never_shows_address_phone_or_name(world: World) -> None:
    result = world.post_in_group("我家3幢2单元502厨房下水道堵了，电话13800001111", user="res_3_2_502")

    ack = result.messages[0]
    assert "502" not in ack.text and "13800001111" not in ack.text and "住户" not in ack.text


def test_redelivered_update_files_one_case(world: World) -> None:
    first = world.send("小区门口的路灯坏了", user="res_1_1_301", message_id="777")
    again = world.send("小区门口的路灯坏了", user="res_1_1_301", message_id="777")

    assert first.case_codes and not again.case_codes and again.duplicate
    with world.core.db.transaction() as session:
        assert session.exec(select(func.count()).select_from(Post)).one() == 1
        assert session.exec(select(func.count()).select_from(Outbox).where(Outbox.kind == "ack")).one() == 1


def test_critical_post_alerts_assignee_and_chief_at_once(world: World) -> None:
    result = world.post_in_group("1幢楼下冒烟了，好像着火了！！快来人", user="res_1_1_301")

    recipients = sorted(m.chat_id for m in result.messages if m.kind == "notify")
    assert recipients == ["chief_gh1", "officer_gh1"]
    with world.core.db.transaction() as session:
        case = session.exec(select(Case)).one()
        assert case.urgency == "critical"
        assert case.first_reply_due - case.created_at == timedelta(minutes=30)


def test_unbound_resident_with_address_in_text_is_matched_to_household(world: World) -> None:
    result = world.post_in_group("3幢2单元301这户天天半夜装修，吵死了", user="stranger")

    assert "小提示" not in result.messages[0].text
    assert [m.chat_id for m in result.messages if m.kind == "notify"] == ["officer_gh2"]


def test_unbound_resident_without_address_goes_to_community_leader(world: World) -> None:
    result = world.post_in_group("小区里流浪狗越来越多了，晚上不敢出门", user="stranger")

    assert "/bind" in result.messages[0].text
    assert [m.chat_id for m in result.messages if m.kind == "notify"] == ["leader_gh"]


def test_group_chatter_without_mention_is_not_filed(world: World) -> None:
    result = world.post_in_group("大家早上好呀", user="stranger", mention=False)

    assert result.messages == [] and result.case_codes == []


def test_trigger_word_files_without_mention(world: World) -> None:
    result = world.post_in_group("#诉求 2幢电梯又坏了", user="res_1_1_301", mention=False)

    assert len(result.case_codes) == 1


def test_two_posts_get_distinct_codes(world: World) -> None:
    first = world.send("路灯坏了", user="res_1_1_301")
    second = world.send("垃圾没人收", user="res_1_1_301")

    assert first.case_codes[0] != second.case_codes[0]
    assert first.case_codes[0].startswith("MQ-2026-")

"""Verified binding (issue 13): a home is bound only with proof, and its file opens only to its members."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from analysis.analyzer import Analyzer
from handlers import catalogue
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import CoreSettings, Minqing
from storage.db import Database
from storage.models import BindRequest, ChatIdentity, FailedAttempt, Household, Resident
from tests.support.factories import T0, World, build_world


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    return build_world(core, admin, clock)


@pytest.fixture
def world_on(db_url: str, analyzer: Analyzer) -> Iterator[World]:
    """The factories' street on SQLite and on PostgreSQL."""
    db = Database.from_url(db_url)
    clock = FixedClock(T0)
    yield build_world(Minqing(db=db, analyzer=analyzer, clock=clock, settings=CoreSettings()), Admin(db), clock)
    db.dispose()


def household_case(world: World) -> str:
    """A case in the file of GH 1幢1单元301, posted by its bound member."""
    return world.send("家里卫生间漏水到楼下了", user="res_1_1_301").case_codes[0]


def resident_of(world: World, user: str) -> Resident | None:
    with world.core.db.transaction() as session:
        identity = session.exec(select(ChatIdentity).where(ChatIdentity.user_id == user)).first()
        if identity is None or identity.resident_id is None:
            return None
        return session.get(Resident, identity.resident_id)


def failures(world: World, user: str) -> int:
    with world.core.db.transaction() as session:
        return len(session.exec(select(FailedAttempt).where(FailedAttempt.user_id == user)).all())


def request_buttons(world: World, user: str, address: str) -> list[tuple[str, str]]:
    """``/bind ADDRESS`` without digits; the (officer chat, callback data) of each 同意 button sent."""
    result = world.send(f"/bind {address}", user=user)
    assert not result.refused, result.messages[0].text
    return [
        (m.chat_id, b.callback_data) for m in result.messages for row in m.buttons for b in row if b.label == "同意"
    ]


def test_right_phone_digits_bind_and_open_the_household_file(world: World) -> None:
    code = household_case(world)

    result = world.send("/bind GH 1幢1单元301 1111", user="spouse")

    assert "绑定成功" in result.messages[0].text
    member = resident_of(world, "spouse")
    assert member is not None and member.verified_via == "phone"
    assert code in world.send("/my", user="spouse").messages[0].text
    assert not world.send(f"/case {code}", user="spouse").refused


def test_wrong_digits_bind_nothing_and_the_file_stays_closed(world: World) -> None:
    code = household_case(world)

    result = world.send("/bind GH 1幢1单元301 2222", user="stranger")

    assert result.refused and "不一致" in result.messages[0].text
    assert resident_of(world, "stranger") is None
    assert failures(world, "stranger") == 1
    refused = world.send(f"/case {code}", user="stranger")
    assert refused.refused and "没有找到" in refused.messages[0].text
    assert code not in world.send("/my", user="stranger").messages[0].text


def test_without_digits_the_grid_officer_approves_with_one_tap(world: World) -> None:
    code = household_case(world)

    asks = request_buttons(world, "stranger", "GH 1幢1单元301")

    # GH-01's officer and chief are asked; nobody in GH-02.
    assert {chat for chat, _ in asks} == {"officer_gh1", "chief_gh1"}
    assert resident_of(world, "stranger") is None, "a request alone grants nothing"
    assert world.send(f"/case {code}", user="stranger").refused
    chat, data = asks[0]
    pressed = world.press(data, user=chat)
    assert not pressed.refused and "已同意" in pressed.toast
    told = [m for m in pressed.messages if m.chat_id == "stranger"]
    assert told and "绑定成功" in told[0].text
    member = resident_of(world, "stranger")
    assert member is not None and member.verified_via == "officer"
    assert not world.send(f"/case {code}", user="stranger").refused
    again = world.press(data, user="chief_gh1")
    assert again.refused and "已经处理过" in again.toast


def test_an_officer_of_another_grid_cannot_approve(world: World) -> None:
    (_, data), *_ = request_buttons(world, "stranger", "GH 1幢1单元301")
    number = data.rsplit(":", 1)[1]

    pressed = world.press(data, user="officer_gh2")
    typed = world.send(f"/approve {number}", user="officer_gh2")
    by_resident = world.press(data, user="res_3_2_502")

    assert pressed.refused and typed.refused and by_resident.refused
    assert "不在您的负责范围" in typed.messages[0].text
    assert resident_of(world, "stranger") is None


def test_a_declined_request_is_told_and_counted(world: World) -> None:
    (_, data), *_ = request_buttons(world, "stranger", "GH 1幢1单元301")
    number = data.rsplit(":", 1)[1]

    result = world.send(f"/decline {number}", user="officer_gh1")

    assert not result.refused and "已拒绝" in result.messages[0].text
    assert any(m.chat_id == "stranger" and "未能确认" in m.text for m in result.messages)
    assert resident_of(world, "stranger") is None
    assert failures(world, "stranger") == 1
    with world.core.db.transaction() as session:
        assert session.exec(select(BindRequest.status)).all() == ["declined"]


def test_a_new_request_withdraws_the_pending_one(world: World) -> None:
    request_buttons(world, "stranger", "GH 1幢1单元301")
    request_buttons(world, "stranger", "GH 2幢1单元101")

    with world.core.db.transaction() as session:
        statuses = session.exec(select(BindRequest.status).order_by(sa.column("id"))).all()
    assert statuses == ["withdrawn", "pending"]


def test_a_household_without_a_phone_on_file_goes_to_the_officer(world: World) -> None:
    with world.core.db.transaction() as session:
        household = session.exec(select(Household).where(Household.building == "2", Household.room == "502")).first()
        assert household is not None
        household.phone = ""
        session.add(household)

    result = world.send("/bind GH 2幢1单元502 1234", user="stranger")

    assert not result.refused and "没有登记电话" in result.messages[0].text
    assert resident_of(world, "stranger") is None


def test_several_members_and_an_officer_unbinds_one(world: World) -> None:
    code = household_case(world)
    assert "绑定成功" in world.send("/bind GH 1幢1单元301 1111", user="spouse").messages[0].text

    listing = world.send("/unbind 1幢1单元301", user="officer_gh1").messages[0].text
    assert "1. 用户res_1_1_301" in listing and "2. 用户spouse" in listing
    result = world.send("/unbind 1幢1单元301 2", user="officer_gh1")

    assert not result.refused and "已解除" in result.messages[0].text
    assert any(m.chat_id == "spouse" and "解除" in m.text for m in result.messages)
    assert resident_of(world, "spouse") is None
    assert world.send(f"/case {code}", user="spouse").refused
    assert not world.send(f"/case {code}", user="res_1_1_301").refused, "the other member keeps access"


def test_unbind_outside_the_officers_grid_or_a_bad_number_is_refused(world: World) -> None:
    other = world.send("/unbind 1幢1单元301 1", user="officer_gh2")
    bad_number = world.send("/unbind 1幢1单元301 7", user="officer_gh1")

    assert other.refused and "没有找到" in other.messages[0].text
    assert bad_number.refused and "没有序号 7" in bad_number.messages[0].text
    assert resident_of(world, "res_1_1_301") is not None


def test_a_binding_made_before_verification_grants_nothing(world: World) -> None:
    code = household_case(world)
    with world.core.db.transaction() as session:
        identity = session.exec(select(ChatIdentity).where(ChatIdentity.user_id == "res_3_2_502")).one()
        resident = session.get(Resident, identity.resident_id)
        assert resident is not None
        household = session.exec(select(Household).where(Household.building == "1", Household.room == "301")).first()
        assert household is not None
        resident.household_id, resident.verified_via = household.id or 0, ""  # as the migration leaves old rows
        session.add(resident)

    assert world.send(f"/case {code}", user="res_3_2_502").refused
    assert code not in world.send("/my", user="res_3_2_502").messages[0].text


def test_unknown_addresses_count_as_failures_but_unreadable_ones_do_not(world: World) -> None:
    world.send("/bind GH 9幢9单元909 1111", user="stranger")
    world.send("/bind 火星基地", user="stranger")

    assert failures(world, "stranger") == 1


def test_a_four_digit_room_is_not_taken_for_phone_digits(world: World) -> None:
    world.admin.import_households(
        [{"community": "GH", "grid": "GH-02", "building": "8", "unit": "1", "room": "1101", "phone": "13900002468"}],
        now=world.clock.now(),
    )

    asked = world.send("/bind GH 8幢 1单元 1101", user="stranger")
    proved = world.send("/bind GH 8幢 1单元 1101 2468", user="other")

    assert not asked.refused and "已请" in asked.messages[0].text
    assert "绑定成功" in proved.messages[0].text


def test_failed_bind_attempts_are_throttled_per_account(world_on: World) -> None:
    world = world_on
    limit = world.core.settings.attempt_limit
    for _ in range(limit):
        assert world.send("/bind GH 1幢1单元301 0000", user="stranger").refused

    blocked = world.send("/bind GH 1幢1单元301 1111", user="stranger")
    elsewhere = world.send("/bind GH 1幢1单元301 1111", user="other")

    assert blocked.refused and "尝试次数过多" in blocked.messages[0].text
    assert resident_of(world, "stranger") is None, "even the right digits wait out the pause"
    assert "绑定成功" in elsewhere.messages[0].text, "the throttle is per account"
    world.clock.advance(world.core.settings.attempt_window + timedelta(seconds=1))
    assert "绑定成功" in world.send("/bind GH 1幢1单元301 1111", user="stranger").messages[0].text


def test_the_same_throttle_covers_invite_codes(world: World) -> None:
    _, code = world.admin.add_officer(name="新网格员", role="grid_officer", scope="GH-02", now=world.clock.now())
    for guess in range(world.core.settings.attempt_limit):
        assert world.send(f"/join WRONG{guess}", user="guesser").refused
    # Binding failures are counted separately from invite-code failures.
    assert "绑定成功" in world.send("/bind GH 1幢1单元101 1111", user="guesser").messages[0].text

    blocked = world.send(f"/join {code}", user="guesser")

    assert blocked.refused and blocked.messages[0].text == catalogue.TOO_MANY_ATTEMPTS.format(minutes=30)
    assert "欢迎" in world.send(f"/join {code}", user="other").messages[0].text


def test_a_redelivered_failure_is_counted_once(world: World) -> None:
    from tests.support.factories import message

    msg = message("/bind GH 1幢1单元301 0000", user="stranger", sent_at=world.clock.now())
    world.core.handle(msg)
    world.core.handle(msg)

    assert failures(world, "stranger") == 1

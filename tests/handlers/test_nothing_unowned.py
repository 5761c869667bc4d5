"""Nothing unowned: cases reach somebody who can be told, and an unlinked group's posts wait, kept."""

from datetime import timedelta

import pytest
from sqlmodel import func, select

from analysis.analyzer import Analyzer
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.ops_notice import operations_notice
from handlers.service import CoreSettings, Minqing
from storage.db import Database
from storage.models import Case, ChatIdentity, HeldPost, Officer
from tests.support.factories import World, build_world

UNLINKED = "-100999"


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    return build_world(core, admin, clock)


def officer_named(world: World, user: str) -> Officer:
    with world.core.db.transaction() as session:
        identity = session.exec(select(ChatIdentity).where(ChatIdentity.user_id == user)).one()
        officer = session.get(Officer, identity.officer_id)
        assert officer is not None
        return officer


def deactivate(world: World, user: str) -> None:
    with world.core.db.transaction() as session:
        identity = session.exec(select(ChatIdentity).where(ChatIdentity.user_id == user)).one()
        officer = session.get(Officer, identity.officer_id)
        assert officer is not None
        officer.active = False
        session.add(officer)


def test_an_officer_who_never_enrolled_is_given_no_cases(world: World) -> None:
    # A second grid officer for GH-01, added by the admin but never /join-ed: nobody can reach them.
    world.admin.add_officer(name="未报到", role="grid_officer", scope="GH-01", now=world.clock.now())
    enrolled = officer_named(world, "officer_gh1")

    codes = [world.send(f"1幢楼道灯坏了第{i}次", user="res_1_1_301").case_codes[0] for i in range(6)]

    assert {world.case(code).assignee_id for code in codes} == {enrolled.id}


def test_a_grid_whose_officer_left_falls_back_to_its_chief_then_the_community_leader(world: World) -> None:
    deactivate(world, "officer_gh1")
    to_chief = world.send("1幢门口垃圾没人收", user="res_1_1_301")
    chief = officer_named(world, "chief_gh1")
    assert world.case(to_chief.case_codes[0]).assignee_id == chief.id
    assert any(m.chat_id == "chief_gh1" and m.kind == "notify" for m in to_chief.messages)

    deactivate(world, "chief_gh1")
    to_leader = world.send("1幢门口垃圾还是没人收", user="res_1_1_301")
    assert world.case(to_leader.case_codes[0]).assignee_id == officer_named(world, "leader_gh").id
    assert any(m.chat_id == "leader_gh" and m.kind == "notify" for m in to_leader.messages)


def test_the_admin_hears_once_a_day_which_grids_have_nobody_reachable(world: World) -> None:
    zone = world.core.settings.zone
    db = world.core.db

    first = operations_notice(db, now=world.clock.now(), zone=zone)
    again = operations_notice(db, now=world.clock.now() + timedelta(hours=1), zone=zone)

    # WT-01 has no officer at all; GH-01 and GH-02 have enrolled ones.
    assert [m.chat_id for m in first] == ["admin"]
    assert "WT-01" in first[0].text and "GH-01" not in first[0].text and "GH-02" not in first[0].text
    assert again == []
    deactivate(world, "officer_gh2")
    tomorrow = operations_notice(db, now=world.clock.now() + timedelta(days=1), zone=zone)
    assert "GH-02" in tomorrow[0].text and "WT-01" in tomorrow[0].text


def test_no_notice_when_every_grid_has_somebody(world: World) -> None:
    _, code = world.admin.add_officer(name="网格员", role="grid_officer", scope="WT-01", now=world.clock.now())
    world.send(f"/join {code}", user="officer_wt1")

    assert operations_notice(world.core.db, now=world.clock.now(), zone=world.core.settings.zone) == []


def held(world: World) -> list[HeldPost]:
    with world.core.db.transaction() as session:
        return list(session.exec(select(HeldPost).order_by(HeldPost.id)).all())  # type: ignore[arg-type]


def cases(world: World) -> int:
    with world.core.db.transaction() as session:
        return session.exec(select(func.count()).select_from(Case)).one()


def test_an_unlinked_group_is_asked_to_link_and_nothing_is_promised(world: World) -> None:
    first = world.post_in_group("小区门口路灯坏了", user="res_1_1_301", chat=UNLINKED)
    second = world.post_in_group("电梯也停了两天了", user="res_3_2_502", chat=UNLINKED)

    assert len(first.messages) == 1 and first.case_codes == []
    prompt = first.messages[0].text
    assert "关联" in prompt and f"--chat-id {UNLINKED}" in prompt
    assert "MQ-" not in prompt and "小时" not in prompt  # no code, no reply time: nobody owns it yet
    assert second.messages == []  # asked once, not at every post
    assert cases(world) == 0 and len(held(world)) == 2
    # A redelivered update is not held twice.
    assert world.post_in_group("小区门口路灯坏了", user="res_1_1_301", chat=UNLINKED).messages == []


def test_held_posts_are_filed_once_the_group_is_linked(world: World) -> None:
    world.post_in_group("小区门口路灯坏了", user="res_1_1_301", chat=UNLINKED)
    world.post_in_group("3幢电梯停了两天了", user="stranger", chat=UNLINKED)
    world.admin.link_group(platform="telegram", chat_id=UNLINKED, community="GH")

    codes = world.core.file_held_posts(platform="telegram", chat_id=UNLINKED)

    assert len(codes) == 2 and cases(world) == 2
    assert all(world.case(code).community_id is not None for code in codes)
    assert all(h.filed_at is not None for h in held(world))
    assert world.core.file_held_posts(platform="telegram", chat_id=UNLINKED) == []
    assert cases(world) == 2


def test_held_posts_wait_while_the_group_stays_unlinked(world: World) -> None:
    world.post_in_group("小区门口路灯坏了", user="res_1_1_301", chat=UNLINKED)

    assert world.core.file_held_posts(platform="telegram", chat_id=UNLINKED) == []
    assert cases(world) == 0 and held(world)[0].filed_at is None


def test_the_prompt_comes_again_after_an_hour_of_silence(world: World) -> None:
    world.post_in_group("小区门口路灯坏了", user="res_1_1_301", chat=UNLINKED)
    world.clock.advance(timedelta(hours=2))

    later = world.post_in_group("路灯还是坏的", user="res_1_1_301", chat=UNLINKED)

    assert len(later.messages) == 1 and "关联" in later.messages[0].text


def test_cases_wait_for_someone_when_nobody_at_all_can_be_reached(
    sqlite_url: str, analyzer: Analyzer, clock: FixedClock
) -> None:
    db = Database.from_url(sqlite_url)
    core = Minqing(db=db, analyzer=analyzer, clock=clock, settings=CoreSettings())
    admin = Admin(db)
    from tests.support.factories import households

    admin.import_households(households(), now=clock.now())
    admin.add_officer(name="未报到", role="grid_officer", scope="GH-01", now=clock.now())
    world = World(core=core, admin=admin, clock=clock)

    result = world.send("小区路灯坏了", user="someone")

    case = world.case(result.case_codes[0])
    assert case.assignee_id is None and case.status == "received"
    [ack] = result.messages
    assert ack.kind == "ack" and case.code is not None and case.code in ack.text
    assert "小时" not in ack.text and "工作日" not in ack.text  # no reply time nobody will keep
    db.dispose()

"""Nothing dropped: unstorable characters, failures of the core, and edited posts."""

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from analysis.analyzer import Analyzer
from bot.cli import app as cli
from bot.deadletters import BACKOFF, DeadLetters
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.messages import HandlerResult, IncomingMessage
from handlers.service import CoreSettings, Minqing
from storage import repositories as repo
from storage.db import Database
from storage.models import ChatIdentity, DeadLetter, Post
from tests.support.factories import World, build_world, message


@pytest.fixture
def pg_or_sqlite_world(db_url: str, analyzer: Analyzer, clock: FixedClock) -> Iterator[World]:
    db = Database.from_url(db_url)
    core = Minqing(db=db, analyzer=analyzer, clock=clock, settings=CoreSettings())
    yield build_world(core, Admin(db), clock)
    db.dispose()


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    return build_world(core, admin, clock)


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\udfff"], ids=["nul", "lone-high-surrogate", "lone-low-surrogate"])
def test_unstorable_characters_in_text_and_name_are_replaced_and_the_post_filed(
    pg_or_sqlite_world: World, bad: str
) -> None:
    world = pg_or_sqlite_world
    msg = dataclasses.replace(
        message(f"3幢{bad}电梯坏了", user="newcomer", sent_at=world.clock.now()), user_name=f"王{bad}伟"
    )

    first = world.core.handle(msg)
    again = world.core.handle(dataclasses.replace(msg, message_id=msg.message_id + "b"))

    assert len(first.case_codes) == 1 and len(again.case_codes) == 1  # later messages from them work too
    with world.core.db.transaction() as session:
        post = session.exec(select(Post).where(Post.message_id == msg.message_id)).one()
        identity = session.exec(select(ChatIdentity).where(ChatIdentity.user_id == "newcomer")).one()
        # The replacement character stays visible in the kept copy, where the bad character was.
        assert post.text == "3幢\ufffd电梯坏了"
        assert identity.display_name == "王\ufffd伟"


def test_an_edited_post_updates_the_open_case_and_records_the_old_text(world: World) -> None:
    original = message("1幢楼道灯坏了", user="res_1_1_301", sent_at=world.clock.now())
    code = world.core.handle(original).case_codes[0]
    edited = dataclasses.replace(original, text="1幢2单元楼道灯坏了三盏", edit_id="1700000000")

    result = world.core.handle(edited)

    assert result.case_codes == [code]
    assert {m.chat_id for m in result.messages} == {"res_1_1_301", "officer_gh1"}
    with world.core.db.transaction() as session:
        case = repo.case_by_code(session=session, code=code)
        assert case is not None
        assert repo.post_of(session=session, case=case).text == "1幢2单元楼道灯坏了三盏"
        events = [(e.kind, e.detail) for e in repo.events_of(session=session, case_id=case.id or 0)]
    assert ("edited", "1幢楼道灯坏了") in events
    # The same edit delivered again changes nothing more.
    assert world.core.handle(edited).duplicate


def test_an_edit_after_the_case_is_resolved_is_kept_as_a_follow_up(world: World) -> None:
    original = message("1幢楼道灯坏了", user="res_1_1_301", sent_at=world.clock.now())
    code = world.core.handle(original).case_codes[0]
    world.send(f"/resolve {code} 已更换灯泡", user="officer_gh1")

    result = world.core.handle(dataclasses.replace(original, text="灯又坏了", edit_id="2"))

    with world.core.db.transaction() as session:
        case = repo.case_by_code(session=session, code=code)
        assert case is not None and case.status == "resolved"
        assert repo.post_of(session=session, case=case).text == "1幢楼道灯坏了"
        assert ("follow_up", "灯又坏了") in [
            (e.kind, e.detail) for e in repo.events_of(session=session, case_id=case.id or 0)
        ]
    assert "已经办结" in result.messages[0].text


def test_an_edit_of_a_message_never_filed_is_read_as_a_new_post(world: World) -> None:
    chatter = message("哈哈", user="res_1_1_301", chat="-100111", group=True, sent_at=world.clock.now())
    assert world.core.handle(chatter).case_codes == []

    edited = dataclasses.replace(chatter, text="@minqing_bot 3幢电梯坏了", mentions_bot=True, edit_id="9")

    assert len(world.core.handle(edited).case_codes) == 1


class Flaky:
    """The core's handle, failing the first ``failures`` calls."""

    def __init__(self, core: Minqing, failures: int) -> None:
        self.core = core
        self.failures = failures

    def __call__(self, msg: IncomingMessage) -> HandlerResult:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("database hiccup")
        return self.core.handle(msg)


def letters(world: World) -> list[DeadLetter]:
    with world.core.db.transaction() as session:
        return list(session.exec(select(DeadLetter)).all())


def test_a_message_the_core_fails_on_is_kept_and_filed_on_a_later_retry(world: World) -> None:
    flaky = Flaky(world.core, failures=2)
    dead = DeadLetters(db=world.core.db, handle=flaky, clock=world.clock)
    msg = message("1幢楼道灯坏了", user="res_1_1_301", sent_at=world.clock.now())

    with pytest.raises(RuntimeError):
        dead.guard()(msg)

    [kept] = letters(world)
    assert "database hiccup" in kept.error and IncomingMessage.from_json(kept.payload) == msg
    assert dead.retry_due() == []  # not due yet
    world.clock.advance(BACKOFF[0])
    assert [o.ok for o in dead.retry_due()] == [False]  # fails again: backs off further
    world.clock.advance(BACKOFF[0])
    assert dead.retry_due() == []
    world.clock.advance(BACKOFF[1])
    assert [o.ok for o in dead.retry_due()] == [True]
    [done] = letters(world)
    assert done.resolved_at is not None and done.attempts == 3
    with world.core.db.transaction() as session:
        assert repo.case_of_post(session=session, platform="telegram", chat_id="res_1_1_301", message_id=msg.message_id)


def test_refusals_are_not_dead_letters(world: World) -> None:
    dead = DeadLetters(db=world.core.db, handle=world.core.handle, clock=world.clock)

    dead.guard()(message("/cases", user="res_1_1_301", sent_at=world.clock.now()))

    assert letters(world) == []


def test_deadletters_list_and_retry_from_the_command_line(world: World, sqlite_url: str) -> None:
    dead = DeadLetters(db=world.core.db, handle=Flaky(world.core, failures=1), clock=world.clock)
    msg = message("1幢楼道灯坏了", user="res_1_1_301", sent_at=world.clock.now())
    with pytest.raises(RuntimeError):
        dead.guard()(msg)
    runner = CliRunner()

    listed = runner.invoke(cli, ["deadletters", "list", "--db", sqlite_url, "--json"])
    retried = runner.invoke(cli, ["deadletters", "retry", "--db", sqlite_url])
    after = runner.invoke(cli, ["deadletters", "list", "--db", sqlite_url, "--json"])

    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["message_id"] == msg.message_id and "database hiccup" in row["error"]
    assert retried.exit_code == 0, retried.output
    assert after.stdout.strip() == ""
    with world.core.db.transaction() as session:
        assert repo.case_of_post(session=session, platform="telegram", chat_id="res_1_1_301", message_id=msg.message_id)


def test_automatic_retries_stop_after_the_last_back_off(world: World) -> None:
    dead = DeadLetters(db=world.core.db, handle=Flaky(world.core, failures=99), clock=world.clock)
    with pytest.raises(RuntimeError):
        dead.guard()(message("1幢楼道灯坏了", user="res_1_1_301", sent_at=world.clock.now()))

    for _ in range(len(BACKOFF) + 2):
        world.clock.advance(timedelta(hours=7))
        dead.retry_due()

    [kept] = letters(world)
    assert kept.resolved_at is None and kept.next_attempt_at is None and kept.attempts == len(BACKOFF) + 1

"""Every command x every role: allowed, or a clear refusal that changes nothing."""

from collections.abc import Callable

import pytest

from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.messages import HandlerResult, QuotedMessage
from handlers.service import Minqing
from tests.support.factories import GROUP_GH, World, build_world
from tests.support.snapshot import snapshot

ROLES = {
    "resident_unbound": "stranger",
    "resident_bound": "res_1_1_301",  # also the reporter of the case under test
    "grid_officer_this_grid": "officer_gh1",
    "officer_other_grid": "officer_gh2",
    "grid_chief": "chief_gh1",
    "leader": "leader_gh",
    "admin": "admin",
}
RESIDENTS = {"resident_unbound", "resident_bound"}
OFFICERS = set(ROLES) - RESIDENTS
IN_SCOPE = {"grid_officer_this_grid", "grid_chief", "leader", "admin"}

# command -> (how to run it, roles allowed)
Runner = Callable[[World, str, str], HandlerResult]


def _private(text: str) -> Runner:
    return lambda world, user, code: world.send(text.format(code=code), user=user)


def _file(world: World, user: str, code: str) -> HandlerResult:
    quoted = QuotedMessage(
        message_id="q-1", user_id="stranger", user_name="路人", text="5幢门口垃圾堆成山了", sent_at=world.clock.now()
    )
    return world.send("/file", user=user, chat=GROUP_GH, group=True, reply_to=quoted)


COMMANDS: dict[str, tuple[Runner, set[str]]] = {
    "start": (_private("/start"), set(ROLES)),
    "help": (_private("/help"), set(ROLES)),
    "bind": (_private("/bind GH 2幢2单元101"), RESIDENTS),
    "my": (_private("/my"), RESIDENTS),
    "join": (_private("/join {code}"), RESIDENTS),  # {code} is a fresh invite code here
    "cases": (_private("/cases"), OFFICERS),
    "case": (_private("/case {code}"), IN_SCOPE | {"resident_bound"}),
    "reply": (_private("/reply {code} 已安排人明天上门"), IN_SCOPE),
    "resolve": (_private("/resolve {code} 已修复"), IN_SCOPE),
    "transfer": (_private("/transfer {code} WT-01 属于梧桐社区"), IN_SCOPE),
    "category": (_private("/category {code} 停车交通"), IN_SCOPE),
    "reject": (_private("/reject {code} 不属于社区事务"), IN_SCOPE),
    "file": (_file, OFFICERS),
    # 1幢1单元301 is in grid GH-01: the other grid's officer has no such household in scope.
    "visit": (_private("/visit 1幢1单元301 上门看望，老人身体不错"), IN_SCOPE),
    "rate": (_private("/rate {code} 满意"), {"resident_bound"}),  # on a resolved case
    # Issue 13: {code} is the number of a pending request to bind GH 1幢1单元101 (grid GH-01).
    "approve": (_private("/approve {code}"), IN_SCOPE),
    "decline": (_private("/decline {code}"), IN_SCOPE),
    "unbind": (_private("/unbind 1幢1单元301"), IN_SCOPE),
    "household": (_private("/household 1幢1单元301"), IN_SCOPE),
    "due": (_private("/due"), OFFICERS),
}


# Tables a refusal may touch: the record of the incoming message and the queued refusal reply.
@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    return build_world(core, admin, clock)


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_permission_matrix(world: World, command: str, role: str) -> None:
    code = world.send("1幢1单元301门口的路灯坏了", user="res_1_1_301").case_codes[0]
    run, allowed = COMMANDS[command]
    if command == "rate":
        world.send(f"/resolve {code} 已修好", user="officer_gh1")
    if command == "join":
        _, code = world.admin.add_officer(name="新人", role="grid_officer", scope="GH-01", now=world.clock.now())
    if command in ("approve", "decline"):
        asked = world.send("/bind GH 1幢1单元101", user="newcomer")
        code = next(b.callback_data for m in asked.messages for row in m.buttons for b in row).rsplit(":", 1)[1]
    before = snapshot(world)

    result = run(world, ROLES[role], code)

    assert result.messages, "every command gets an answer"
    if role in allowed:
        assert not result.refused, result.messages[0].text
    else:
        assert result.refused, f"{role} should not be able to use /{command}"
        assert snapshot(world) == before, "a refused command must change nothing"
        assert len(result.messages) == 1 and result.messages[0].chat_id in (ROLES[role], GROUP_GH)

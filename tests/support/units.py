"""Units for the 吹哨报到 tests: the estate's property company, a street department, another estate's."""

from sqlmodel import col, select

from handlers import catalogue
from handlers.messages import OutgoingMessage
from storage.db import Database
from storage.models import CaseEvent, ChatGroup, Outbox
from tests.support.factories import World

#: (user, unit name, kind, scope, head?) — ``liaison_*`` enrol with the invite ``units add`` prints.
UNITS = (
    ("liaison_wy", "桂花苑物业", "property", "GH"),
    ("liaison_gl", "社区管理办公室", "department", "ST01"),
    ("liaison_wt", "梧桐苑物业", "property", "WT"),
)
#: Telegram-shaped ids for the unit people (see ``tests.factories.TELEGRAM_IDS``).
UNIT_TELEGRAM_IDS = {"liaison_wy": "3001", "head_wy": "3002", "liaison_gl": "3003", "liaison_wt": "3004"}


def add_units(world: World) -> dict[str, str]:
    """Create the units, enrol their liaisons (and 桂花苑物业's head); returns unit name → code."""
    codes: dict[str, str] = {}
    now = world.clock.now()
    for user, name, kind, scope in UNITS:
        unit, invite = world.admin.add_unit(name=name, kind=kind, scope=scope, now=now)
        codes[name] = unit.code
        joined = world.send(f"/join {invite}", user=world.users.get(user, user))
        assert "单位联络员" in joined.messages[0].text, joined.messages[0].text
    invite = world.admin.unit_invite(unit="桂花苑物业", head=True, name="物业经理", now=now)
    joined = world.send(f"/join {invite}", user=world.users.get("head_wy", "head_wy"))
    assert "单位负责人" in joined.messages[0].text
    return codes


def internal_words_in_groups(db: Database) -> list[str]:
    """Staff-only words (notes, 督办, the units' steps and whistle reasons) found in any group message.

    Used on the demo's database (``tests/test_cli.py``) and here: every such event's text is looked
    for in every message queued to a chat group.
    """
    internal = catalogue.INTERNAL_EVENTS | {"whistled"}
    with db.transaction() as session:
        groups = {(g.platform, g.chat_id) for g in session.exec(select(ChatGroup))}
        texts = [
            OutgoingMessage.from_json(row.payload).text
            for row in session.exec(select(Outbox))
            if (row.platform, row.chat_id) in groups
        ]
        details = {
            e.detail.split("：", 1)[-1]  # "unit：reason" keeps only the reason
            for e in session.exec(select(CaseEvent).where(col(CaseEvent.kind).in_(internal)))
            if len(e.detail) >= 4 and not e.detail.startswith("assignee=")
        }
    assert texts, "no group messages to scan"
    return sorted(d for d in details if any(d in text for text in texts))

"""Builders for a small street and for incoming messages; every test world is made here."""

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import select

from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.messages import Attachment, CallbackQuery, HandlerResult, IncomingMessage, QuotedMessage
from handlers.service import Minqing
from storage.db import Database
from storage.models import Case

# Monday 2026-11-23 10:00 in Shanghai: a working day, so working-time deadlines are easy to read.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
PLATFORM = "telegram"
GROUP_GH = "-100111"
GROUP_WT = "-100222"

_ids = itertools.count(1)


def households() -> list[dict[str, str]]:
    """Two communities; GH has grids GH-01 (buildings 1-2) and GH-02 (building 3); WT has WT-01."""
    rows = []
    for community, grid, building in (
        ("GH", "GH-01", "1"),
        ("GH", "GH-01", "2"),
        ("GH", "GH-02", "3"),
        ("WT", "WT-01", "3"),
    ):
        for unit in ("1", "2"):
            for room in ("101", "301", "502"):
                rows.append(
                    {
                        "community": community,
                        "grid": grid,
                        "building": building,
                        "unit": unit,
                        "room": room,
                        "head_name": f"住户{building}{unit}{room}",
                        "phone": "13800001111",
                        "tags": "",
                    }
                )
    return rows


def message(
    text: str,
    *,
    user: str,
    chat: str | None = None,
    group: bool = False,
    mention: bool = False,
    reply_to: QuotedMessage | None = None,
    message_id: str | None = None,
    sent_at: datetime,
    attachments: tuple[Attachment, ...] = (),
) -> IncomingMessage:
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=chat or user,
        user_id=user,
        message_id=message_id or str(next(_ids)),
        text=text,
        sent_at=sent_at,
        is_group=group,
        user_name=f"用户{user}",
        mentions_bot=mention,
        reply_to=reply_to,
        attachments=attachments,
    )


@dataclass
class World:
    """A street with officers who have joined and residents who have bound their homes.

    Users: ``officer_gh1`` (grid officer GH-01), ``officer_gh2`` (grid officer GH-02), ``chief_gh1``
    (grid chief GH-01), ``leader_gh`` (community leader GH), ``leader_street`` (street leader),
    ``admin``; residents ``res_1_1_301`` (bound to GH 1幢1单元301, grid GH-01) and ``res_3_2_502``
    (bound to GH 3幢2单元502, grid GH-02); ``stranger`` is unbound.
    """

    core: Minqing
    admin: Admin
    clock: FixedClock
    users: dict[str, str] = field(default_factory=dict)

    def send(self, text: str, *, user: str, **kwargs: object) -> HandlerResult:
        msg = message(text, user=user, sent_at=self.clock.now(), **kwargs)  # type: ignore[arg-type]
        return self.core.handle(msg)

    def post_in_group(self, text: str, *, user: str, chat: str = GROUP_GH, mention: bool = True) -> HandlerResult:
        return self.send(text, user=user, chat=chat, group=True, mention=mention)

    def case(self, code: str) -> Case:
        """The stored case with this code (a fresh read, detached from the session)."""
        with self.core.db.transaction() as session:
            return session.exec(select(Case).where(Case.code == code)).one()

    def press(self, data: str, *, user: str, chat: str | None = None) -> HandlerResult:
        return self.core.handle_callback(
            CallbackQuery(platform=PLATFORM, chat_id=chat or user, user_id=user, query_id=str(next(_ids)), data=data)
        )


def build_world(core: Minqing, admin: Admin, clock: FixedClock, ids: dict[str, str] | None = None) -> World:
    """The street above; ``ids`` maps the readable user names to platform user ids (default: the names)."""
    world = World(core=core, admin=admin, clock=clock, users=dict(ids or {}))

    def uid(user: str) -> str:
        return (ids or {}).get(user, user)

    report = admin.import_households(households(), now=clock.now())
    assert not report.rejected
    for user, role, scope in (
        ("officer_gh1", "grid_officer", "GH-01"),
        ("officer_gh2", "grid_officer", "GH-02"),
        ("chief_gh1", "grid_chief", "GH-01"),
        ("leader_gh", "community_leader", "GH"),
        ("leader_street", "street_leader", "ST01"),
        ("admin", "admin", "ST01"),
    ):
        _, code = admin.add_officer(name=f"{user}的名字", role=role, scope=scope, now=clock.now())
        result = world.send(f"/join {code}", user=uid(user))
        assert "欢迎" in result.messages[0].text, result.messages[0].text
    admin.link_group(platform=PLATFORM, chat_id=GROUP_GH, community="GH")
    admin.link_group(platform=PLATFORM, chat_id=GROUP_WT, community="WT")
    for user, address in (("res_1_1_301", "/bind GH 1幢1单元301 1111"), ("res_3_2_502", "/bind GH 3幢2单元502 1111")):
        result = world.send(address, user=uid(user))
        assert "绑定成功" in result.messages[0].text, result.messages[0].text
    return world


#: Telegram-shaped numeric user ids for the people of ``build_world`` (Telegram ids are integers).
TELEGRAM_IDS = {
    "officer_gh1": "1001",
    "officer_gh2": "1002",
    "chief_gh1": "1003",
    "leader_gh": "1004",
    "leader_street": "1005",
    "admin": "1006",
    "res_1_1_301": "2001",
    "res_3_2_502": "2002",
    "stranger": "2999",
}


def build_telegram_world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    """``build_world`` with Telegram user ids (``TELEGRAM_IDS``) in place of the readable names."""
    return build_world(core, admin, clock, ids=TELEGRAM_IDS)


def insert_case(
    db: Database,
    *,
    grid: str | None,
    community: str | None,
    created_at: datetime,
    category: str = "property",
    intent: str = "complaint",
    urgency: str = "normal",
    polarity: str = "neutral",
    intensity: float = 0.0,
    assignee: str | None = None,
    household: tuple[str, str, str] | None = None,
    keywords: str = "",
    address: str = "",
    status: str = "assigned",
    first_reply_due: datetime | None = None,
    resolution_due: datetime | None = None,
    first_replied_at: datetime | None = None,
    resolved_at: datetime | None = None,
    closed_at: datetime | None = None,
    rating: str | None = None,
    emotions: str = "",
    unconfirmed: bool = False,
) -> int:
    """A case with exactly the timestamps a digest or overdue test needs (bypasses intake)."""
    from datetime import timedelta

    from sqlmodel import select

    from storage.models import Case, ChatIdentity, Community, Grid, Household, Officer, Post

    if status == "closed" and closed_at is None:
        closed_at = resolved_at  # a closed case has its closing time (a satisfied rating sets it)
    with db.transaction() as session:
        grid_row = session.exec(select(Grid).where(Grid.code == grid)).one() if grid else None
        community_row = session.exec(select(Community).where(Community.code == community)).one() if community else None
        officer_id = None
        if assignee is not None:
            identity = session.exec(select(ChatIdentity).where(ChatIdentity.user_id == assignee)).one()
            officer_id = session.get(Officer, identity.officer_id).id  # type: ignore[union-attr]
        household_id = None
        if household is not None:
            building, unit, room = household
            household_id = (
                session.exec(
                    select(Household).where(
                        Household.community_id == community_row.id,  # type: ignore[union-attr]
                        Household.building == building,
                        Household.unit == unit,
                        Household.room == room,
                    )
                )
                .one()
                .id
            )
        number = next(_ids)
        post = Post(
            platform=PLATFORM,
            chat_id="c",
            message_id=f"m{number}",
            user_id="u",
            text=f"诉求{number}",
            posted_at=created_at,
        )
        session.add(post)
        session.flush()
        case = Case(
            code=f"MQ-{created_at.year}-{number:06d}",
            post_id=post.id or 0,
            household_id=household_id,
            community_id=community_row.id if community_row else None,
            grid_id=grid_row.id if grid_row else None,
            assignee_id=officer_id,
            category=category,
            intent=intent,
            urgency=urgency,
            polarity=polarity,
            intensity=intensity,
            keywords=keywords,
            address=address,
            status=status,
            first_reply_due=first_reply_due or created_at + timedelta(days=1),
            resolution_due=resolution_due or created_at + timedelta(days=7),
            first_replied_at=first_replied_at,
            resolved_at=resolved_at,
            closed_at=closed_at,
            rating=rating,
            emotions=emotions,
            unconfirmed=unconfirmed,
            created_at=created_at,
            updated_at=created_at,
        )
        session.add(case)
        session.flush()
        return case.id or 0

"""What every part of the core is handed: settings, services, the acting person, one command call."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session

from analysis.analyzer import Analyzer
from analysis.taxonomy import Taxonomy
from handlers.clock import Clock
from handlers.messages import HandlerResult, IncomingMessage, OutgoingMessage
from handlers.unit_kinds import DEFAULT_UNIT_KINDS, UnitKind
from storage import repositories as repo
from storage.db import Database
from storage.models import ChatIdentity, Household, Officer, Role

RESIDENT_UNBOUND = "resident_unbound"
RESIDENT = "resident"
RESIDENTS = frozenset({RESIDENT_UNBOUND, RESIDENT})
#: Liaisons and heads of departments and outside units (吹哨报到, issue 15): staff, but not the community's.
UNIT_ROLES = frozenset({Role.UNIT_LIAISON.value, Role.UNIT_HEAD.value})
#: The community's own staff: grid officers, chiefs, leaders and the admin.
OFFICERS = frozenset(role.value for role in Role) - UNIT_ROLES
#: Everyone who works cases (internal notes are for them only).
STAFF = OFFICERS | UNIT_ROLES
EVERYONE = RESIDENTS | STAFF
LEADERS = frozenset({Role.COMMUNITY_LEADER.value, Role.STREET_LEADER.value, Role.ADMIN.value})


@dataclass(frozen=True, slots=True)
class CoreSettings:
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    bot_username: str = "minqing_bot"
    triggers: tuple[str, ...] = ("#诉求", "/report", "报事")
    #: Group messages without a mention or trigger are filed when triage is at least this sure.
    triage_threshold: float = 0.6
    max_post_chars: int = 20_000
    invite_ttl: timedelta = timedelta(days=7)
    code_prefix: str = "MQ"
    # --- issue 13: failed proofs (/bind digits or address, /join codes) per chat account and kind
    attempt_limit: int = 5
    attempt_window: timedelta = timedelta(minutes=30)
    #: Issue 13: how often households are visited, by tag (days; "*" = every household).
    visit_plans: str = "独居老人=14;*=91"
    #: 吹哨报到 (issue 15): sign-in and completion allowances per unit kind, and the grid officer's
    #: time to verify a unit's result on site (working time).
    unit_kinds: Mapping[str, UnitKind] = field(default_factory=lambda: dict(DEFAULT_UNIT_KINDS))
    verify_allowance: timedelta = timedelta(hours=24)
    #: A resolved case nobody rated closes as 未评价 after this long.
    unrated_close_after: timedelta = timedelta(days=7)
    #: How far back the new-case notice looks for likely duplicates.
    duplicate_window: timedelta = timedelta(days=14)


class LeaderDigests(Protocol):
    """The on-demand digest read a leader's ``/digest`` needs (the digest service provides it)."""

    def for_leader(
        self, session: Session, *, officer: Officer, kind: str, now: datetime
    ) -> list[tuple[str, str | None]]: ...


@dataclass(frozen=True, slots=True)
class Services:
    """The core's collaborators, wired once (``bot/wiring.py``) and shared by intake and commands."""

    db: Database
    analyzer: Analyzer
    taxonomy: Taxonomy
    clock: Clock
    settings: CoreSettings
    digests: LeaderDigests | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sent a message, with the role the command table checks."""

    identity: ChatIdentity
    role: str
    officer: Officer | None
    household: Household | None


@dataclass(frozen=True, slots=True)
class Call:
    """One command being carried out, inside the transaction of the message that asked for it."""

    session: Session
    services: Services
    actor: Actor
    msg: IncomingMessage
    args: str
    now: datetime

    @property
    def officer(self) -> Officer:
        """The calling officer (the command table lets only officers reach officer commands)."""
        if self.actor.officer is None:  # pragma: no cover - guarded by the command table's roles
            raise RuntimeError("officer command reached without an officer")
        return self.actor.officer

    def answer(self, text: str) -> OutgoingMessage:
        """A reply in the chat the command came from, quoting it."""
        return answer(self.msg, text)


def answer(msg: IncomingMessage, text: str) -> OutgoingMessage:
    return OutgoingMessage(msg.platform, msg.chat_id, text, kind="reply", reply_to_message_id=msg.message_id)


def claim(session: Session, msg: IncomingMessage, now: datetime) -> bool:
    """Record ``msg`` as handled in this transaction; False when it was already (a redelivery)."""
    return repo.claim_message(
        session=session, platform=msg.platform, chat_id=msg.chat_id, message_id=msg.message_id, at=now
    )


def queue(session: Session, messages: Sequence[OutgoingMessage], now: datetime) -> None:
    """Put messages in the outbox, in the caller's transaction (nothing is sent from the core)."""
    repo.queue_outgoing(session=session, rows=[m.outbox_row(now) for m in messages])


def reply_once(services: Services, msg: IncomingMessage, text: str) -> HandlerResult:
    """Answer bad input once (a redelivery is not answered again) and change nothing else."""
    reply = answer(msg, text)
    now = services.clock.now()
    with services.db.transaction() as session:
        if not claim(session, msg, now):
            return HandlerResult(duplicate=True)
        queue(session, [reply], now)
    return HandlerResult(messages=[reply], refused=True)

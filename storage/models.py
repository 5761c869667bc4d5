"""The domain model as SQLModel tables (one table per class, singular names).

All timestamps are stored as UTC and come back timezone-aware, on SQLite as well as PostgreSQL.
"""

from datetime import UTC, date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

#: Platform identifiers (chat, user, message ids) fit in this many characters; adapters refuse longer ones.
ID_LENGTH = 128


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ts(*, nullable: bool = False, index: bool = False) -> datetime:
    """A UTC timestamp column; required unless nullable."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)  # type: ignore[no-any-return]
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)  # type: ignore[no-any-return]


class Role(StrEnum):
    GRID_OFFICER = "grid_officer"
    GRID_CHIEF = "grid_chief"
    COMMUNITY_LEADER = "community_leader"
    STREET_LEADER = "street_leader"
    ADMIN = "admin"
    # 吹哨报到 (issue 15): people of a department or an outside unit, not of the community.
    UNIT_LIAISON = "unit_liaison"
    UNIT_HEAD = "unit_head"


class CaseStatus(StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    REPLIED = "replied"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    TRANSFERRED = "transferred"
    ESCALATED = "escalated"
    MERGED = "merged"
    REJECTED = "rejected"


#: Statuses in which a case still waits for the community to act.
OPEN_STATUSES: tuple[CaseStatus, ...] = (
    CaseStatus.RECEIVED,
    CaseStatus.ASSIGNED,
    CaseStatus.REPLIED,
    CaseStatus.REOPENED,
    CaseStatus.TRANSFERRED,
    CaseStatus.ESCALATED,
)


class Street(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=32)
    name: str = Field(max_length=64)


class Community(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=32)
    name: str = Field(max_length=64)
    street_id: int = Field(foreign_key="street.id", index=True)


class Grid(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=32)
    name: str = Field(max_length=64)
    community_id: int = Field(foreign_key="community.id", index=True)


class Household(SQLModel, table=True):
    """一户一档: one household's file; the address is unique within a community."""

    __table_args__ = (sa.UniqueConstraint("community_id", "building", "unit", "room"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    grid_id: int = Field(foreign_key="grid.id", index=True)
    building: str = Field(max_length=16)
    unit: str = Field(default="", max_length=16)
    room: str = Field(max_length=16)
    head_name: str = Field(default="", max_length=64)
    phone: str = Field(default="", max_length=32)
    tags: str = Field(default="", max_length=256)
    created_at: datetime = ts()


class Resident(SQLModel, table=True):
    """A member of a household, as one chat account proved it (several may share a household)."""

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    display_name: str = Field(default="", max_length=128)
    created_at: datetime = ts()
    # --- issue 13: verified binding
    #: How the membership was proved: "phone" (last four digits on the record) or "officer"
    #: (approved by a grid officer). "" marks a binding made before verification existed; it grants
    #: nothing until the resident binds again.
    verified_via: str = Field(default="", max_length=16)
    verified_at: datetime | None = ts(nullable=True)


class Officer(SQLModel, table=True):
    """A grid officer, chief, leader or admin; scope is a grid, community or street code."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    role: str = Field(max_length=32)
    scope_code: str = Field(max_length=32)
    grid_id: int | None = Field(default=None, foreign_key="grid.id", index=True)
    community_id: int | None = Field(default=None, foreign_key="community.id", index=True)
    street_id: int | None = Field(default=None, foreign_key="street.id")
    #: The unit a liaison or unit head belongs to (issue 15); None for the community's own staff.
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    active: bool = True
    created_at: datetime = ts()


class InviteCode(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=32)
    officer_id: int = Field(foreign_key="officer.id")
    expires_at: datetime = ts()
    used_at: datetime | None = ts(nullable=True)


class ChatIdentity(SQLModel, table=True):
    """A platform account (Telegram user id, WeChat OpenID) and who it is in our model."""

    __table_args__ = (sa.UniqueConstraint("platform", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    user_id: str = Field(max_length=ID_LENGTH)
    display_name: str = Field(default="", max_length=128)
    resident_id: int | None = Field(default=None, foreign_key="resident.id")
    officer_id: int | None = Field(default=None, foreign_key="officer.id", index=True)
    created_at: datetime = ts()


class ChatGroup(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("platform", "chat_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=ID_LENGTH)
    community_id: int = Field(foreign_key="community.id")
    title: str = Field(default="", max_length=128)


class InboundMessage(SQLModel, table=True):
    """Every incoming message that changed something, so a redelivered update changes nothing twice."""

    __table_args__ = (sa.UniqueConstraint("platform", "chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=ID_LENGTH)
    message_id: str = Field(max_length=ID_LENGTH)
    received_at: datetime = ts()


class Post(SQLModel, table=True):
    """Every message the bot decided to file, raw text kept; unique per platform message."""

    __table_args__ = (sa.UniqueConstraint("platform", "chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=ID_LENGTH)
    message_id: str = Field(max_length=ID_LENGTH)
    user_id: str = Field(max_length=ID_LENGTH)
    is_group: bool = False
    text: str
    attachments: str = Field(default="", description="JSON list of file references")
    posted_at: datetime = ts()
    created_at: datetime = ts()


class Case(SQLModel, table=True):
    """诉求: one filed matter, its routing, deadlines and outcome."""

    __table_args__ = (
        # The overdue checks scan open cases by deadline; keep that index-driven.
        # closed_at is in the predicates so rejected cases (closed, never replied) leave the index
        # and the overdue check's cost follows the number of overdue cases only.
        sa.Index(
            "ix_case_open_first_reply",
            "first_reply_due",
            sqlite_where=sa.text("first_replied_at IS NULL AND closed_at IS NULL"),
            postgresql_where=sa.text("first_replied_at IS NULL AND closed_at IS NULL"),
        ),
        sa.Index(
            "ix_case_open_resolution",
            "resolution_due",
            sqlite_where=sa.text("resolved_at IS NULL AND closed_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL AND closed_at IS NULL"),
        ),
        # updated_at rides along so a digest can tell, from the index alone, which days changed
        # since it last read them (count and latest change per day) and which of their cases did;
        # intake writes one entry either way. PostgreSQL carries it (and the id, which SQLite's
        # index holds anyway) as INCLUDE columns: as a second key column, updated_at made the
        # planner give up this index for plain created_at range scans.
        sa.Index("ix_case_created", "created_at", "updated_at").ddl_if(dialect="sqlite"),
        sa.Index("ix_case_created_at", "created_at", postgresql_include=["updated_at", "id"]).ddl_if(
            dialect="postgresql"
        ),
        # Digests list a period's critical cases without scanning the whole period.
        sa.Index("ix_case_urgency_created", "urgency", "created_at"),
        # The new-case notice looks for likely duplicates: recent cases of a community and category.
        sa.Index("ix_case_community_category_created", "community_id", "category", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str | None = Field(default=None, unique=True, max_length=32)
    post_id: int = Field(foreign_key="post.id", unique=True)
    reporter_identity_id: int | None = Field(default=None, foreign_key="chatidentity.id", index=True)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    community_id: int | None = Field(default=None, foreign_key="community.id", index=True)
    grid_id: int | None = Field(default=None, foreign_key="grid.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="officer.id", index=True)
    category: str = Field(max_length=32)
    intent: str = Field(max_length=32)
    urgency: str = Field(max_length=16)
    polarity: str = Field(max_length=16)
    intensity: float = 0.0
    confidence: float = 0.0
    # Issue 12: the emotions the lexicon found (comma-separated, strongest first); the model's own
    # category and its top three as "code:p,code:p,code:p"; whether an officer has yet to confirm it.
    emotions: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    model_category: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    alternatives: str = Field(default="", max_length=128, sa_column_kwargs={"server_default": ""})
    unconfirmed: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    keywords: str = Field(default="", max_length=512)
    address: str = Field(default="", max_length=128)
    status: str = Field(default=CaseStatus.RECEIVED, max_length=16, index=True)
    first_reply_due: datetime = ts()
    resolution_due: datetime = ts()
    first_replied_at: datetime | None = ts(nullable=True)
    resolved_at: datetime | None = ts(nullable=True)
    closed_at: datetime | None = ts(nullable=True)
    rating: str | None = Field(default=None, max_length=16)
    created_at: datetime = ts()
    updated_at: datetime = ts()
    # 吹哨报到 (issue 15): the unit holding the case now, and the case a duplicate was merged into.
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    merged_into_id: int | None = Field(default=None, foreign_key="case.id", index=True)


class CaseEvent(SQLModel, table=True):
    """Append-only history of every change to a case; also the audit log."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    kind: str = Field(max_length=32)
    actor_identity_id: int | None = Field(default=None, foreign_key="chatidentity.id")
    actor_officer_id: int | None = Field(default=None, foreign_key="officer.id")
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    detail: str = ""
    at: datetime = ts()


class Visit(SQLModel, table=True):
    """走访: an officer's visit to a household."""

    id: int | None = Field(default=None, primary_key=True)
    officer_id: int = Field(foreign_key="officer.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    note: str = ""
    at: datetime = ts()


class Rating(SQLModel, table=True):
    """A resident's satisfaction rating of a resolved case (one per case and identity)."""

    __table_args__ = (sa.UniqueConstraint("case_id", "identity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    identity_id: int = Field(foreign_key="chatidentity.id")
    score: str = Field(max_length=16)
    at: datetime = ts()


class Digest(SQLModel, table=True):
    """A 民情分析 digest; unique per (kind, period, scope) so it is produced once."""

    __table_args__ = (sa.UniqueConstraint("kind", "period_start", "scope_code"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    period_start: datetime = ts()
    period_end: datetime = ts()
    scope_code: str = Field(max_length=32)
    text: str = ""
    figures: str = Field(default="", description="JSON of the computed figures")
    chart_png: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    created_at: datetime = ts()


class AlertSent(SQLModel, table=True):
    """An overdue alert; unique per (case, kind, level) so it is sent once."""

    __table_args__ = (sa.UniqueConstraint("case_id", "kind", "level"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    kind: str = Field(max_length=16)
    level: int
    sent_at: datetime = ts()


class Outbox(SQLModel, table=True):
    """Every message to a user, written in the transaction that caused it and delivered afterwards.

    This is the one outgoing path: a crash after commit never loses a message, and a message is
    written exactly once because it shares the transaction of the change it reports.
    """

    __table_args__ = (
        sa.Index(
            "ix_outbox_pending",
            "id",
            sqlite_where=sa.text("sent_at IS NULL"),
            postgresql_where=sa.text("sent_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=ID_LENGTH)
    kind: str = Field(max_length=16)
    payload: str = Field(description="JSON of the OutgoingMessage")
    created_at: datetime = ts()
    not_before: datetime | None = ts(nullable=True)
    attempts: int = 0
    sent_at: datetime | None = ts(nullable=True)
    error: str = ""
    #: A sender's lease on this row (issue 16): another process takes it over once it expires.
    claimed_until: datetime | None = ts(nullable=True)
    claimed_by: str = Field(default="", max_length=64)


class DigestDay(SQLModel, table=True):
    """The cases received on one local day, packed as the digests read them (a rebuildable cache).

    Written only by the digest job, never by intake. Valid while the day's case count and latest
    ``updated_at`` still match ``cases`` / ``last_change``; a day is stored only once its cases
    have been quiet for a few minutes, so any later change moves ``last_change`` forward.
    """

    __table_args__ = (sa.UniqueConstraint("zone", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    zone: str = Field(max_length=64)
    day: date
    cases: int
    last_change: int | None = Field(default=None, sa_type=sa.BigInteger, description="µs since the epoch")
    facts: bytes = Field(sa_type=sa.LargeBinary)
    built_at: datetime = ts()


# --- issue 13: verified binding (approval requests, failed-attempt throttle)


class BindRequest(SQLModel, table=True):
    """A resident asking the grid officer to confirm them as a member of a household."""

    id: int | None = Field(default=None, primary_key=True)
    identity_id: int = Field(foreign_key="chatidentity.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    #: pending, approved, declined or withdrawn (the resident asked again, or bound by phone)
    status: str = Field(default="pending", max_length=16)
    created_at: datetime = ts()
    decided_at: datetime | None = ts(nullable=True)
    decided_by: int | None = Field(default=None, foreign_key="officer.id")


class FailedAttempt(SQLModel, table=True):
    """A failed proof (wrong phone digits, unknown address, bad invite code), counted per chat account."""

    __table_args__ = (sa.Index("ix_failedattempt_who", "platform", "user_id", "kind", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    user_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    at: datetime = ts()


class VisitListSent(SQLModel, table=True):
    """An officer's weekly list of households due a visit; unique per (officer, week) so it is sent once."""

    __table_args__ = (sa.UniqueConstraint("officer_id", "week_start"),)

    id: int | None = Field(default=None, primary_key=True)
    officer_id: int = Field(foreign_key="officer.id")
    week_start: datetime = ts()
    sent_at: datetime = ts()


# --- issue 13: 回访 and 知晓率 by random sample (逆向考核)


class SurveyRound(SQLModel, table=True):
    """One month's sample of one grid for one survey kind; unique so a month is sampled once.

    ``seed`` and the sizes are kept so anyone can redraw the same sample from the same population.
    """

    __table_args__ = (sa.UniqueConstraint("kind", "period_start", "grid_id"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "followup" (回访 of closed cases) or "awareness" (知晓率)
    period_start: datetime = ts()
    grid_id: int = Field(foreign_key="grid.id")
    seed: int = Field(sa_type=sa.BigInteger)
    share: float
    eligible: int
    sampled: int
    created_at: datetime = ts()


class Survey(SQLModel, table=True):
    """Two questions asked of one sampled person (about one case, for 回访); answers by buttons."""

    __table_args__ = (sa.UniqueConstraint("round_id", "identity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="surveyround.id", index=True)
    identity_id: int = Field(foreign_key="chatidentity.id")
    case_id: int | None = Field(default=None, foreign_key="case.id")
    asked_at: datetime = ts()
    reminded_at: datetime | None = ts(nullable=True)
    answered_at: datetime | None = ts(nullable=True)
    answer1: str = Field(default="", max_length=16)
    answer2: str = Field(default="", max_length=16)


# ---------------------------------------------------------------------------------------------------
# 吹哨报到 (issue 15): units, their dispatches (吹哨单) and leaders' 督办单


class UnitState(StrEnum):
    """Where a dispatch stands in the unit's own loop."""

    WHISTLED = "whistled"  # 已吹哨, waiting for the unit to sign in (报到)
    ACCEPTED = "accepted"  # 已报到, the unit is working on it
    RETURNED = "returned"  # 已退单, back with the grid officer
    DONE = "done"  # 已办结 by the unit, waiting for the grid officer to verify on site
    VERIFIED = "verified"  # 已核实结项


class Unit(SQLModel, table=True):
    """A department of the street or an outside unit (物业, 城管, 派出所 …); scope: community or street code."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=32)
    name: str = Field(unique=True, max_length=64)
    kind: str = Field(max_length=32)
    scope_code: str = Field(max_length=32)
    community_id: int | None = Field(default=None, foreign_key="community.id", index=True)
    street_id: int | None = Field(default=None, foreign_key="street.id", index=True)
    active: bool = True
    created_at: datetime = ts()


class Dispatch(SQLModel, table=True):
    """吹哨单: one whistle of a case to a unit, and how the unit answered it, with each step's deadline."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    state: str = Field(default=UnitState.WHISTLED, max_length=16, index=True)
    reason: str = ""
    whistled_by: int | None = Field(default=None, foreign_key="officer.id")
    whistled_at: datetime = ts()
    accept_due: datetime = ts()
    accepted_at: datetime | None = ts(nullable=True)
    done_due: datetime | None = ts(nullable=True)
    done_at: datetime | None = ts(nullable=True)
    verify_due: datetime | None = ts(nullable=True)
    finished_at: datetime | None = ts(nullable=True)
    #: Extensions: days asked for and not yet approved (0: none pending), and how many were granted.
    extension_asked: int = 0
    extension_reason: str = ""
    extensions: int = 0
    #: Times the grid officer sent the result back (the done step's alerts start again each time).
    sent_back: int = 0


class Supervision(SQLModel, table=True):
    """督办单: a leader's instruction to a case's assignee, with its own deadline; never shown to residents."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    leader_id: int = Field(foreign_key="officer.id")
    text: str
    due: datetime = ts(index=True)
    created_at: datetime = ts()


# ---- Operations (issue 16): dead letters, posts held for unlinked groups, job runs, send marks ----------


class DeadLetter(SQLModel, table=True):
    """An incoming message the core failed on, kept with the error and retried with back-off."""

    __table_args__ = (sa.Index("ix_deadletter_due", "resolved_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=ID_LENGTH)
    message_id: str = Field(max_length=ID_LENGTH)
    payload: str = Field(description="JSON of the IncomingMessage")
    error: str = ""
    attempts: int = 0
    next_attempt_at: datetime | None = ts(nullable=True)
    created_at: datetime = ts()
    resolved_at: datetime | None = ts(nullable=True)


class HeldPost(SQLModel, table=True):
    """A post in a group not yet linked to a community: kept, and filed once the group is linked."""

    __table_args__ = (sa.UniqueConstraint("platform", "chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=ID_LENGTH)
    message_id: str = Field(max_length=ID_LENGTH)
    payload: str = Field(description="JSON of the IncomingMessage")
    held_at: datetime = ts()
    filed_at: datetime | None = ts(nullable=True)


class JobRun(SQLModel, table=True):
    """A job's run for one period (a day, say); unique so several processes run it once."""

    __table_args__ = (sa.UniqueConstraint("job", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=32)
    period: str = Field(max_length=32)
    at: datetime = ts()


class SendMark(SQLModel, table=True):
    """One send counted against a rate window, when no Redis shares the windows between processes."""

    __table_args__ = (sa.Index("ix_sendmark_key_at", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=160)
    at: datetime = ts()

"""The framework-free core: an incoming message in, queued outgoing messages and state changes out.

Every change a message causes, and every message it causes us to send, commits in one
transaction together with a record of the incoming message itself. So a redelivered update is
recognised and changes nothing twice, and a crash after commit loses no reply (the outbox is
delivered by ``Delivery``).
"""

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from analysis.address import extract_address
from analysis.analyzer import Analysis, Analyzer, clean_text, strip_controls
from analysis.taxonomy import Category, Taxonomy
from handlers import catalogue as t
from handlers import jurisdiction
from handlers.clock import Clock
from handlers.deadlines import deadlines
from handlers.digests import KINDS as DIGEST_KINDS
from handlers.digests import digest_for_leader
from handlers.errors import BadInput, NotFound, PermissionDenied, UserFacingError
from handlers.messages import (
    Attachment,
    Button,
    CallbackQuery,
    HandlerResult,
    IncomingMessage,
    OutgoingMessage,
    QuotedMessage,
)
from handlers.privacy import redact_for_group
from storage import repositories as repo
from storage.db import Database
from storage.models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    ChatIdentity,
    Community,
    Grid,
    Household,
    InviteCode,
    Officer,
    Post,
    Rating,
    Resident,
    Role,
    Visit,
)

RESIDENT_UNBOUND = "resident_unbound"
RESIDENT = "resident"
RESIDENTS = frozenset({RESIDENT_UNBOUND, RESIDENT})
OFFICERS = frozenset(role.value for role in Role)
EVERYONE = RESIDENTS | OFFICERS
LEADERS = frozenset({Role.COMMUNITY_LEADER.value, Role.STREET_LEADER.value, Role.ADMIN.value})
FINAL_STATUSES = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.REJECTED, CaseStatus.MERGED})
RATINGS = {"满意": "satisfied", "基本满意": "basically", "不满意": "unsatisfied"}

_CASE_CODE = re.compile(r"^[A-Z]{2,4}-\d{4}-\d{6,}$")
_COMMAND = re.compile(r"^/([A-Za-z_]{1,32})(?:@(\w+))?(?:\s+(.*))?$", re.DOTALL)
_HAS_WORDS = re.compile(r"[\w\u4e00-\u9fff]")


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


@dataclass(frozen=True, slots=True)
class Actor:
    identity: ChatIdentity
    role: str
    officer: Officer | None
    household: Household | None


@dataclass(frozen=True, slots=True)
class _Command:
    run: Callable[["Minqing", Session, Actor, IncomingMessage, str], list[OutgoingMessage]]
    roles: frozenset[str]
    where: str  # "any", "private" or "group"


class Minqing:
    """The service layer the adapters and the demo call."""

    def __init__(self, *, db: Database, analyzer: Analyzer, clock: Clock, settings: CoreSettings | None = None) -> None:
        self.db = db
        self.analyzer = analyzer
        self.taxonomy: Taxonomy = analyzer.taxonomy
        self.clock = clock
        self.settings = settings or CoreSettings()

    # ------------------------------------------------------------------ entry points

    def handle(self, msg: IncomingMessage) -> HandlerResult:
        """Handle one incoming message exactly once."""
        # Officers' and residents' words are passed on as written (full-width punctuation included).
        text = strip_controls(msg.text)
        parsed = _COMMAND.match(text) if text.startswith("/") else None
        if parsed and not self._is_trigger(text):
            name, addressee, args = parsed.group(1).lower(), parsed.group(2), (parsed.group(3) or "").strip()
            if addressee and addressee.lower() != self.settings.bot_username.lower():
                return HandlerResult()  # a command for another bot in the same group
            return self._handle_command(msg, name, args)
        if text.startswith("/") and not self._is_trigger(text):
            return self._reply_once(msg, t.UNKNOWN_COMMAND)
        return self._handle_post(msg, text)

    def handle_callback(self, query: CallbackQuery) -> HandlerResult:
        """Handle an inline-button press (satisfaction rating); pressing twice changes nothing."""
        parts = query.data.split(":")
        if len(parts) != 3 or parts[0] != "rate" or parts[2] not in t.RATING_NAMES:
            return HandlerResult(toast=t.UNKNOWN_COMMAND)
        _, code, score = parts
        now = self.clock.now()
        with self.db.transaction() as session:
            try:
                with session.begin_nested():
                    identity = repo.get_or_create_identity(
                        session=session, platform=query.platform, user_id=query.user_id, display_name="", at=now
                    )
                    messages = self._rate(session, identity, code, score)
            except UserFacingError as error:
                return HandlerResult(toast=error.message, refused=True)
            self._queue(session, messages)
        return HandlerResult(messages=messages, case_codes=[code], toast=t.RATED.format(rating=t.RATING_NAMES[score]))

    # ------------------------------------------------------------------ posts

    def _is_trigger(self, text: str) -> bool:
        return any(text.startswith(trigger) for trigger in self.settings.triggers)

    def _strip_addressing(self, text: str) -> str:
        for trigger in self.settings.triggers:
            if text.startswith(trigger):
                text = text[len(trigger) :]
                break
        return text.replace(f"@{self.settings.bot_username}", " ").strip(" :：,，")

    def _handle_post(self, msg: IncomingMessage, text: str) -> HandlerResult:
        body = self._strip_addressing(text)
        if not body:
            body = clean_text(" ".join(a.caption for a in msg.attachments if a.caption))
        explicit = (not msg.is_group) or msg.mentions_bot or self._is_trigger(text)
        if not body:
            if not explicit:
                return HandlerResult()
            return self._reply_once(msg, t.PHOTO_NEEDS_TEXT if msg.attachments else t.EMPTY_POST)
        if len(body) > self.settings.max_post_chars:
            return (
                self._reply_once(msg, t.TOO_LONG.format(limit=self.settings.max_post_chars))
                if explicit
                else HandlerResult()
            )
        if not _HAS_WORDS.search(body):
            return self._reply_once(msg, t.NO_WORDS) if explicit else HandlerResult()
        analysis = self.analyzer.analyze(body)
        if not explicit and analysis.matter_confidence < self.settings.triage_threshold:
            return HandlerResult()  # group chatter: not ours to file
        now = self.clock.now()
        with self.db.transaction() as session:
            if not self._claim(session, msg, now):
                return HandlerResult(duplicate=True)
            identity = repo.get_or_create_identity(
                session=session, platform=msg.platform, user_id=msg.user_id, display_name=msg.user_name, at=now
            )
            case, messages = self._file(
                session,
                platform=msg.platform,
                chat_id=msg.chat_id,
                message_id=msg.message_id,
                is_group=msg.is_group,
                text=msg.text if len(body) == len(text) else body,
                sent_at=msg.sent_at,
                attachments=msg.attachments,
                reporter=identity,
                analysis=analysis,
                now=now,
            )
            self._queue(session, messages)
        return HandlerResult(messages=messages, case_codes=[case.code])

    def _file(
        self,
        session: Session,
        *,
        platform: str,
        chat_id: str,
        message_id: str,
        is_group: bool,
        text: str,
        sent_at: datetime,
        attachments: tuple[Attachment, ...],
        reporter: ChatIdentity,
        analysis: Analysis,
        now: datetime,
    ) -> tuple[repo.FiledCase, list[OutgoingMessage]]:
        """Persist post + case + event and return the acknowledgement and notifications."""
        group = repo.group_for_chat(session=session, platform=platform, chat_id=chat_id) if is_group else None
        household = self._household_of(session, reporter, analysis, group.community_id if group else None)
        community_id = household.community_id if household else (group.community_id if group else None)
        grid_id = household.grid_id if household else None
        if grid_id is None and community_id is not None and analysis.address is not None:
            grid_id = repo.grid_of_building(
                session=session, community_id=community_id, building=analysis.address.building
            )
        assignee = jurisdiction.pick_assignee(session, grid_id=grid_id, community_id=community_id)
        first_due, resolution_due = deadlines(
            self.taxonomy,
            category=analysis.category,
            urgency=analysis.urgency,
            received_at=now,
            zone=self.settings.zone,
        )
        # Core inserts, not ORM objects: intake is the hot path and the unit of work adds nothing here.
        filed = repo.insert_case(
            session=session,
            post={
                "platform": platform,
                "chat_id": chat_id,
                "message_id": message_id,
                "user_id": reporter.user_id,
                "is_group": is_group,
                "text": text,
                "attachments": json.dumps([_attachment_dict(a) for a in attachments], ensure_ascii=False)
                if attachments
                else "",
                "posted_at": sent_at,
                "created_at": now,
            },
            case={
                "reporter_identity_id": reporter.id,
                "household_id": household.id if household else None,
                "community_id": community_id,
                "grid_id": grid_id,
                "assignee_id": assignee.id if assignee else None,
                "category": analysis.category,
                "intent": analysis.intent,
                "urgency": analysis.urgency,
                "polarity": analysis.polarity,
                "intensity": analysis.intensity,
                "confidence": analysis.confidence,
                "keywords": ",".join(analysis.keywords)[:512],
                "address": analysis.address.label() if analysis.address else "",
                "status": CaseStatus.ASSIGNED if assignee else CaseStatus.RECEIVED,
                "first_reply_due": first_due,
                "resolution_due": resolution_due,
                "rating": None,
                "created_at": now,
                "updated_at": now,
            },
            # Codes come from the row id: unique without a counter row to fight over, gaps are harmless.
            code_for=lambda case_id: (
                f"{self.settings.code_prefix}-{now.astimezone(self.settings.zone).year}-{case_id:06d}"
            ),
            event={
                "kind": "filed",
                "at": now,
                "actor_identity_id": reporter.id,
                "detail": f"assignee={assignee.id if assignee else ''}",
            },
        )

        category = self.taxonomy.category(analysis.category)
        urgency = self.taxonomy.urgency(analysis.urgency)
        critical = self.taxonomy.urgency_rank[analysis.urgency] == 0
        promise = t.duration(timedelta(minutes=urgency.first_reply_minutes), working=urgency.working_time)
        ack = (t.ack if household else t.ack_unbound)(filed.code, category.name, promise, critical=critical)
        messages = [OutgoingMessage(platform, chat_id, ack, kind="ack", reply_to_message_id=message_id)]
        recipients: list[Officer] = [assignee] if assignee else []
        if critical and grid_id is not None:
            recipients += [c for c in jurisdiction.critical_copies(session, grid_id=grid_id) if c not in recipients]
        notice = t.notify_new_case(
            code=filed.code,
            category_name=category.name,
            urgency=analysis.urgency,
            household=self._household_label(session, household, analysis),
            text=text[:500],
            due=t.local_time(first_due, self.settings.zone),
            critical=critical,
        )
        for officer in recipients:
            messages += self._to_officer(session, officer, notice, kind="notify")
        return filed, messages

    def _household_of(
        self, session: Session, reporter: ChatIdentity, analysis: Analysis, community_id: int | None
    ) -> Household | None:
        if reporter.resident_id is not None:
            resident = session.get(Resident, reporter.resident_id)
            if resident is not None:
                return session.get(Household, resident.household_id)
        address = analysis.address
        if address is None or not address.is_complete:
            return None
        matches = repo.find_households(
            session=session,
            building=address.building,
            unit=address.unit,
            room=address.room,
            community_ids=[community_id] if community_id is not None else None,
        )
        return matches[0] if len(matches) == 1 else None

    def _household_label(self, session: Session, household: Household | None, analysis: Analysis) -> str:
        if household is None:
            where = f"（文中地址：{analysis.address.label()}）" if analysis.address else ""
            return f"未绑定住户{where}"
        community = session.get(Community, household.community_id)
        unit = f"{household.unit}单元" if household.unit else ""
        name = f"（{household.head_name}）" if household.head_name else ""
        return f"{community.name if community else ''}{household.building}幢{unit}{household.room}{name}"

    # ------------------------------------------------------------------ commands

    def _handle_command(self, msg: IncomingMessage, name: str, args: str) -> HandlerResult:
        spec = COMMANDS.get(name)
        if spec is None:
            return self._reply_once(msg, t.UNKNOWN_COMMAND)
        now = self.clock.now()
        with self.db.transaction() as session:
            if not self._claim(session, msg, now):
                return HandlerResult(duplicate=True)
            try:
                # A savepoint: a refused or failed command leaves no trace but its reply (not even a
                # new chat identity).
                with session.begin_nested():
                    identity = repo.get_or_create_identity(
                        session=session, platform=msg.platform, user_id=msg.user_id, display_name=msg.user_name, at=now
                    )
                    actor = self._actor(session, identity)
                    if actor.role not in spec.roles:
                        raise PermissionDenied(t.NOT_ALLOWED.format(role=t.ROLE_NAMES[actor.role], command=f"/{name}"))
                    if spec.where == "private" and msg.is_group:
                        raise PermissionDenied(t.PRIVATE_ONLY.format(command=f"/{name}"))
                    if spec.where == "group" and not msg.is_group:
                        raise BadInput(t.GROUP_ONLY.format(command=f"/{name}"))
                    messages = spec.run(self, session, actor, msg, args)
            except UserFacingError as error:
                self._queue(session, [self._answer(msg, error.message)])
                return HandlerResult(messages=[self._answer(msg, error.message)], refused=True)
            self._queue(session, messages)
        return HandlerResult(messages=messages)

    def _actor(self, session: Session, identity: ChatIdentity) -> Actor:
        if identity.officer_id is not None:
            officer = session.get(Officer, identity.officer_id)
            if officer is not None and officer.active:
                return Actor(identity, officer.role, officer, None)
        if identity.resident_id is not None:
            resident = session.get(Resident, identity.resident_id)
            if resident is not None:
                return Actor(identity, RESIDENT, None, session.get(Household, resident.household_id))
        return Actor(identity, RESIDENT_UNBOUND, None, None)

    def _on_start(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        if actor.officer is not None:
            text = t.WELCOME_OFFICER.format(name=actor.officer.name, role=t.ROLE_NAMES[actor.role])
        else:
            text = t.WELCOME_RESIDENT
        return [self._answer(msg, text)]

    def _on_help(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        if actor.officer is None:
            return [self._answer(msg, t.HELP["resident"])]
        return [self._answer(msg, t.HELP["officer"])]

    def _on_bind(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        if not args:
            raise BadInput(t.USAGE["bind"])
        community_ids: list[int] | None = None
        for known in repo.communities(session=session):
            if known.name in args or known.code in args:
                community_ids = [known.id or 0]
                args = args.replace(known.name, " ").replace(known.code, " ")
        address = extract_address(args)
        if address is None or not address.is_complete:
            raise BadInput(t.ADDRESS_UNREADABLE)
        matches = repo.find_households(
            session=session,
            building=address.building,
            unit=address.unit,
            room=address.room,
            community_ids=community_ids,
        )
        if not matches:
            raise NotFound(t.ADDRESS_UNKNOWN.format(address=address.label()))
        if len(matches) > 1:
            raise BadInput(t.ADDRESS_AMBIGUOUS.format(address=address.label()))
        household = matches[0]
        if actor.identity.resident_id is not None:
            resident = session.get(Resident, actor.identity.resident_id)
            if resident is not None:
                resident.household_id = household.id or 0
                session.add(resident)
        else:
            resident = Resident(
                household_id=household.id or 0, display_name=actor.identity.display_name, created_at=self.clock.now()
            )
            session.add(resident)
            session.flush()
            actor.identity.resident_id = resident.id
            session.add(actor.identity)
        community = session.get(Community, household.community_id)
        label = f"{household.building}幢{household.unit + '单元' if household.unit else ''}{household.room}"
        return [self._answer(msg, t.BOUND.format(address=label, community=community.name if community else ""))]

    def _on_join(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        code = args.strip().upper()
        if not code or " " in code:
            raise BadInput(t.USAGE["join"])
        invite = session.exec(select(InviteCode).where(InviteCode.code == code)).first()
        if invite is None or invite.used_at is not None:
            raise NotFound(t.INVITE_INVALID)
        now = self.clock.now()
        if invite.expires_at <= now:
            raise BadInput(t.INVITE_EXPIRED)
        officer = session.get(Officer, invite.officer_id)
        if officer is None or not officer.active:
            raise NotFound(t.INVITE_INVALID)
        invite.used_at = now
        actor.identity.officer_id = officer.id
        session.add(invite)
        session.add(actor.identity)
        return [
            self._answer(
                msg, t.JOINED.format(name=officer.name, role=t.ROLE_NAMES[officer.role], scope=officer.scope_code)
            )
        ]

    def _on_my(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        condition = col(Case.reporter_identity_id) == actor.identity.id
        if actor.household is not None:
            condition = condition | (col(Case.household_id) == actor.household.id)
        cases = session.exec(select(Case).where(condition).order_by(col(Case.id).desc()).limit(10)).all()
        if not cases:
            return [self._answer(msg, t.NO_CASES_RESIDENT)]
        return [self._answer(msg, "\n".join(self._case_line(session, c) for c in cases))]

    def _on_cases(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        assert actor.officer is not None
        query = select(Case).where(col(Case.status).in_(OPEN_STATUSES))
        scope = jurisdiction.case_scope(actor.officer)
        if scope is not None:
            query = query.where(scope)
        cases = session.exec(query.order_by(col(Case.first_reply_due)).limit(20)).all()
        if not cases:
            return [self._answer(msg, t.NO_CASES_OFFICER)]
        return [self._answer(msg, "\n".join(self._case_line(session, c) for c in cases))]

    def _on_case(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        code = args.split(maxsplit=1)[0] if args else ""
        if not code:
            raise BadInput(t.USAGE["case"])
        case = self._visible_case(session, actor, code)
        post = repo.post_of(session=session, case=case)
        history = [
            f"{t.local_time(e.at, self.settings.zone)} "
            + (t.EVENT_NAMES.get(e.kind) or t.STATUS_NAMES.get(e.to_status or "", e.kind))
            + (f"：{e.detail}" if e.detail and not e.detail.startswith("assignee=") else "")
            for e in repo.events_of(session=session, case_id=case.id or 0)
        ]
        text = t.case_detail(
            code=case.code or "",
            status=case.status,
            category_name=self.taxonomy.category(case.category).name,
            urgency=case.urgency,
            created=t.local_time(case.created_at, self.settings.zone),
            text=post.text[:1000],
            history=history,
        )
        return [self._answer(msg, text)]

    def _on_reply(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        code, text = _two_args(args, t.USAGE["reply"])
        case = self._case_for_officer(session, actor, code, action="回复")
        now = self.clock.now()
        case.first_replied_at = case.first_replied_at or now
        self._move(session, case, CaseStatus.REPLIED, kind="replied", detail=text, now=now, officer=actor.officer)
        post = repo.post_of(session=session, case=case)
        return [
            self._to_poster(session, case, post, t.reply_to_resident(case.code or "", text)),
            self._answer(msg, t.REPLY_SENT.format(code=case.code)),
        ]

    def _on_resolve(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        code, text = _two_args(args, t.USAGE["resolve"])
        case = self._case_for_officer(session, actor, code, action="办结")
        now = self.clock.now()
        case.first_replied_at = case.first_replied_at or now
        case.resolved_at = now
        self._move(session, case, CaseStatus.RESOLVED, kind="resolved", detail=text, now=now, officer=actor.officer)
        post = repo.post_of(session=session, case=case)
        buttons = (tuple(Button(label, f"rate:{case.code}:{score}") for score, label in t.RATING_NAMES.items()),)
        return [
            self._to_poster(session, case, post, t.resolved_to_resident(case.code or "", text), buttons=buttons),
            self._answer(msg, t.RESOLVED_OK.format(code=case.code)),
        ]

    def _on_transfer(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        parts = args.split(maxsplit=2)
        if len(parts) < 3:
            raise BadInput(t.USAGE["transfer"])
        code, grid_code, reason = parts
        case = self._case_for_officer(session, actor, code, action="转办")
        grid = repo.grid_by_code(session=session, code=grid_code)
        if grid is None:
            raise NotFound(t.GRID_NOT_FOUND.format(grid=grid_code[:32]))
        if grid.id == case.grid_id:
            raise BadInput(t.SAME_GRID.format(code=case.code, grid=grid.code))
        old_grid = session.get(Grid, case.grid_id) if case.grid_id else None
        case.grid_id = grid.id
        case.community_id = grid.community_id
        assignee = jurisdiction.pick_assignee(session, grid_id=grid.id, community_id=grid.community_id)
        case.assignee_id = assignee.id if assignee else None
        detail = f"{old_grid.code if old_grid else '-'} → {grid.code}：{reason}"
        self._move(
            session,
            case,
            CaseStatus.TRANSFERRED,
            kind="transferred",
            detail=detail,
            now=self.clock.now(),
            officer=actor.officer,
        )
        messages = [self._answer(msg, t.TRANSFERRED_OK.format(code=case.code, grid=grid.code))]
        if assignee is not None:
            notice = t.transferred_to_officer(case.code or "", old_grid.code if old_grid else "-", reason)
            messages += self._to_officer(session, assignee, notice, kind="notify")
        return messages

    def _on_category(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        """An officer corrects the category the model gave: kept in the case history, and the case's
        category from now on (digests count it there; `minqing cases export` hands it to retraining).
        Deadlines stay as they were set, so a correction never makes a case overdue after the fact."""
        code, wanted = _two_args(args, t.USAGE["category"])
        case = self._case_for_officer(session, actor, code, action="更正类别")
        category = self._category_named(wanted)
        old = self.taxonomy.category(case.category)
        if category.code == old.code:
            raise BadInput(t.SAME_CATEGORY.format(code=case.code, category=old.name))
        case.category = category.code
        # Same status: the change is recorded as an event of its own.
        self._move(
            session,
            case,
            CaseStatus(case.status),
            kind="recategorised",
            detail=f"{old.name} → {category.name}",
            now=self.clock.now(),
            officer=actor.officer,
        )
        return [self._answer(msg, t.RECATEGORISED_OK.format(code=case.code, old=old.name, new=category.name))]

    def _category_named(self, wanted: str) -> Category:
        """A taxonomy category by its code or its Chinese name."""
        key = unicodedata.normalize("NFKC", wanted).strip()
        for category in self.taxonomy.categories:
            if key in (category.code, category.name):
                return category
        choices = "、".join(category.name for category in self.taxonomy.categories)
        raise BadInput(t.CATEGORY_UNKNOWN.format(category=key[:20], choices=choices))

    def _on_reject(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        code, reason = _two_args(args, t.USAGE["reject"])
        case = self._case_for_officer(session, actor, code, action="处理")
        now = self.clock.now()
        case.closed_at = now
        self._move(session, case, CaseStatus.REJECTED, kind="rejected", detail=reason, now=now, officer=actor.officer)
        post = repo.post_of(session=session, case=case)
        return [
            self._to_poster(session, case, post, t.rejected_to_resident(case.code or "", reason)),
            self._answer(msg, t.REJECTED_OK.format(code=case.code)),
        ]

    def _on_file(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        quoted: QuotedMessage | None = msg.reply_to
        if quoted is None:
            raise BadInput(t.USAGE["file"])
        assert actor.officer is not None
        group = repo.group_for_chat(session=session, platform=msg.platform, chat_id=msg.chat_id)
        if group is not None and not jurisdiction.covers_community(session, actor.officer, group.community_id):
            raise PermissionDenied(t.NOT_IN_GROUP_SCOPE)
        body = clean_text(quoted.text or " ".join(a.caption for a in quoted.attachments))
        if not body or not _HAS_WORDS.search(body):
            raise BadInput(t.FILE_NEEDS_TEXT)
        existing = session.exec(
            select(Post).where(
                Post.platform == msg.platform, Post.chat_id == msg.chat_id, Post.message_id == quoted.message_id
            )
        ).first()
        if existing is not None:
            earlier = session.exec(select(Case).where(Case.post_id == existing.id)).one()
            return [self._answer(msg, t.ALREADY_FILED.format(code=earlier.code))]
        now = self.clock.now()
        reporter = repo.get_or_create_identity(
            session=session, platform=msg.platform, user_id=quoted.user_id, display_name=quoted.user_name, at=now
        )
        filed, messages = self._file(
            session,
            platform=msg.platform,
            chat_id=msg.chat_id,
            message_id=quoted.message_id,
            is_group=msg.is_group,
            text=quoted.text,
            sent_at=quoted.sent_at,
            attachments=quoted.attachments,
            reporter=reporter,
            analysis=self.analyzer.analyze(body),
            now=now,
        )
        filed_case = session.get(Case, filed.id)
        if filed_case is not None:
            repo.add_event(
                session=session, case=filed_case, kind="filed_by_officer", at=now, actor_officer_id=actor.officer.id
            )
        return messages

    def _on_visit(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        """Log a household visit (走访) in the household's file."""
        assert actor.officer is not None
        address = extract_address(args)
        if address is None or not address.is_complete:
            raise BadInput(t.USAGE["visit"])
        note = args[args.find(address.room) + len(address.room) :].strip(" 室号房,，:：")
        if not note:
            raise BadInput(t.USAGE["visit"])
        matches = [
            h
            for h in repo.find_households(
                session=session, building=address.building, unit=address.unit, room=address.room
            )
            if jurisdiction.covers_grid(session, actor.officer, h.grid_id)
        ]
        if len(matches) != 1:
            raise NotFound(t.VISIT_HOUSEHOLD_UNKNOWN.format(address=address.label()))
        session.add(
            Visit(officer_id=actor.officer.id or 0, household_id=matches[0].id or 0, note=note, at=self.clock.now())
        )
        return [self._answer(msg, t.VISIT_LOGGED.format(address=address.label()))]

    def _on_rate(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        code, label = _two_args(args, t.USAGE["rate"])
        score = RATINGS.get(label.strip())
        if score is None:
            raise BadInput(t.RATING_UNKNOWN)
        messages = self._rate(session, actor.identity, code, score)
        return [self._answer(msg, t.RATED.format(rating=label.strip())), *messages]

    def _rate(self, session: Session, identity: ChatIdentity, code: str, score: str) -> list[OutgoingMessage]:
        case = self._case(session, code)
        if case.reporter_identity_id != identity.id:
            raise PermissionDenied(t.NOT_REPORTER)
        if case.status != CaseStatus.RESOLVED:
            if session.exec(select(Rating).where(Rating.case_id == case.id, Rating.identity_id == identity.id)).first():
                raise BadInput(t.ALREADY_RATED.format(code=case.code))
            raise BadInput(t.NOT_RESOLVED_YET.format(code=case.code))
        now = self.clock.now()
        rating = {"case_id": case.id, "identity_id": identity.id, "score": score, "at": now}
        if not repo.insert_ignoring_conflict(session, sa.inspect(Rating).local_table, rating):
            raise BadInput(t.ALREADY_RATED.format(code=case.code))
        case.rating = score
        messages: list[OutgoingMessage] = []
        if score == "unsatisfied":
            status = CaseStatus.REOPENED
            case.resolved_at = None
            assignee = session.get(Officer, case.assignee_id) if case.assignee_id else None
            if assignee is not None:
                messages += self._to_officer(session, assignee, t.reopened_to_officer(case.code or ""), kind="notify")
            post = repo.post_of(session=session, case=case)
            messages.append(self._to_poster(session, case, post, t.RATED_REOPEN.format(code=case.code)))
        else:
            status = CaseStatus.CLOSED
            case.closed_at = now
        self._move(session, case, status, kind="rated", detail=t.RATING_NAMES[score], now=now, identity=identity)
        return messages

    def _on_digest(self, session: Session, actor: Actor, msg: IncomingMessage, args: str) -> list[OutgoingMessage]:
        """A leader's 民情分析 for the period just ended (``/digest week|month|quarter``)."""
        assert actor.officer is not None
        kind = (args.split() or ["week"])[0].lower()
        if kind not in DIGEST_KINDS:
            raise BadInput(t.DIGEST_USAGE)
        replies = digest_for_leader(
            session,
            taxonomy=self.taxonomy,
            zone=self.settings.zone,
            officer=actor.officer,
            kind=kind,
            now=self.clock.now(),
        )
        return [replace(self._answer(msg, text), photo_ref=photo) for text, photo in replies]

    # ------------------------------------------------------------------ helpers

    def _move(
        self,
        session: Session,
        case: Case,
        status: CaseStatus,
        *,
        kind: str,
        detail: str,
        now: datetime,
        officer: Officer | None = None,
        identity: ChatIdentity | None = None,
    ) -> None:
        """Change a case's status and record who did it in its history (updated_at feeds the digests)."""
        before = case.status
        case.status = status
        case.updated_at = now
        session.add(case)
        repo.add_event(
            session=session,
            case=case,
            kind=kind,
            at=now,
            detail=detail,
            from_status=before,
            actor_officer_id=officer.id if officer else None,
            actor_identity_id=identity.id if identity else None,
        )

    def _case(self, session: Session, code: str) -> Case:
        normalised = unicodedata.normalize("NFKC", code).strip().upper()
        if not _CASE_CODE.match(normalised):
            raise BadInput(t.BAD_CASE_CODE.format(code=code[:40]))
        case = repo.case_by_code(session=session, code=normalised)
        if case is None:
            raise NotFound(t.CASE_NOT_FOUND.format(code=normalised))
        return case

    def _visible_case(self, session: Session, actor: Actor, code: str) -> Case:
        case = self._case(session, code)
        if actor.officer is not None:
            if not jurisdiction.covers_case(session, actor.officer, case):
                raise PermissionDenied(t.CASE_NOT_IN_SCOPE.format(code=case.code))
            return case
        own = case.reporter_identity_id == actor.identity.id or (
            actor.household is not None and case.household_id == actor.household.id
        )
        if not own:
            # Same words as "not found": a resident must not learn which codes exist.
            raise NotFound(t.CASE_NOT_FOUND.format(code=case.code))
        return case

    def _case_for_officer(self, session: Session, actor: Actor, code: str, *, action: str) -> Case:
        case = self._visible_case(session, actor, code)
        if case.status in FINAL_STATUSES:
            raise BadInput(
                t.CASE_ALREADY_FINAL.format(code=case.code, status=t.STATUS_NAMES[case.status], action=action)
            )
        return case

    def _case_line(self, session: Session, case: Case) -> str:
        post = repo.post_of(session=session, case=case)
        text = post.text if len(post.text) <= 40 else post.text[:40] + "…"
        return t.case_line(
            case.code or "",
            case.status,
            self.taxonomy.category(case.category).name,
            t.local_time(case.first_reply_due, self.settings.zone),
            text,
        )

    def _to_poster(
        self, session: Session, case: Case, post: Post, text: str, buttons: tuple[tuple[Button, ...], ...] = ()
    ) -> OutgoingMessage:
        """A message back to where the resident posted, as a reply; group copies are redacted."""
        if post.is_group:
            names: tuple[str, ...] = ()
            if case.household_id is not None:
                household = session.get(Household, case.household_id)
                names = (household.head_name,) if household and household.head_name else ()
            text = redact_for_group(text, names)
        return OutgoingMessage(
            post.platform, post.chat_id, text, kind="reply", reply_to_message_id=post.message_id, buttons=buttons
        )

    def _to_officer(self, session: Session, officer: Officer, text: str, *, kind: str) -> list[OutgoingMessage]:
        """Private messages to every chat account the officer has joined with."""
        return [
            OutgoingMessage(identity.platform, identity.user_id, text, kind=kind)
            for identity in repo.identities_of_officer(session=session, officer_id=officer.id or 0)
        ]

    def _answer(self, msg: IncomingMessage, text: str) -> OutgoingMessage:
        return OutgoingMessage(msg.platform, msg.chat_id, text, kind="reply", reply_to_message_id=msg.message_id)

    def _claim(self, session: Session, msg: IncomingMessage, now: datetime) -> bool:
        return repo.claim_message(
            session=session, platform=msg.platform, chat_id=msg.chat_id, message_id=msg.message_id, at=now
        )

    def _reply_once(self, msg: IncomingMessage, text: str) -> HandlerResult:
        """Answer bad input once (a redelivery is not answered again) and change nothing else."""
        reply = self._answer(msg, text)
        with self.db.transaction() as session:
            if not self._claim(session, msg, self.clock.now()):
                return HandlerResult(duplicate=True)
            self._queue(session, [reply])
        return HandlerResult(messages=[reply], refused=True)

    def _queue(self, session: Session, messages: list[OutgoingMessage]) -> None:
        now = self.clock.now()
        repo.queue_outgoing(session=session, rows=[m.outbox_row(now) for m in messages])


def _attachment_dict(attachment: Attachment) -> dict[str, str]:
    return {"kind": attachment.kind, "file_id": attachment.file_id, "caption": attachment.caption}


def _two_args(args: str, usage: str) -> tuple[str, str]:
    parts = args.split(maxsplit=1)
    if len(parts) < 2 or not parts[1].strip():
        raise BadInput(usage)
    return parts[0], parts[1].strip()


COMMANDS: dict[str, _Command] = {
    "start": _Command(Minqing._on_start, EVERYONE, "any"),
    "help": _Command(Minqing._on_help, EVERYONE, "any"),
    "bind": _Command(Minqing._on_bind, RESIDENTS, "private"),
    "my": _Command(Minqing._on_my, RESIDENTS, "private"),
    "join": _Command(Minqing._on_join, RESIDENTS, "private"),
    "rate": _Command(Minqing._on_rate, RESIDENTS, "any"),
    "cases": _Command(Minqing._on_cases, OFFICERS, "private"),
    "case": _Command(Minqing._on_case, EVERYONE, "private"),
    "reply": _Command(Minqing._on_reply, OFFICERS, "private"),
    "resolve": _Command(Minqing._on_resolve, OFFICERS, "private"),
    "transfer": _Command(Minqing._on_transfer, OFFICERS, "private"),
    "category": _Command(Minqing._on_category, OFFICERS, "private"),
    "reject": _Command(Minqing._on_reject, OFFICERS, "private"),
    "file": _Command(Minqing._on_file, OFFICERS, "group"),
    "visit": _Command(Minqing._on_visit, OFFICERS, "private"),
    "digest": _Command(Minqing._on_digest, LEADERS, "private"),
}

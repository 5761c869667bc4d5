"""Intake: a resident's post becomes a case — route, persist, announce — in one transaction.

A post reaches intake two ways: a message to the bot (private, or a group message that mentions
it, uses a trigger, or that triage judges to be a matter), or an officer's ``/file`` on a quoted
group message. Both become one ``PostDraft`` and take the same path.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from analysis.analyzer import Analysis, clean_text, strip_controls
from analysis.taxonomy import Taxonomy
from handlers import catalogue, coalesce, duplicates, jurisdiction, lifecycle
from handlers.cases import to_officer
from handlers.context import Services, claim, queue, reply_once
from handlers.deadlines import deadlines
from handlers.held import hold_post
from handlers.messages import (
    CONFIRM_PREFIX,
    Attachment,
    Button,
    HandlerResult,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    QuotedMessage,
)
from storage import repositories as repo
from storage.models import ChatIdentity, Household, Officer

_HAS_WORDS = re.compile(r"[\w\u4e00-\u9fff]")


def has_words(text: str) -> bool:
    """Does ``text`` carry at least one letter, digit or Chinese character (not only emoji/punctuation)?"""
    return _HAS_WORDS.search(text) is not None


@dataclass(frozen=True, slots=True)
class PostDraft:
    """A post about to be filed: where it was said, by whom, and what it says."""

    platform: str
    chat_id: str
    message_id: str
    is_group: bool
    user_id: str
    user_name: str
    text: str
    sent_at: datetime
    attachments: tuple[Attachment, ...] = ()

    @classmethod
    def from_message(cls, msg: IncomingMessage, text: str) -> "PostDraft":
        return cls(
            msg.platform, msg.chat_id, msg.message_id, msg.is_group, msg.user_id, msg.user_name, text, msg.sent_at,
            msg.attachments,
        )  # fmt: skip

    @classmethod
    def from_quote(cls, msg: IncomingMessage, quoted: QuotedMessage) -> "PostDraft":
        """The group message an officer files with ``/file`` (posted by the quoted resident)."""
        return cls(
            msg.platform, msg.chat_id, quoted.message_id, msg.is_group, quoted.user_id, quoted.user_name,
            quoted.text, quoted.sent_at, quoted.attachments,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Route:
    """Where a new case belongs and who takes it."""

    household: Household | None
    community_id: int | None
    grid_id: int | None
    assignee: Officer | None


@dataclass(frozen=True, slots=True)
class Filed:
    id: int
    code: str
    messages: list[OutgoingMessage]


class Intake:
    """Triage a post, then file it: the only way a case is created."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings

    def is_trigger(self, text: str) -> bool:
        return any(text.startswith(trigger) for trigger in self.settings.triggers)

    def handle_post(self, msg: IncomingMessage, text: str) -> HandlerResult:
        """A message that is not a command: refuse it politely, let chatter pass, or file it."""
        prepared = self._prepare(msg, text)
        if isinstance(prepared, HandlerResult):
            return prepared
        body, analysis = prepared
        now = self.services.clock.now()
        with self.services.db.transaction() as session:
            if not claim(session, msg, now):
                return HandlerResult(duplicate=True)
            if (
                msg.is_group
                and repo.group_for_chat(session=session, platform=msg.platform, chat_id=msg.chat_id) is None
            ):
                return hold_post(session, msg, now)
            filed = self._file_message(session, msg, text, body, analysis, now)
        return HandlerResult(messages=filed.messages, case_codes=[filed.code])

    def _prepare(self, msg: IncomingMessage, text: str) -> tuple[str, Analysis] | HandlerResult:
        """The post's body and analysis, or what to answer instead (a refusal, or nothing for chatter)."""
        body = self._strip_addressing(text)
        if not body:
            body = clean_text(" ".join(a.caption for a in msg.attachments if a.caption))
        explicit = (not msg.is_group) or msg.mentions_bot or self.is_trigger(text)
        refusal = self._refusal(msg, body)
        if refusal is not None:
            return reply_once(self.services, msg, refusal) if explicit else HandlerResult()
        analysis = self.services.analyzer.analyze(body)
        if not explicit and analysis.matter_confidence < self.settings.triage_threshold:
            return HandlerResult()  # group chatter: not ours to file
        return body, analysis

    def _file_message(
        self, session: Session, msg: IncomingMessage, text: str, body: str, analysis: Analysis, now: datetime
    ) -> Filed:
        draft = PostDraft.from_message(msg, msg.text if len(body) == len(text) else body)
        filed = self.file(session, draft, analysis, now=now)
        queue(session, filed.messages, now)
        return filed

    def file_kept(self, session: Session, msg: IncomingMessage, now: datetime) -> Filed:
        """File a post that was kept (a group linked after it was posted) as if it had just come."""
        text = strip_controls(msg.text)
        body = self._strip_addressing(text) or clean_text(" ".join(a.caption for a in msg.attachments if a.caption))
        return self._file_message(session, msg, text, body, self.services.analyzer.analyze(body), now)

    def _strip_addressing(self, text: str) -> str:
        for trigger in self.settings.triggers:
            if text.startswith(trigger):
                text = text[len(trigger) :]
                break
        return text.replace(f"@{self.settings.bot_username}", " ").strip(" :：,，")

    def _refusal(self, msg: IncomingMessage, body: str) -> str | None:
        """Why this post cannot be filed (empty, too long, no words), or None."""
        if not body:
            return catalogue.PHOTO_NEEDS_TEXT if msg.attachments else catalogue.EMPTY_POST
        if len(body) > self.settings.max_post_chars:
            return catalogue.TOO_LONG.format(limit=self.settings.max_post_chars)
        if not has_words(body):
            return catalogue.NO_WORDS
        return None

    def file(
        self,
        session: Session,
        draft: PostDraft,
        analysis: Analysis,
        *,
        now: datetime,
        by: Officer | None = None,
        household: Household | None = None,
    ) -> Filed:
        """Route → persist → announce; ``by`` is the officer filing it on a resident's behalf, and
        ``household`` the household it is about when the officer says so (a visit note, issue 13)."""
        reporter = repo.get_or_create_identity(
            session=session, platform=draft.platform, user_id=draft.user_id, display_name=draft.user_name, at=now
        )
        route = self.route(session, draft, reporter, analysis, household=household)
        first_due, resolution_due = deadlines(
            self.services.taxonomy,
            category=analysis.category,
            urgency=analysis.urgency,
            received_at=now,
            zone=self.settings.zone,
        )
        case_id, code = self._persist(session, draft, reporter, analysis, route, (first_due, resolution_due), now)
        if by is not None:
            lifecycle.record(
                session, case_id=case_id, status=lifecycle.filed_status(assigned=route.assignee is not None),
                event="filed_by_officer", now=now, officer_id=by.id, detail="代办" if household else "",
            )  # fmt: skip
        return Filed(case_id, code, self._announce(session, draft, code, analysis, route, first_due, case_id))

    def route(
        self,
        session: Session,
        draft: PostDraft,
        reporter: ChatIdentity,
        analysis: Analysis,
        *,
        household: Household | None = None,
    ) -> Route:
        """The household (given, bound, or named completely in the text), its grid, and the assignee."""
        group = (
            repo.group_for_chat(session=session, platform=draft.platform, chat_id=draft.chat_id)
            if draft.is_group
            else None
        )
        household = household or self._household_of(session, reporter, analysis, group.community_id if group else None)
        community_id = household.community_id if household else (group.community_id if group else None)
        grid_id = household.grid_id if household else None
        if grid_id is None and community_id is not None and analysis.address is not None:
            grid_id = repo.grid_of_building(
                session=session, community_id=community_id, building=analysis.address.building
            )
        assignee = jurisdiction.pick_assignee(session, grid_id=grid_id, community_id=community_id)
        return Route(household, community_id, grid_id, assignee)

    def _household_of(
        self, session: Session, reporter: ChatIdentity, analysis: Analysis, community_id: int | None
    ) -> Household | None:
        if reporter.resident_id is not None:
            household = repo.household_of_resident(session=session, resident_id=reporter.resident_id)
            if household is not None:
                return household
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

    def _persist(
        self,
        session: Session,
        draft: PostDraft,
        reporter: ChatIdentity,
        analysis: Analysis,
        route: Route,
        due: tuple[datetime, datetime],
        now: datetime,
    ) -> tuple[int, str]:
        """Post, case and first event as plain inserts: intake is the hot path."""
        assignee_id = route.assignee.id if route.assignee else None
        filed = repo.insert_case(
            session=session,
            post={
                "platform": draft.platform,
                "chat_id": draft.chat_id,
                "message_id": draft.message_id,
                "user_id": reporter.user_id,
                "is_group": draft.is_group,
                "text": draft.text,
                "attachments": _attachments_json(draft.attachments),
                "posted_at": draft.sent_at,
                "created_at": now,
            },
            case={
                "reporter_identity_id": reporter.id,
                "household_id": route.household.id if route.household else None,
                "community_id": route.community_id,
                "grid_id": route.grid_id,
                "assignee_id": assignee_id,
                **_labels(analysis),
                "status": lifecycle.filed_status(assigned=assignee_id is not None),
                "first_reply_due": due[0],
                "resolution_due": due[1],
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
                "detail": f"assignee={assignee_id or ''}",
            },
        )
        return filed.id, filed.code

    def _announce(
        self,
        session: Session,
        draft: PostDraft,
        code: str,
        analysis: Analysis,
        route: Route,
        first_due: datetime,
        case_id: int,
    ) -> list[OutgoingMessage]:
        """The resident's acknowledgement, and the new-case notice to the assignee (and chiefs if critical)."""
        taxonomy = self.services.taxonomy
        category = taxonomy.category(analysis.category)
        urgency = taxonomy.urgency(analysis.urgency)
        critical = taxonomy.urgency_rank[analysis.urgency] == 0
        promise = catalogue.duration(timedelta(minutes=urgency.first_reply_minutes), working=urgency.working_time)
        acknowledge = catalogue.ack if route.household else catalogue.ack_unbound
        ack = acknowledge(code, category.name, promise, critical=critical)
        if route.assignee is None:  # nobody reachable yet: promise no reply time (issue 16)
            ack = catalogue.ack_unowned(code, category.name, critical=critical)
        # In a group the acknowledgement names its resident, so a burst's acknowledgements can go as one.
        mentions = (Mention(draft.user_id, coalesce.mention_label(draft.user_name)),) if draft.is_group else ()
        messages = [
            OutgoingMessage(
                draft.platform, draft.chat_id, ack, kind="ack", reply_to_message_id=draft.message_id, mentions=mentions
            )
        ]
        recipients: list[Officer] = [route.assignee] if route.assignee else []
        if critical:
            copies = jurisdiction.critical_copies(session, grid_id=route.grid_id)
            recipients += [c for c in copies if c not in recipients]
        notice = catalogue.notify_new_case(
            code=code,
            category_name=category.name + (catalogue.UNCONFIRMED_MARK if analysis.needs_confirmation else ""),
            urgency=analysis.urgency,
            household=self._household_label(session, route.household, analysis),
            text=draft.text[:500],
            due=catalogue.local_time(first_due, self.settings.zone),
            critical=critical,
        )
        buttons = confirm_buttons(code, analysis, taxonomy) if analysis.needs_confirmation else ()
        if buttons:
            notice += "\n" + catalogue.CONFIRM_CATEGORY_HINT.format(code=code)
        likely = duplicates.likely_duplicates(
            session,
            case_id=case_id,
            category=analysis.category,
            community_id=route.community_id,
            household=route.household,
            building=analysis.address.building if analysis.address else "",
            keywords=analysis.keywords,
            since=draft.sent_at - self.settings.duplicate_window,
        )
        if likely:
            notice += "\n" + catalogue.duplicates_line(likely)
        for officer in recipients:
            messages += to_officer(session, officer, notice, kind="notify", buttons=buttons)
        return messages

    @staticmethod
    def _household_label(session: Session, household: Household | None, analysis: Analysis) -> str:
        if household is None:
            where = f"（文中地址：{analysis.address.label()}）" if analysis.address else ""
            return f"未绑定住户{where}"
        community = repo.community_by_id(session=session, community_id=household.community_id)
        unit = f"{household.unit}单元" if household.unit else ""
        name = f"（{household.head_name}）" if household.head_name else ""
        return f"{community.name if community else ''}{household.building}幢{unit}{household.room}{name}"


def _attachments_json(attachments: tuple[Attachment, ...]) -> str:
    if not attachments:
        return ""
    return json.dumps(
        [{"kind": a.kind, "file_id": a.file_id, "caption": a.caption} for a in attachments], ensure_ascii=False
    )


def confirm_buttons(code: str, analysis: Analysis, taxonomy: Taxonomy) -> tuple[tuple[Button, ...], ...]:
    """Sure-or-ask: one tap for each of the three likeliest categories, and one to pick any other."""
    known = {c.code for c in taxonomy.categories}
    likely = [taxonomy.category(c) for c, _ in analysis.alternatives[:3] if c in known]
    # Numbered, so that an officer can also answer with the number (WeChat shows no buttons).
    row = tuple(Button(f"{i}. {c.name}", f"{CONFIRM_PREFIX}:{code}:{c.code}") for i, c in enumerate(likely, 1))
    other = Button(f"{len(likely) + 1}. {catalogue.OTHER_CATEGORY_BUTTON}", f"{CONFIRM_PREFIX}:{code}:?")
    return (row, (other,))


def _labels(analysis: Analysis) -> dict[str, object]:
    """The case columns that come from the analysis (the model's category is kept beside the case's)."""
    return {
        "category": analysis.category,
        "intent": analysis.intent,
        "urgency": analysis.urgency,
        "polarity": analysis.polarity,
        "intensity": analysis.intensity,
        "confidence": analysis.confidence,
        "emotions": ",".join(analysis.emotions)[:64],
        "model_category": analysis.category,
        "alternatives": ",".join(f"{code}:{p:.3f}" for code, p in analysis.alternatives)[:128],
        "unconfirmed": analysis.needs_confirmation,
        "keywords": ",".join(analysis.keywords)[:512],
        "address": analysis.address.label() if analysis.address else "",
    }

"""The core's front door: an incoming message in, queued outgoing messages and state changes out.

``Minqing.handle`` tells commands from posts: a post goes to intake (``handlers.intake``), a command
is looked up in the one command table (``handlers.commands``), checked for role and chat type, and
run in a savepoint. Every change a message causes, and every message it causes us to send, commits
in one transaction together with a record of the incoming message itself, so a redelivered update
changes nothing twice and a crash after commit loses no reply (the outbox is delivered by the
adapters).
"""

import re
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from analysis.analyzer import Analyzer, strip_controls
from handlers import binding, catalogue, surveys, throttle
from handlers.clock import Clock
from handlers.commands import COMMANDS
from handlers.commands.registry import GROUP, PRIVATE, Command
from handlers.commands.resident import rate_case
from handlers.context import (
    RESIDENT,
    RESIDENT_UNBOUND,
    Actor,
    Call,
    CoreSettings,
    Services,
    answer,
    claim,
    queue,
    reply_once,
)
from handlers.digests import Digests
from handlers.edits import handle_edit
from handlers.errors import BadInput, PermissionDenied, UserFacingError
from handlers.held import file_held
from handlers.intake import Intake
from handlers.messages import CONFIRM_PREFIX, CallbackQuery, HandlerResult, IncomingMessage, OutgoingMessage
from handlers.storable import storable_message, storable_query
from storage import repositories as repo
from storage import units as unit_store
from storage.db import Database
from storage.models import ChatIdentity

__all__ = ["CoreSettings", "Minqing"]

_COMMAND = re.compile(r"^/([A-Za-z_]{1,32})(?:@(\w+))?(?:\s+(.*))?$", re.DOTALL)


class Minqing:
    """What the adapters and the demo call: messages, button presses, and a bot joining a group."""

    def __init__(
        self,
        *,
        db: Database,
        analyzer: Analyzer,
        clock: Clock,
        settings: CoreSettings | None = None,
        digests: Digests | None = None,
    ) -> None:
        self.db = db
        self.analyzer = analyzer
        self.taxonomy = analyzer.taxonomy
        self.clock = clock
        self.settings = settings or CoreSettings()
        # Cores built without the wiring (tests, benchmarks) get the service with default settings.
        self.digests = digests or Digests(db=db, taxonomy=analyzer.taxonomy, clock=clock, zone=self.settings.zone)
        self.services = Services(
            db=db,
            analyzer=analyzer,
            taxonomy=analyzer.taxonomy,
            clock=clock,
            settings=self.settings,
            digests=self.digests,
        )
        self.intake = Intake(self.services)

    def handle(self, msg: IncomingMessage) -> HandlerResult:
        """Handle one incoming message exactly once."""
        msg = storable_message(msg)
        # Officers' and residents' words are passed on as written (full-width punctuation included).
        text = strip_controls(msg.text)
        if msg.edit_id:
            return handle_edit(self.intake, msg, text)
        is_command = text.startswith("/") and not self.intake.is_trigger(text)
        parsed = _COMMAND.match(text) if is_command else None
        if parsed:
            name, addressee, args = parsed.group(1).lower(), parsed.group(2), (parsed.group(3) or "").strip()
            if addressee and addressee.lower() != self.settings.bot_username.lower():
                return HandlerResult()  # a command for another bot in the same group
            return self._run_command(msg, name, args)
        if is_command:
            return reply_once(self.services, msg, catalogue.UNKNOWN_COMMAND)
        if not msg.is_group and _CHOICE.match(text):
            picked = self._numbered_choice(msg, int(text))
            if picked is not None:
                return picked
        return self.intake.handle_post(msg, text)

    def _numbered_choice(self, msg: IncomingMessage, number: int) -> HandlerResult | None:
        """An officer's bare number answers the newest sure-or-ask notice; None when no case waits for one."""
        with self.db.transaction() as session:
            case = repo.newest_unconfirmed_case(session=session, platform=msg.platform, user_id=msg.user_id)
            if case is None:
                return None
            code, offered = case.code or "", [item.split(":")[0] for item in case.alternatives.split(",") if item]
        if number > len(offered):  # the number after the offered ones stands for "another category"
            choices = "、".join(c.name for c in self.services.taxonomy.categories)
            return reply_once(self.services, msg, catalogue.CATEGORY_CHOICES.format(code=code, choices=choices))
        return self._run_command(msg, "category", f"{code} {offered[number - 1]}")

    def handle_callback(self, query: CallbackQuery) -> HandlerResult:
        """Handle an inline-button press (a rating, or a category confirmed); pressing twice changes nothing."""
        query = storable_query(query)
        parts = query.data.split(":")
        if len(parts) == 3 and parts[0] == CONFIRM_PREFIX:
            return self._confirm_category(query, parts[1], parts[2])

        if len(parts) == 3 and parts[0] == "bind" and parts[1] in ("ok", "no") and parts[2].isdigit():
            return self._decide_bind(query, int(parts[2]), approve=parts[1] == "ok")
        if parts[0] == "sv":
            return self._answer_survey(query)
        if len(parts) != 3 or parts[0] != "rate" or parts[2] not in catalogue.RATING_NAMES:
            return HandlerResult(toast=catalogue.UNKNOWN_COMMAND)
        _, code, score = parts
        rated = catalogue.RATED.format(rating=catalogue.RATING_NAMES[score])
        return self._press(
            query,
            lambda session, identity, now: HandlerResult(
                messages=rate_case(session, identity, code, score, now=now), case_codes=[code], toast=rated
            ),
        )

    def _confirm_category(self, query: CallbackQuery, code: str, category: str) -> HandlerResult:
        """A tap on a sure-or-ask button: ``/category CODE CATEGORY`` as the officer, in their private chat."""
        if category == "?":
            choices = "、".join(c.name for c in self.services.taxonomy.categories)
            text = catalogue.CATEGORY_CHOICES.format(code=code, choices=choices)
            listed = reply_once(self.services, _tap(query, f"/category {code}", self.clock.now()), text)
            return HandlerResult(
                messages=listed.messages, duplicate=listed.duplicate, toast=catalogue.OTHER_CATEGORY_BUTTON
            )
        msg = _tap(query, f"/category {code} {category}", self.clock.now())
        result = self._run_command(msg, "category", f"{code} {category}")
        if result.refused or not result.messages:
            toast = result.messages[0].text if result.messages else ""
            return HandlerResult(messages=result.messages, refused=result.refused, toast=toast[:200])
        return HandlerResult(messages=result.messages, case_codes=[code], toast=catalogue.CATEGORY_CONFIRM_TOAST)

    def _decide_bind(self, query: CallbackQuery, request_id: int, *, approve: bool) -> HandlerResult:
        """An officer's tap on a binding request (issue 13); a second tap is told it was done."""

        def decide(session: Session, identity: ChatIdentity, now: datetime) -> HandlerResult:
            officer = repo.officer_by_id(session=session, officer_id=identity.officer_id)
            if officer is None or not officer.active:
                raise PermissionDenied(catalogue.BIND_REQUEST_NOT_YOURS.format(number=request_id))
            done, messages = binding.decide(session, officer, request_id, approve=approve, now=now)
            told = OutgoingMessage(query.platform, query.chat_id, done, kind="reply")
            return HandlerResult(messages=[told, *messages], toast=done)

        return self._press(query, decide)

    def _answer_survey(self, query: CallbackQuery) -> HandlerResult:
        """A resident's tap on a 回访 or 知晓率 question (issue 13); each question is answered once."""
        return self._press(
            query,
            lambda session, identity, now: HandlerResult(toast=surveys.answer(session, identity, query.data, now=now)),
        )

    def _press(
        self, query: CallbackQuery, act: Callable[[Session, ChatIdentity, datetime], HandlerResult]
    ) -> HandlerResult:
        """A button's action, run as whoever pressed it in a savepoint: a refusal rolls it back and
        becomes the toast; the messages the action returns are queued in the same transaction."""
        now = self.clock.now()
        with self.db.transaction() as session:
            try:
                with session.begin_nested():
                    identity = repo.get_or_create_identity(
                        session=session, platform=query.platform, user_id=query.user_id, display_name="", at=now
                    )
                    pressed = act(session, identity, now)
            except UserFacingError as error:
                return HandlerResult(toast=error.message, refused=True)
            queue(session, pressed.messages, now)
        return pressed

    def bot_added_to_group(self, *, platform: str, chat_id: str, event_id: str) -> bool:
        """The bot was added to a group: if the group is not linked to a community, say how to link it.

        Queued once per membership event (a redelivered event says nothing again); True if queued.
        """
        now = self.clock.now()
        with self.db.transaction() as session:
            if repo.group_for_chat(session=session, platform=platform, chat_id=chat_id) is not None:
                return False
            if not repo.claim_message(session=session, platform=platform, chat_id=chat_id, message_id=event_id, at=now):
                return False
            text = catalogue.UNLINKED_GROUP.format(platform=platform, chat_id=chat_id)
            queue(session, [OutgoingMessage(platform, chat_id, text, kind="notice")], now)
        return True

    def file_held_posts(self, *, platform: str, chat_id: str) -> list[str]:
        """File what was posted in a group before it was linked (call after linking it); the new codes."""
        return file_held(self.intake, platform, chat_id)

    def apologise(self, platform: str, chat_id: str, reply_to_message_id: str | None) -> None:
        """Queue the safe apology for a message the core failed on after the platform was answered."""
        apology = OutgoingMessage(
            platform, chat_id, catalogue.SOMETHING_WENT_WRONG, kind="reply", reply_to_message_id=reply_to_message_id
        )
        now = self.clock.now()
        with self.db.transaction() as session:
            queue(session, [apology], now)

    def officer_user_ids(self, platform: str, *, only: str | None = None) -> list[str]:
        """Chat user ids of enrolled officers on ``platform`` (adapters show them the officer menu)."""
        with self.db.transaction() as session:
            return repo.officer_user_ids(session=session, platform=platform, only=only)

    def staff_menus(self, platform: str, *, only: str | None = None) -> list[tuple[str, str]]:
        """(chat user id, menu name) of enrolled staff: ``unit`` for units' people, else ``officer``."""
        with self.db.transaction() as session:
            units = unit_store.unit_user_ids(session=session, platform=platform)
            ids = repo.officer_user_ids(session=session, platform=platform, only=only)
            return [(user_id, "unit" if user_id in units else "officer") for user_id in ids]

    # ------------------------------------------------------------------ commands

    def _run_command(self, msg: IncomingMessage, name: str, args: str) -> HandlerResult:
        spec = COMMANDS.get(name)
        if spec is None:
            return reply_once(self.services, msg, catalogue.UNKNOWN_COMMAND)
        now = self.clock.now()
        with self.db.transaction() as session:
            if not claim(session, msg, now):
                return HandlerResult(duplicate=True)
            try:
                # A savepoint: a refused or failed command leaves no trace but its reply (not even a
                # new chat identity).
                with session.begin_nested():
                    identity = repo.get_or_create_identity(
                        session=session, platform=msg.platform, user_id=msg.user_id, display_name=msg.user_name, at=now
                    )
                    was_officer = identity.officer_id is not None
                    actor = _actor(session, identity)
                    _check_allowed(spec, actor, msg)
                    messages = spec.run(Call(session, self.services, actor, msg, args, now))
                    enrolled = not was_officer and identity.officer_id is not None
            except UserFacingError as error:
                if isinstance(error, throttle.AttemptFailed):
                    # Outside the rolled-back savepoint: the failure is what this message changes.
                    throttle.record(session, platform=msg.platform, user_id=msg.user_id, kind=error.kind, at=now)
                refusal = answer(msg, error.message)
                queue(session, [refusal], now)
                return HandlerResult(messages=[refusal], refused=True)
            queue(session, messages, now)
        return HandlerResult(messages=messages, enrolled=enrolled)


def _check_allowed(spec: Command, actor: Actor, msg: IncomingMessage) -> None:
    """Refuse a command the actor's role or the chat type does not allow, before it runs."""
    if actor.role not in spec.roles:
        role = catalogue.ROLE_NAMES[actor.role]
        raise PermissionDenied(catalogue.NOT_ALLOWED.format(role=role, command=f"/{spec.name}"))
    if spec.where == PRIVATE and msg.is_group:
        raise PermissionDenied(catalogue.PRIVATE_ONLY.format(command=f"/{spec.name}"))
    if spec.where == GROUP and not msg.is_group:
        raise BadInput(catalogue.GROUP_ONLY.format(command=f"/{spec.name}"))


#: A bare number 1-9: an officer picking a category from a sure-or-ask notice.
_CHOICE = re.compile(r"^\s*[1-9]\s*$")


def _actor(session: Session, identity: ChatIdentity) -> Actor:
    """Who is speaking: an active officer, a bound resident, or a resident not yet bound."""
    officer = repo.officer_by_id(session=session, officer_id=identity.officer_id)
    if officer is not None and officer.active:
        return Actor(identity, officer.role, officer, None)
    if identity.resident_id is not None:
        household = repo.household_of_resident(session=session, resident_id=identity.resident_id)
        if household is not None:
            return Actor(identity, RESIDENT, None, household)
    return Actor(identity, RESIDENT_UNBOUND, None, None)


def _tap(query: CallbackQuery, text: str, now: datetime) -> IncomingMessage:
    """A button press as the command it stands for, sent in the chat of the button (claimed once per press)."""
    return IncomingMessage(
        platform=query.platform,
        chat_id=query.chat_id or query.user_id,
        user_id=query.user_id,
        message_id=f"tap:{query.query_id}",
        text=text,
        sent_at=now,
        is_group=query.is_group,
    )

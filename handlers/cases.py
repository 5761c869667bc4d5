"""A case as commands meet it: found by code within the caller's reach, shown, and talked about.

Shared by the command rooms so that "which cases may this person see" and "how does a message
reach the resident who posted" are written once.
"""

import re
import unicodedata

from sqlmodel import Session

from handlers import catalogue, jurisdiction, lifecycle
from handlers.context import Actor, Services
from handlers.errors import BadInput, NotFound, PermissionDenied
from handlers.messages import Button, OutgoingMessage
from handlers.privacy import redact_for_group
from storage import repositories as repo
from storage import units as unit_store
from storage.models import Case, Officer, Post

_CASE_CODE = re.compile(r"^[A-Z]{2,4}-\d{4}-\d{6,}$")


def find_case(session: Session, code: str) -> Case:
    """The case with this code (full-width and lower-case forms accepted), or a Chinese refusal."""
    normalised = unicodedata.normalize("NFKC", code).strip().upper()
    if not _CASE_CODE.match(normalised):
        raise BadInput(catalogue.BAD_CASE_CODE.format(code=code[:40]))
    case = repo.case_by_code(session=session, code=normalised)
    if case is None:
        raise NotFound(catalogue.CASE_NOT_FOUND.format(code=normalised))
    return case


def visible_case(session: Session, actor: Actor, code: str) -> Case:
    """A case the actor may see: an officer's within their reach, a resident's own or household's."""
    case = find_case(session, code)
    if actor.officer is not None:
        if not jurisdiction.covers_case(session, actor.officer, case):
            raise PermissionDenied(catalogue.CASE_NOT_IN_SCOPE.format(code=case.code))
        return case
    own = case.reporter_identity_id == actor.identity.id or (
        actor.household is not None and case.household_id == actor.household.id
    )
    if not own:
        # Same words as "not found": a resident must not learn which codes exist.
        raise NotFound(catalogue.CASE_NOT_FOUND.format(code=case.code))
    return case


def case_to_act_on(session: Session, actor: Actor, code: str, *, event: str, action: str) -> Case:
    """A visible case whose state allows ``event``; ``action`` names it in the refusal."""
    case = visible_case(session, actor, code)
    if not lifecycle.allows(case.status, event):
        raise BadInput(
            catalogue.CASE_ALREADY_FINAL.format(
                code=case.code, status=catalogue.STATUS_NAMES[case.status], action=action
            )
        )
    return case


def case_line(session: Session, services: Services, case: Case) -> str:
    """One line of a case list: code, status, category, reply due, the start of the post."""
    post = repo.post_of(session=session, case=case)
    text = post.text if len(post.text) <= 40 else post.text[:40] + "…"
    return catalogue.case_line(
        case.code or "",
        case.status,
        services.taxonomy.category(case.category).name + (catalogue.UNCONFIRMED_MARK if case.unconfirmed else ""),
        catalogue.local_time(case.first_reply_due, services.settings.zone),
        text,
    )


def to_poster(session: Session, case: Case, text: str, buttons: tuple[tuple[Button, ...], ...] = ()) -> OutgoingMessage:
    """A message back to where the resident posted, as a reply; group copies are redacted."""
    post: Post = repo.post_of(session=session, case=case)
    if post.is_group:
        household = repo.household_by_id(session=session, household_id=case.household_id)
        names = (household.head_name,) if household and household.head_name else ()
        text = redact_for_group(text, names)
    return OutgoingMessage(
        post.platform, post.chat_id, text, kind="reply", reply_to_message_id=post.message_id, buttons=buttons
    )


def to_posters(
    session: Session, case: Case, text: str, buttons: tuple[tuple[Button, ...], ...] = ()
) -> list[OutgoingMessage]:
    """``to_poster`` for the case and for every duplicate merged into it (their reporters follow it)."""
    messages = [to_poster(session, case, text, buttons)]
    for duplicate in unit_store.merged_into(session=session, case_id=case.id or 0):
        messages.append(to_poster(session, duplicate, text, buttons))
    return messages


def rating_buttons(code: str) -> tuple[tuple[Button, ...], ...]:
    """满意 / 基本满意 / 不满意 under a resolved case's message."""
    return (tuple(Button(label, f"rate:{code}:{score}") for score, label in catalogue.RATING_NAMES.items()),)


def to_officer(
    session: Session, officer: Officer, text: str, *, kind: str, buttons: tuple[tuple[Button, ...], ...] = ()
) -> list[OutgoingMessage]:
    """Private messages to every chat account the officer has joined with."""
    return [
        OutgoingMessage(identity.platform, identity.user_id, text, kind=kind, buttons=buttons)
        for identity in repo.identities_of_officer(session=session, officer_id=officer.id or 0)
    ]


def two_args(args: str, usage: str) -> tuple[str, str]:
    """``CODE TEXT``: the first word and the rest, or the usage line as a refusal."""
    parts = args.split(maxsplit=1)
    if len(parts) < 2 or not parts[1].strip():
        raise BadInput(usage)
    return parts[0], parts[1].strip()

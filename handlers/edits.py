"""A resident edited a post that became a case: the case takes the new text, or keeps it as a follow-up."""

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from handlers import catalogue, lifecycle
from handlers.cases import to_officer
from handlers.context import claim, queue
from handlers.messages import HandlerResult, IncomingMessage, OutgoingMessage
from storage import operations as ops
from storage import repositories as repo
from storage.models import Case

if TYPE_CHECKING:
    from handlers.intake import Intake


def handle_edit(intake: "Intake", msg: IncomingMessage, text: str) -> HandlerResult:
    """The resident edited a message: an open case takes the new text (with an event), a finished
    case records it as a follow-up; a message never filed is read as a new post."""
    now = intake.services.clock.now()
    with intake.services.db.transaction() as session:
        case = repo.case_of_post(session=session, platform=msg.platform, chat_id=msg.chat_id, message_id=msg.message_id)
        if case is not None:
            if not claim(session, dataclasses.replace(msg, message_id=f"{msg.message_id}#edit{msg.edit_id}"), now):
                return HandlerResult(duplicate=True)
            body = intake._strip_addressing(text)
            if not body or intake._refusal(msg, body) is not None:
                return HandlerResult()  # an edit that empties the post leaves the case as it was
            return HandlerResult(messages=apply_edit(session, msg, case, body, now), case_codes=[case.code or ""])
    return intake.handle_post(msg, text)


def apply_edit(session: Session, msg: IncomingMessage, case: Case, body: str, now: datetime) -> list[OutgoingMessage]:
    """An open case's post takes the edited text (the old text kept in an ``edited`` event); a
    finished case records the edit as a ``follow_up``. The resident and the assignee are told."""
    code = case.code or ""
    if case.status in lifecycle.OPEN:
        old = ops.replace_post_text(session=session, post_id=case.post_id, text=msg.text)
        lifecycle.record(session, case_id=case.id or 0, status=case.status, event="edited", now=now, detail=old[:2000])
        reply = catalogue.EDIT_APPLIED.format(code=code)
    else:
        lifecycle.record(
            session, case_id=case.id or 0, status=case.status, event="follow_up", now=now, detail=msg.text[:2000]
        )
        reply = catalogue.EDIT_AFTER_CLOSE.format(code=code)
    messages = [OutgoingMessage(msg.platform, msg.chat_id, reply, kind="reply", reply_to_message_id=msg.message_id)]
    assignee = repo.officer_by_id(session=session, officer_id=case.assignee_id)
    if assignee is not None:
        messages += to_officer(
            session, assignee, catalogue.CASE_EDITED.format(code=code, text=body[:500]), kind="notify"
        )
    queue(session, messages, now)
    return messages

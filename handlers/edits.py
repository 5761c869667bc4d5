"""A resident edited a post that became a case: the case takes the new text, or keeps it as a follow-up."""

from datetime import datetime

from sqlmodel import Session

from handlers import catalogue, lifecycle
from handlers.cases import to_officer
from handlers.context import queue
from handlers.messages import IncomingMessage, OutgoingMessage
from storage import operations as ops
from storage import repositories as repo
from storage.models import Case


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

"""Posts in a group no community owns yet: kept, the group asked to link, filed once it is linked."""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from handlers import catalogue
from handlers.context import queue
from handlers.messages import HandlerResult, IncomingMessage, OutgoingMessage
from storage import operations as ops
from storage import repositories as repo

if TYPE_CHECKING:
    from handlers.intake import Intake

#: An unlinked group is asked to be linked at most this often (its posts are kept meanwhile).
HOLD_PROMPT_GAP = timedelta(hours=1)


def hold_post(session: Session, msg: IncomingMessage, now: datetime) -> HandlerResult:
    """Keep a post of a group no community owns yet; ask (at most hourly) for the group to be linked.

    Nothing is promised: no code and no reply time until the group is linked and the post filed.
    """
    recent = ops.held_since(session=session, platform=msg.platform, chat_id=msg.chat_id, since=now - HOLD_PROMPT_GAP)
    ops.hold_post(
        session=session, platform=msg.platform, chat_id=msg.chat_id, message_id=msg.message_id,
        payload=msg.to_json(), at=now,
    )  # fmt: skip
    if recent:
        return HandlerResult()
    prompt = catalogue.HELD_UNLINKED.format(platform=msg.platform, chat_id=msg.chat_id)
    messages = [OutgoingMessage(msg.platform, msg.chat_id, prompt, kind="notice", reply_to_message_id=msg.message_id)]
    queue(session, messages, now)
    return HandlerResult(messages=messages)


def file_held(intake: "Intake", platform: str, chat_id: str) -> list[str]:
    """File the posts held for a group that has just been linked; returns the new case codes."""
    codes: list[str] = []
    now = intake.services.clock.now()
    with intake.services.db.transaction() as session:
        if repo.group_for_chat(session=session, platform=platform, chat_id=chat_id) is None:
            return codes
        for held in ops.waiting_held_posts(session=session, platform=platform, chat_id=chat_id):
            filed = intake.file_kept(session, IncomingMessage.from_json(held.payload), now)
            ops.mark_held_filed(session=session, held_id=held.id or 0, at=now)
            codes.append(filed.code)
    return codes

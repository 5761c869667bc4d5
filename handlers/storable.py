"""Text every backend can store: NUL and unpaired surrogates replaced before anything is written.

PostgreSQL refuses NUL in text columns, and an unpaired UTF-16 surrogate cannot be encoded as
UTF-8 on either backend; one such character in a post, or in the sender's name, would fail the
whole transaction. Both become U+FFFD (�), so the audit copy shows where something was replaced.
"""

import dataclasses
import re

from handlers.messages import Attachment, CallbackQuery, IncomingMessage, QuotedMessage

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (a str never holds a paired one)."""
    return _UNSTORABLE.sub(REPLACEMENT, text) if _UNSTORABLE.search(text) else text


def _attachments(items: tuple[Attachment, ...]) -> tuple[Attachment, ...]:
    return tuple(dataclasses.replace(a, file_id=storable(a.file_id), caption=storable(a.caption)) for a in items)


def _quoted(quoted: QuotedMessage | None) -> QuotedMessage | None:
    if quoted is None:
        return None
    return dataclasses.replace(
        quoted,
        message_id=storable(quoted.message_id),
        user_id=storable(quoted.user_id),
        user_name=storable(quoted.user_name),
        text=storable(quoted.text),
        attachments=_attachments(quoted.attachments),
    )


def storable_message(msg: IncomingMessage) -> IncomingMessage:
    """The message with every text field storable (identifiers too: they come from the platform)."""
    return dataclasses.replace(
        msg,
        platform=storable(msg.platform),
        chat_id=storable(msg.chat_id),
        user_id=storable(msg.user_id),
        message_id=storable(msg.message_id),
        text=storable(msg.text),
        user_name=storable(msg.user_name),
        chat_title=storable(msg.chat_title),
        reply_to=_quoted(msg.reply_to),
        attachments=_attachments(msg.attachments),
        edit_id=storable(msg.edit_id),
    )


def storable_query(query: CallbackQuery) -> CallbackQuery:
    return dataclasses.replace(
        query, chat_id=storable(query.chat_id), user_id=storable(query.user_id), data=storable(query.data)
    )

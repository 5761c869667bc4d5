"""Bot API JSON ⇄ the core's messages, shared by the PTB and aiogram adapters.

Both frameworks decode the same Bot API objects; each adapter turns its framework's update back
into that JSON (``to_dict`` / ``model_dump``) and everything from there on is this one module, so
the two adapters cannot drift apart in what they understand or how they answer.
"""

import dataclasses
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handlers.messages import (
    Attachment,
    Button,
    CallbackQuery,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    QuotedMessage,
)

PLATFORM = "telegram"
GROUP_TYPES = frozenset({"group", "supergroup"})
#: Telegram's limits on a message's text and a photo's caption (after entity parsing).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
#: The updates the bot subscribes to, in polling and webhook mode alike.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")

Json = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is on Telegram (from getMe)."""

    id: int
    username: str


@dataclass(frozen=True, slots=True)
class AddedToGroup:
    """The bot became a member of a group (a ``my_chat_member`` update)."""

    chat_id: str
    title: str
    event_id: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """One Bot API call's worth of an outgoing message: HTML text, reply target and keyboard."""

    chat_id: str
    text: str
    reply_to_message_id: int | None
    keyboard: tuple[tuple[Button, ...], ...]


Translated = IncomingMessage | CallbackQuery | AddedToGroup


def chat_key(update: Json) -> str:
    """The chat an update belongs to, so updates of one chat are handled in order."""
    for field in ("message", "edited_message", "my_chat_member"):
        if isinstance(update.get(field), Mapping):
            return str(update[field]["chat"]["id"])
    query = update.get("callback_query")
    if isinstance(query, Mapping):
        message = query.get("message")
        if isinstance(message, Mapping):
            return str(message["chat"]["id"])
        return str(query["from"]["id"])
    return f"update:{update.get('update_id')}"


def translate(update: Json, bot: BotIdentity) -> Translated | None:
    """Turn one Bot API update into what the core understands; None for what the bot ignores."""
    if isinstance(update.get("message"), Mapping):
        return translate_message(update["message"], bot)
    if isinstance(update.get("edited_message"), Mapping):
        # An edit keeps the original's message id; its edit time tells one edit from the next.
        edited = translate_message(update["edited_message"], bot)
        if edited is None:
            return None
        edit_id = str(update["edited_message"].get("edit_date") or update.get("update_id") or "1")
        return dataclasses.replace(edited, edit_id=edit_id)
    if isinstance(update.get("callback_query"), Mapping):
        return translate_callback(update["callback_query"])
    if isinstance(update.get("my_chat_member"), Mapping):
        return translate_membership(update["my_chat_member"], update.get("update_id"), bot)
    return None  # channel posts, polls …: not part of intake


def translate_message(message: Json, bot: BotIdentity) -> IncomingMessage | None:
    sender = message.get("from")
    chat = message["chat"]
    if not isinstance(sender, Mapping) or sender.get("is_bot"):
        return None  # anonymous admins, channels and other bots do not file matters
    text = message.get("text") or message.get("caption") or ""
    attachments = attachments_of(message)
    if not text and not attachments:
        return None  # service messages: members joining, pinned messages, title changes …
    is_group = chat.get("type") in GROUP_TYPES
    quoted = message.get("reply_to_message")
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=str(chat["id"]),
        user_id=str(sender["id"]),
        message_id=str(message["message_id"]),
        text=text,
        sent_at=_timestamp(message.get("date")),
        is_group=is_group,
        user_name=display_name(sender),
        chat_title=str(chat.get("title") or ""),
        mentions_bot=is_group and (_mentions(message, bot) or _replies_to_bot(quoted, bot)),
        reply_to=quote(quoted) if isinstance(quoted, Mapping) else None,
        attachments=attachments,
    )


def translate_callback(query: Json) -> CallbackQuery:
    message = query.get("message")
    chat = message.get("chat", {}) if isinstance(message, Mapping) else {}
    user_id = str(query["from"]["id"])
    return CallbackQuery(
        platform=PLATFORM,
        chat_id=str(chat.get("id", user_id)),
        user_id=user_id,
        query_id=str(query["id"]),
        data=str(query.get("data") or ""),
        message_id=str(message.get("message_id", "")) if isinstance(message, Mapping) else "",
        is_group=chat.get("type") in GROUP_TYPES,
    )


def translate_membership(change: Json, update_id: object, bot: BotIdentity) -> AddedToGroup | None:
    chat = change["chat"]
    member = change.get("new_chat_member", {})
    was = change.get("old_chat_member", {}).get("status")
    now = member.get("status")
    joined = now in {"member", "administrator"} and was in {"left", "kicked", None}
    if chat.get("type") not in GROUP_TYPES or not joined or member.get("user", {}).get("id") != bot.id:
        return None
    return AddedToGroup(chat_id=str(chat["id"]), title=str(chat.get("title") or ""), event_id=f"joined:{update_id}")


def quote(message: Json) -> QuotedMessage:
    sender = message.get("from") or {}
    return QuotedMessage(
        message_id=str(message["message_id"]),
        user_id=str(sender.get("id", "")),
        user_name=display_name(sender),
        text=message.get("text") or message.get("caption") or "",
        sent_at=_timestamp(message.get("date")),
        attachments=attachments_of(message),
    )


def attachments_of(message: Json) -> tuple[Attachment, ...]:
    """File references of a message's photo, voice note, video or document (files stay on Telegram)."""
    caption = str(message.get("caption") or "")
    found: list[Attachment] = []
    photos = message.get("photo")
    if isinstance(photos, Sequence) and photos:
        found.append(Attachment("photo", str(photos[-1]["file_id"]), caption))  # the largest size comes last
    for kind in ("voice", "video", "video_note", "audio", "document"):
        item = message.get(kind)
        if isinstance(item, Mapping) and "file_id" in item:
            found.append(Attachment(kind, str(item["file_id"]), caption))
    return tuple(found)


def display_name(user: Json) -> str:
    return " ".join(str(part) for part in (user.get("first_name"), user.get("last_name")) if part)[:128]


def _mentions(message: Json, bot: BotIdentity) -> bool:
    text = message.get("text") or message.get("caption") or ""
    entities = message.get("entities") or message.get("caption_entities") or ()
    for entity in entities:
        kind = entity.get("type")
        if kind == "mention":
            mentioned = _entity_text(text, entity)
            if mentioned.lstrip("@").lower() == bot.username.lower():
                return True
        elif kind == "text_mention" and entity.get("user", {}).get("id") == bot.id:
            return True
    return False


def _replies_to_bot(quoted: object, bot: BotIdentity) -> bool:
    return isinstance(quoted, Mapping) and (quoted.get("from") or {}).get("id") == bot.id


def _entity_text(text: str, entity: Json) -> str:
    """The entity's text; Telegram counts offsets in UTF-16 code units, not code points."""
    encoded = text.encode("utf-16-le")
    start, length = int(entity["offset"]) * 2, int(entity["length"]) * 2
    return encoded[start : start + length].decode("utf-16-le", errors="ignore")


def _timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------- rendering


def render(message: OutgoingMessage, *, limit: int = TEXT_LIMIT) -> list[Rendered]:
    """Split a message into Bot API sends: HTML-escaped text, a reply on the first, buttons on the last."""
    target = message.reply_to_message_id or ""
    reply_to = int(target) if target.isdigit() else None
    parts = split_text(message.text, limit)
    return [
        Rendered(
            chat_id=message.chat_id,
            text=with_mentions(part, message.mentions),
            reply_to_message_id=reply_to if index == 0 else None,
            keyboard=message.buttons if index == len(parts) - 1 else (),
        )
        for index, part in enumerate(parts)
    ]


def with_mentions(text: str, mentions: Sequence[Mention]) -> str:
    """HTML-escaped text in which each mention's label, in order, links to its user (a mention without @username)."""
    escaped = html.escape(text, quote=False)
    out: list[str] = []
    cursor = 0
    for mention in mentions:
        label = html.escape(mention.label, quote=False)
        at = escaped.find(label, cursor)
        if at < 0 or not mention.user_id.lstrip("-").isdigit():
            continue
        out.append(escaped[cursor:at])
        out.append(f'<a href="tg://user?id={mention.user_id}">{label}</a>')
        cursor = at + len(label)
    out.append(escaped[cursor:])
    return "".join(out)


def split_text(text: str, limit: int) -> list[str]:
    """Cut text into pieces Telegram accepts, at line breaks where possible; never an empty list."""
    # Escaping can lengthen text (& → &amp;) but Telegram counts the text after parsing, so the raw
    # length is what must fit.
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    pieces.append(rest)
    return pieces


def keyboard_json(rows: tuple[tuple[Button, ...], ...]) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": b.label, "callback_data": b.callback_data} for b in row] for row in rows]}


def rated_text(original: str, toast: str) -> str:
    """The resolved message after the resident rated it: its text plus the thanks, without buttons."""
    return html.escape(f"{original}\n{toast}", quote=False)[:TEXT_LIMIT]

"""The intelligent robot's callback JSON ⇄ the core's messages, and the JSON we answer with.

A callback (decrypted) carries ``msgid``, ``aibotid``, ``chatid``, ``chattype`` (single/group),
``from.userid``, ``response_url``, ``msgtype`` and the content (``text``, ``image``, ``mixed``,
``voice``, ``file``, ``quote``); events have ``msgtype`` "event" and ``event.eventtype``.
Identities: chat_id = the group's ``chatid`` in groups and the member's ``userid`` in one-to-one
chats, user_id = ``userid``, message_id = ``msgid`` (WeCom's retries repeat it).

Group messages reach us only when they @-mention the robot, so the mention is stripped and the
post goes to the core as ordinary group text (``mentions_bot`` False): triage still decides
whether "@民情通 谢谢" is a matter (``mention_files`` makes every @ a case instead).

WeCom's ``quote`` has neither the quoted message's id nor its author, so an officer's ``/file``
quotes get a stable id from the chat and the quoted text, and the author is looked up among the
messages this process saw in that chat (see ``RecentPosts``).
"""

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handlers import catalogue
from handlers.messages import Attachment, CallbackQuery, IncomingMessage, OutgoingMessage, QuotedMessage

PLATFORM = "wecom"
#: A stream message's content is at most 20480 bytes; keep a margin.
STREAM_LIMIT_BYTES = 20000
MARKDOWN_LIMIT_BYTES = 20000
#: WeCom shows at most six buttons on a button_interaction card.
MAX_BUTTONS = 6
_MENTION = re.compile(r"^\s*@\S+\s*")


class WireError(ValueError):
    """A callback that is not a robot message we can read."""


@dataclass(frozen=True, slots=True)
class Callback:
    """The fields every callback shares."""

    msgid: str
    chat_id: str
    user_id: str
    is_group: bool
    msgtype: str
    response_url: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToCore:
    message: IncomingMessage
    #: A welcome (enter_chat): WeCom accepts only text or a card there, not a stream.
    welcome: bool = False


@dataclass(frozen=True, slots=True)
class Press:
    """A click on a template card's button."""

    query: CallbackQuery
    task_id: str


@dataclass(frozen=True, slots=True)
class AnswerOnly:
    text: str


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to do (stream refreshes, feedback events, unknown events)."""


Translated = ToCore | Press | AnswerOnly | Ignore


def parse_callback(plain: bytes) -> Callback:
    try:
        body = json.loads(plain)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WireError("not JSON") from error
    if not isinstance(body, dict):
        raise WireError("not a JSON object")
    sender = body.get("from")
    user_id = str(sender.get("userid", "")) if isinstance(sender, dict) else ""
    msgid, msgtype = str(body.get("msgid", "")), str(body.get("msgtype", ""))
    is_group = body.get("chattype") == "group"
    chat_id = str(body.get("chatid", "")) if is_group else user_id
    if not msgid or not msgtype or not user_id or not chat_id or len(chat_id) > 128 or len(msgid) > 256:
        raise WireError("missing msgid, msgtype, from.userid or chatid")
    return Callback(msgid, chat_id, user_id, is_group, msgtype, str(body.get("response_url", "")), body)


class RecentPosts:
    """Who said what lately in each chat (as far as this process saw it), for ``/file`` quotes."""

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._seen: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()

    def remember(self, chat_id: str, text: str, *, msgid: str, user_id: str) -> None:
        self._seen[(chat_id, text.strip())] = (msgid, user_id)
        self._seen.move_to_end((chat_id, text.strip()))
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def author(self, chat_id: str, text: str) -> tuple[str, str] | None:
        return self._seen.get((chat_id, text.strip()))


def _text_of(kind: str, part: Mapping[str, Any]) -> tuple[str, tuple[Attachment, ...]]:
    """The words and attachments of a text, voice, image, file or mixed body."""
    content = part.get(kind)
    content = content if isinstance(content, dict) else {}
    if kind == "text" or kind == "voice":
        return str(content.get("content", "")), ()
    if kind == "image":
        return "", (Attachment("photo", str(content.get("url", ""))),)
    if kind == "file":
        return "", (Attachment("document", str(content.get("url", ""))),)
    if kind == "mixed":
        words: list[str] = []
        attachments: list[Attachment] = []
        items = content.get("msg_item", [])
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                text, found = _text_of(str(item.get("msgtype", "")), item)
                words += [text] if text else []
                attachments += found
        return "\n".join(words), tuple(attachments)
    raise WireError(f"unsupported content {kind!r}")


def strip_mention(text: str) -> str:
    """Group text starts with "@RobotName"; the core reads what follows."""
    return _MENTION.sub("", text, count=1)


def _quoted(call: Callback, recent: RecentPosts, now: datetime) -> QuotedMessage | None:
    quote = call.body.get("quote")
    if not isinstance(quote, dict):
        return None
    try:
        text, attachments = _text_of(str(quote.get("msgtype", "")), quote)
    except WireError:
        return None
    text = strip_mention(text) if call.is_group else text
    known = recent.author(call.chat_id, text)
    digest = hashlib.sha1(f"{call.chat_id}\n{text}".encode()).hexdigest()[:20]
    message_id, user_id = known if known else (f"quote:{digest}", f"quoted:{digest}")
    return QuotedMessage(message_id, user_id, "", text, now, attachments)


def translate(call: Callback, *, recent: RecentPosts, now: datetime, mention_files: bool = False) -> Translated:
    """What to do with one decrypted callback; ``mention_files``: every group @ is a case (no triage)."""
    if call.msgtype == "event":
        return _event(call, now)
    if call.msgtype == "stream":
        return Ignore()  # a refresh of a stream we never leave unfinished
    if call.msgtype not in ("text", "voice", "image", "file", "mixed"):
        return AnswerOnly(catalogue.WECOM_UNSUPPORTED)
    text, attachments = _text_of(call.msgtype, call.body)
    if call.is_group:
        text = strip_mention(text)
    if call.msgtype == "file":
        return AnswerOnly(catalogue.WECOM_UNSUPPORTED)
    recent.remember(call.chat_id, text, msgid=call.msgid, user_id=call.user_id)
    message = IncomingMessage(
        platform=PLATFORM,
        chat_id=call.chat_id,
        user_id=call.user_id,
        message_id=call.msgid,
        text=text.strip(),
        sent_at=now,
        is_group=call.is_group,
        mentions_bot=call.is_group and mention_files,
        reply_to=_quoted(call, recent, now),
        attachments=attachments,
    )
    return ToCore(message)


def _event(call: Callback, now: datetime) -> Translated:
    event = call.body.get("event")
    event = event if isinstance(event, dict) else {}
    kind = str(event.get("eventtype", ""))
    if kind == "enter_chat" and not call.is_group:
        welcome = IncomingMessage(PLATFORM, call.chat_id, call.user_id, call.msgid, "/start", now)
        return ToCore(welcome, welcome=True)
    if kind == "template_card_event":
        card = event.get("template_card_event")
        card = card if isinstance(card, dict) else {}
        key = str(card.get("event_key", ""))
        if not key:
            return Ignore()
        query = CallbackQuery(PLATFORM, call.chat_id, call.user_id, call.msgid, key, is_group=call.is_group)
        return Press(query, str(card.get("task_id", "")))
    return Ignore()


# ------------------------------------------------------------------------------------ outgoing


def render_text(message: OutgoingMessage) -> str:
    """The message as plain words (buttons become the /rate hint)."""
    lines = [message.text]
    codes = []
    for row in message.buttons:
        for button in row:
            parts = button.callback_data.split(":")
            if len(parts) == 3 and parts[0] == "rate" and parts[1] not in codes:
                codes.append(parts[1])
    lines += [catalogue.WECOM_RATE_HINT.format(code=code) for code in codes]
    return "\n".join(lines)


def stream_reply(content: str, stream_id: str) -> dict[str, Any]:
    """A finished stream message: WeCom shows it at once and asks for no refresh."""
    return {"msgtype": "stream", "stream": {"id": stream_id, "finish": True, "content": content}}


def text_reply(content: str) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}}


def task_id(message: OutgoingMessage) -> str:
    """A card's task id: unique per message, letters and digits only (WeCom allows 128)."""
    return "mq" + hashlib.sha1(message.to_json().encode()).hexdigest()[:30]


def template_card(message: OutgoingMessage) -> dict[str, Any]:
    """A button_interaction card: the message's text above its buttons; a button's key is its callback data."""
    buttons = [b for row in message.buttons for b in row][:MAX_BUTTONS]
    return {
        "msgtype": "template_card",
        "template_card": {
            "card_type": "button_interaction",
            "main_title": {"title": catalogue.WECOM_CARD_TITLE},
            "sub_title_text": message.text,
            "button_list": [
                {"text": b.label, "style": 1 if i == 0 else 2, "key": b.callback_data} for i, b in enumerate(buttons)
            ],
            "task_id": task_id(message),
        },
    }


def card_update(toast: str, task: str) -> dict[str, Any]:
    """The passive answer to a click: the card becomes a notice saying what happened."""
    return {
        "response_type": "update_template_card",
        "template_card": {"card_type": "text_notice", "main_title": {"title": toast[:26]}, "task_id": task},
    }


def active_payload(message: OutgoingMessage) -> dict[str, Any]:
    """The body we POST to a response_url: a card when the message has buttons, else markdown."""
    if message.buttons:
        return template_card(message)
    content = render_text(message)
    encoded = content.encode()
    if len(encoded) > MARKDOWN_LIMIT_BYTES:
        content = encoded[:MARKDOWN_LIMIT_BYTES].decode(errors="ignore")
    return {"msgtype": "markdown", "markdown": {"content": content}}

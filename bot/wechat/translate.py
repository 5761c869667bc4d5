"""WeChat message fields ⇄ the core's messages.

An OpenID is a chat identity like a Telegram user id: chat_id = user_id = OpenID, and every
Official Account conversation is private. Message ids are WeChat's MsgId, or
"{FromUserName}:{CreateTime}" for events (which have none), so a retried delivery is recognised.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.wechat.wire import WireError
from handlers import catalogue
from handlers.aliases import expand_alias
from handlers.messages import CONFIRM_PREFIX, Attachment, IncomingMessage, OutgoingMessage

PLATFORM = "wechat"
#: A MsgId is a 64-bit integer: at most 20 decimal digits.
MSG_ID_DIGITS = 20
#: Passive replies and customer-service texts carry at most 2048 bytes; keep a margin.
TEXT_LIMIT_BYTES = 2000


@dataclass(frozen=True, slots=True)
class ToCore:
    """A message the core handles."""

    message: IncomingMessage


@dataclass(frozen=True, slots=True)
class AnswerOnly:
    """A message we answer at once without filing anything (a location, an unsupported type)."""

    text: str


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to do and nothing to answer (unsubscribe, menu clicks, location reports)."""


Translated = ToCore | AnswerOnly | Ignore


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who wrote to whom, and the key a retried delivery shares with the first one."""

    openid: str
    account: str
    message_id: str
    sent_at: datetime


def envelope(fields: Mapping[str, str]) -> Envelope:
    openid, account = fields.get("FromUserName", ""), fields.get("ToUserName", "")
    created = fields.get("CreateTime", "")
    if not openid or not account or not _digits(created) or len(openid) > 64 or len(account) > 64:
        raise WireError("missing FromUserName, ToUserName or CreateTime")
    if len(created) > 11:  # seconds since 1970: ten digits until 2286
        raise WireError("CreateTime out of range")
    message_id = fields.get("MsgId", "") if fields.get("MsgType") != "event" else ""
    if fields.get("MsgType") != "event" and not _digits(message_id):
        raise WireError("a message without a MsgId")
    if len(message_id) > MSG_ID_DIGITS:
        raise WireError("MsgId out of range")
    return Envelope(
        openid=openid,
        account=account,
        message_id=message_id or f"{openid}:{created}",
        sent_at=datetime.fromtimestamp(int(created), UTC),
    )


def _digits(value: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts superscripts and other scripts' digits)."""
    return value.isascii() and value.isdigit()


def translate(fields: Mapping[str, str], where: Envelope) -> Translated:
    """What to do with one decrypted WeChat message."""
    kind = fields.get("MsgType", "")

    def incoming(text: str, attachments: tuple[Attachment, ...] = ()) -> ToCore:
        return ToCore(
            IncomingMessage(
                platform=PLATFORM,
                chat_id=where.openid,
                user_id=where.openid,
                message_id=where.message_id,
                text=expand_alias(text) or text,
                sent_at=where.sent_at,
                attachments=attachments,
            )
        )

    if kind == "text":
        return incoming(fields.get("Content", ""))
    if kind == "image":
        # WeChat sends a picture on its own; the core asks for a sentence describing it.
        return incoming("", (Attachment("photo", fields.get("MediaId", "")),))
    if kind == "voice":
        recognised = fields.get("Recognition", "").strip()
        if not recognised:
            return AnswerOnly(catalogue.WECHAT_VOICE_UNRECOGNISED)
        return incoming(recognised, (Attachment("voice", fields.get("MediaId", ""), recognised),))
    if kind == "location":
        label = fields.get("Label", "") or f"{fields.get('Location_X', '')},{fields.get('Location_Y', '')}"
        return AnswerOnly(catalogue.WECHAT_LOCATION.format(label=label[:100]))
    if kind == "event":
        event = fields.get("Event", "").lower()
        if event == "subscribe":
            return incoming("/start")
        return Ignore()
    return AnswerOnly(catalogue.WECHAT_UNSUPPORTED)


def render_text(message: OutgoingMessage) -> str:
    """The message as WeChat text; rating buttons become tappable quick replies (bizmsgmenu links)."""
    lines = [message.text]
    codes: list[str] = []
    for row in message.buttons:
        links = []
        for number, button in enumerate(row, 1):
            parts = button.callback_data.split(":")
            if len(parts) == 3 and parts[0] == CONFIRM_PREFIX:
                # A tap sends the category command in words; "other" lists every category.
                content = f"更正类别 {parts[1]} {parts[2]}" if parts[2] != "?" else f"更正类别 {parts[1]}"
                links.append(
                    f'<a href="weixin://bizmsgmenu?msgmenucontent={content}&msgmenuid={number}">{button.label}</a>'
                )
            elif len(parts) == 3 and parts[0] == "rate":
                content = f"评价 {parts[1]} {button.label}"
                links.append(
                    f'<a href="weixin://bizmsgmenu?msgmenucontent={content}&msgmenuid={number}">{button.label}</a>'
                )
                if parts[1] not in codes:
                    codes.append(parts[1])
            else:
                links.append(button.label)
        lines.append("  ".join(links))
    lines += [catalogue.WECHAT_RATE_HINT.format(code=code) for code in codes]
    return "\n".join(lines)


def split_bytes(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, cut at line ends where possible."""
    if len(text.encode()) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in _lines_within(text, limit):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = line
    if current:
        pieces.append(current)
    return pieces


def _lines_within(text: str, limit: int) -> Iterator[str]:
    """Lines, with any line longer than ``limit`` bytes cut between characters."""
    for line in text.split("\n"):
        piece: list[str] = []
        size = 0
        for char in line:
            width = len(char.encode())
            if size + width > limit:
                yield "".join(piece)
                piece, size = [], 0
            piece.append(char)
            size += width
        yield "".join(piece)

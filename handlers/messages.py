"""Messages crossing the boundary between chat platforms and the core."""

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    """A platform file reference (photo, voice, video, document); the file stays on the platform."""

    kind: str
    file_id: str
    caption: str = ""


@dataclass(frozen=True, slots=True)
class QuotedMessage:
    """The message an incoming message replies to (used by an officer's ``/file``)."""

    message_id: str
    user_id: str
    user_name: str
    text: str
    sent_at: datetime
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    platform: str
    chat_id: str
    user_id: str
    message_id: str
    text: str
    sent_at: datetime
    is_group: bool = False
    user_name: str = ""
    chat_title: str = ""
    mentions_bot: bool = False
    reply_to: QuotedMessage | None = None
    attachments: tuple[Attachment, ...] = ()
    #: The sender changed an earlier message (``message_id`` is the original's); ``edit_id`` tells edits apart.
    edit_id: str = ""

    def to_json(self) -> str:
        """The message as JSON, for keeping it (held posts, dead letters) and handling it again later."""
        return json.dumps(asdict(self), ensure_ascii=False, default=_iso)

    @classmethod
    def from_json(cls, raw: str) -> "IncomingMessage":
        data = json.loads(raw)
        data["sent_at"] = datetime.fromisoformat(data["sent_at"])
        data["attachments"] = tuple(Attachment(**a) for a in data.get("attachments", ()))
        quoted = data.get("reply_to")
        if quoted is not None:
            quoted["sent_at"] = datetime.fromisoformat(quoted["sent_at"])
            quoted["attachments"] = tuple(Attachment(**a) for a in quoted.get("attachments", ()))
            data["reply_to"] = QuotedMessage(**quoted)
        return cls(**data)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    callback_data: str


#: Callback data ``cat:CODE:CATEGORY`` confirms a case's category with one tap (``CATEGORY`` "?" asks
#: for the full list); ``rate:CODE:SCORE`` rates a resolved case.
CONFIRM_PREFIX = "cat"


@dataclass(frozen=True, slots=True)
class Mention:
    """A resident a group message is addressed to; ``label`` (their masked name) becomes a mention where it appears."""

    user_id: str
    label: str


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """Something to send; ``kind`` names why (ack, reply, notify, alert, digest) for rate limits and logs."""

    platform: str
    chat_id: str
    text: str
    kind: str = "reply"
    reply_to_message_id: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    photo_ref: str | None = None
    #: Who a group message is for (a group acknowledgement names its resident, so several can be coalesced).
    mentions: tuple[Mention, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    def outbox_row(self, queued_at: datetime) -> dict[str, object]:
        """The values of this message's ``Outbox`` row (see ``storage.repositories.queue_outgoing``)."""
        return {
            "platform": self.platform,
            "chat_id": self.chat_id,
            "kind": self.kind,
            "payload": self.to_json(),
            "created_at": queued_at,
            "attempts": 0,
            "error": "",
        }

    @classmethod
    def from_json(cls, raw: str) -> "OutgoingMessage":
        data = json.loads(raw)
        rows = tuple(tuple(Button(**b) for b in row) for row in data.pop("buttons", ()))
        mentions = tuple(Mention(**m) for m in data.pop("mentions", ()))
        return cls(buttons=rows, mentions=mentions, **data)


@dataclass(frozen=True, slots=True)
class CallbackQuery:
    """A press on an inline button."""

    platform: str
    chat_id: str
    user_id: str
    query_id: str
    data: str
    message_id: str = ""
    is_group: bool = False


@dataclass(slots=True)
class HandlerResult:
    """What one incoming message caused: messages queued for delivery and cases touched."""

    messages: list[OutgoingMessage] = field(default_factory=list)
    case_codes: list[str] = field(default_factory=list)
    duplicate: bool = False
    #: The input was refused (no permission, bad input, unknown code); only a reply was queued.
    refused: bool = False
    #: A short answer for the platform's callback toast, when the input was a button press.
    toast: str = ""
    #: The sender became an officer with this message (``/join``): adapters show the officer menu.
    enrolled: bool = False

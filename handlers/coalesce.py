"""Acknowledgements waiting for one group, sent as one message (issue 16, item 6).

Telegram lets a bot send about 20 messages a minute to a group, so after a burst of posts (a burst
pipe, a power cut) one acknowledgement per post would leave the last resident minutes behind. The
sender asks this module to fold the acknowledgements queued behind each other for one group into one
message that names every resident (as a mention) with their case code. Nothing here knows a platform:
the sender decides when a chat is a group and how much text fits.
"""

from collections.abc import Sequence

from handlers import catalogue
from handlers.messages import Mention, OutgoingMessage

#: Kinds of message that may be folded together: short notices that stand alone line by line.
COALESCIBLE = frozenset({"ack"})
#: At most this many residents in one message, so it stays readable on a phone.
MAX_ENTRIES = 40


def mention_label(name: str) -> str:
    """How a resident is named in a group: masked, like every other name shown there."""
    name = name.strip().lstrip("@")
    if len(name) < 2:
        return "@" + catalogue.RESIDENT_LABEL
    return "@" + name[0] + "*" * min(len(name) - 1, 4)


def can_join(message: OutgoingMessage) -> bool:
    """Whether this message may be folded into a coalesced one (an acknowledgement addressed to a resident)."""
    return message.kind in COALESCIBLE and len(message.mentions) == 1 and not message.buttons


def fitting(messages: Sequence[OutgoingMessage], *, max_chars: int) -> int:
    """How many of the leading ``messages`` one coalesced message can hold (0 when the first cannot join)."""
    count = 0
    for message in messages[:MAX_ENTRIES]:
        if not can_join(message) or len(coalesce(messages[: count + 1]).text) > max_chars:
            break
        count += 1
    return count


def coalesce(messages: Sequence[OutgoingMessage]) -> OutgoingMessage:
    """One group message standing for several acknowledgements, in their order, losing no case code."""
    if len(messages) == 1:
        return messages[0]
    entries: list[tuple[str, str, bool]] = []
    notes: list[str] = []
    for message in messages:
        first, *rest = message.text.split("\n")
        critical = any(catalogue.EMERGENCY_CALL in line for line in rest)
        entries.append((message.mentions[0].label, first, critical))
        notes += [line for line in rest if line not in notes]
    head = messages[0]
    mentions: tuple[Mention, ...] = tuple(m for message in messages for m in message.mentions)
    return OutgoingMessage(
        head.platform, head.chat_id, catalogue.coalesced_acks(entries, notes), kind=head.kind, mentions=mentions
    )

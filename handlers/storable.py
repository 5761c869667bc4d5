"""Text every backend can store: NUL and unpaired surrogates replaced before anything is written.

PostgreSQL refuses NUL in text columns, and an unpaired UTF-16 surrogate cannot be encoded as
UTF-8 on either backend; one such character in a post, or in the sender's name, would fail the
whole transaction. Both become U+FFFD (�), so the audit copy shows where something was replaced.
"""

import dataclasses
import re
from typing import Any

from handlers.messages import CallbackQuery, IncomingMessage

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (a str never holds a paired one)."""
    return _UNSTORABLE.sub(REPLACEMENT, text) if _UNSTORABLE.search(text) else text


def _cleaned(value: Any) -> Any:
    """Every string in ``value`` made storable: in dataclass fields, tuples and nested messages alike,
    so a text field added to a message later cannot slip past."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, tuple):
        return tuple(_cleaned(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _cleaned(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **fields)
    return value


def storable_message(msg: IncomingMessage) -> IncomingMessage:
    """The message with every text field storable (identifiers too: they come from the platform)."""
    cleaned: IncomingMessage = _cleaned(msg)
    return cleaned


def storable_query(query: CallbackQuery) -> CallbackQuery:
    cleaned: CallbackQuery = _cleaned(query)
    return cleaned

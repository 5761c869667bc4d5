"""Commands for leaders (community and street leaders, the admin)."""

from dataclasses import replace

from handlers import catalogue
from handlers.commands.registry import PRIVATE, command
from handlers.context import LEADERS, Call

#: The digest periods a leader may ask for (the digest service defines them).
from handlers.digests import KINDS as DIGEST_KINDS
from handlers.errors import BadInput, NotFound
from handlers.messages import OutgoingMessage


@command("digest", roles=LEADERS, where=PRIVATE)
def on_digest(call: Call) -> list[OutgoingMessage]:
    """Show the leader's 民情分析 for the period just ended (``/digest week|month|quarter``)."""
    kind = (call.args.split() or ["week"])[0].lower()
    if kind not in DIGEST_KINDS:
        raise BadInput(catalogue.DIGEST_USAGE)
    digests = call.services.digests
    if digests is None:  # pragma: no cover - the wiring always provides the digest service
        raise NotFound(catalogue.DIGEST_NO_SCOPE)
    replies = digests.for_leader(call.session, officer=call.officer, kind=kind, now=call.now)
    return [replace(call.answer(text), photo_ref=photo) for text, photo in replies]

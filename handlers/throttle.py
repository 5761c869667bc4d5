"""One throttle for every proof a user can guess at: ``/bind`` phone digits and addresses, ``/join`` codes.

A command that rejects a proof raises ``AttemptFailed``; the front door records the failure in the
message's own transaction *after* the command's savepoint is rolled back, so the refusal still
changes nothing else and a redelivered message is not counted twice. Before trying a proof, the
command calls ``check``: an account with too many failures of that kind in the window is refused
whatever it sends, right or wrong, until the oldest failure leaves the window.
"""

import math
from datetime import datetime

from sqlmodel import Session

from handlers import catalogue
from handlers.context import Call
from handlers.errors import BadInput, UserFacingError
from storage import households as store

BIND = "bind"
JOIN = "join"


class AttemptFailed(BadInput):
    """A proof that did not hold; counted against the account for ``kind``."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class TooManyAttempts(UserFacingError):
    pass


def check(call: Call, kind: str) -> None:
    """Refuse when the caller has used up their failed attempts of ``kind`` for now."""
    settings = call.services.settings
    since = call.now - settings.attempt_window
    count, earliest = store.failures_since(
        session=call.session, platform=call.msg.platform, user_id=call.msg.user_id, kind=kind, since=since
    )
    if count >= settings.attempt_limit and earliest is not None:
        wait = (earliest + settings.attempt_window - call.now).total_seconds() / 60
        raise TooManyAttempts(catalogue.TOO_MANY_ATTEMPTS.format(minutes=max(1, math.ceil(wait))))


def record(session: Session, *, platform: str, user_id: str, kind: str, at: datetime) -> None:
    store.record_failure(session=session, platform=platform, user_id=user_id, kind=kind, at=at)

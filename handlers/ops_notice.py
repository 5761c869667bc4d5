"""The admin's daily operations notice: grids nobody can be reached in, and messages that failed.

Sent once per local day however many scheduler processes run (a ``JobRun`` row per day), and only
when there is something to say.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from handlers import catalogue, jurisdiction
from handlers.cases import to_officer
from handlers.context import queue
from handlers.messages import OutgoingMessage
from storage import operations as ops
from storage.db import Database

JOB = "ops_notice"


def operations_notice(db: Database, *, now: datetime, zone: ZoneInfo) -> list[OutgoingMessage]:
    """Queue today's notice to every reachable admin (nothing when already sent today or all is well)."""
    with db.transaction() as session:
        if not ops.claim_job_run(session=session, job=JOB, period=now.astimezone(zone).date().isoformat(), at=now):
            return []
        lines = []
        grids = jurisdiction.grids_without_reachable_officer(session)
        if grids:
            lines.append(catalogue.UNREACHABLE_GRIDS.format(grids="、".join(grids)))
        waiting = ops.count_dead_letters(session=session)
        if waiting:
            lines.append(catalogue.DEAD_LETTERS_WAITING.format(count=waiting))
        if not lines:
            return []
        messages: list[OutgoingMessage] = []
        for admin in jurisdiction.operations_readers(session):
            messages += to_officer(session, admin, "\n".join(lines), kind="alert")
        queue(session, messages, now)
        return messages

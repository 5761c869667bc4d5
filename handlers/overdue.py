"""The overdue ladder: remind the assignee, then escalate, each alert exactly once.

Defaults from the design: at the deadline remind the assignee; at the deadline plus 50% of the
allowance escalate to the grid chief; at plus 100% to the community leader. A critical case alerts
the assignee and the chief at once, then the community leader, then the street leader. The same
ladder runs for the first-reply and the resolution deadline.

Exactly once: an ``AlertSent`` row (unique on case, kind, level) is inserted in the same transaction
as the outbox rows that carry the alert, so a restart, a second run or a second process that races
for the same alert writes nothing.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from analysis.taxonomy import Taxonomy
from handlers import catalogue
from handlers.clock import Clock
from handlers.deadlines import add_working_time
from handlers.jurisdiction import LADDER_FALLBACK, holders_of_role
from handlers.messages import OutgoingMessage
from storage import alerts
from storage import repositories as repo
from storage.alerts import FIRST_REPLY, RESOLUTION, OverdueCase
from storage.db import Database
from storage.models import Officer, Role

log = logging.getLogger(__name__)

DEADLINE_KINDS: tuple[str, ...] = (FIRST_REPLY, RESOLUTION)
ASSIGNEE = "assignee"


@dataclass(frozen=True, slots=True)
class Rung:
    """One step of the ladder: ``after`` is the fraction of the allowance past the deadline."""

    level: int
    after: float
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ladder:
    ordinary: tuple[Rung, ...]
    critical: tuple[Rung, ...]


def default_ladder(*, chief_after: float = 0.5, leader_after: float = 1.0) -> Ladder:
    return Ladder(
        ordinary=(
            Rung(1, 0.0, (ASSIGNEE,)),
            Rung(2, chief_after, (Role.GRID_CHIEF,)),
            Rung(3, leader_after, (Role.COMMUNITY_LEADER,)),
        ),
        critical=(
            Rung(1, 0.0, (ASSIGNEE, Role.GRID_CHIEF)),
            Rung(2, chief_after, (Role.COMMUNITY_LEADER,)),
            Rung(3, leader_after, (Role.STREET_LEADER,)),
        ),
    )


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert that was written to the outbox (for logs, the demo and tests)."""

    case_code: str
    kind: str
    level: int
    recipients: tuple[str, ...]
    messages: int
    text: str


def allowance(taxonomy: Taxonomy, *, kind: str, category: str, urgency: str) -> tuple[timedelta, bool] | None:
    """(time allowed, counted in working time) for a deadline, as ``handlers.deadlines`` set it."""
    try:
        level = taxonomy.urgency(urgency)
        rank = taxonomy.urgency_rank[urgency]
        if kind == FIRST_REPLY:
            return timedelta(minutes=level.first_reply_minutes), level.working_time
        if rank <= 1:
            return timedelta(hours=level.resolution_hours), level.working_time
        return timedelta(hours=taxonomy.category(category).resolution_hours), level.working_time
    except KeyError:  # the taxonomy changed since the case was filed
        return None


def rung_due(case: OverdueCase, rung: Rung, *, span: timedelta, working: bool, zone: ZoneInfo) -> datetime:
    """When ``rung`` fires for ``case``: its deadline plus a fraction of the allowance."""
    extra = span * rung.after
    if not extra:
        return case.due
    return add_working_time(case.due, extra, zone) if working else case.due + extra


class OverdueChecker:
    """Run by the scheduler every minute (the demo: every simulated hour)."""

    def __init__(
        self, *, db: Database, taxonomy: Taxonomy, clock: Clock, zone: ZoneInfo, ladder: Ladder | None = None
    ) -> None:
        self.db = db
        self.taxonomy = taxonomy
        self.clock = clock
        self.zone = zone
        self.ladder = ladder or default_ladder()
        self._critical = taxonomy.urgencies[0].code if taxonomy.urgencies else ""

    def check(self) -> list[AlertRecord]:
        """Send every alert that is due and not yet sent; returns what was written."""
        now = self.clock.now()
        written: list[AlertRecord] = []
        for kind in DEADLINE_KINDS:
            with self.db.session() as session:
                cases = alerts.overdue_cases(session=session, kind=kind, now=now)
                sent = alerts.sent_levels(session=session, kind=kind, case_ids=[c.id for c in cases])
            for case in cases:
                pending = self._reached(case, kind, now, sent.get(case.id, set()))
                if pending:
                    written += self._alert(case, kind, pending, now)
        return written

    def _reached(self, case: OverdueCase, kind: str, now: datetime, sent: set[int]) -> list[Rung]:
        """Unsent rungs that are due; stops at the first one that is not (rungs climb in time)."""
        rungs = self.ladder.critical if case.urgency == self._critical else self.ladder.ordinary
        found = allowance(self.taxonomy, kind=kind, category=case.category, urgency=case.urgency)
        span, working = found if found else (max(case.due - case.created_at, timedelta(0)), False)
        reached: list[Rung] = []
        for rung in sorted(rungs, key=lambda r: r.after):
            if rung.level in sent:
                continue
            if rung_due(case, rung, span=span, working=working, zone=self.zone) > now:
                break
            reached.append(rung)
        return reached

    def _alert(self, case: OverdueCase, kind: str, rungs: Sequence[Rung], now: datetime) -> list[AlertRecord]:
        written: list[AlertRecord] = []
        with self.db.transaction() as session:
            for rung in rungs:
                claimed = alerts.claim_alert(session=session, case_id=case.id, kind=kind, level=rung.level, at=now)
                if not claimed:
                    continue  # another run or process sent this one
                officers = self._recipients(session, case, rung.roles)
                assignee = repo.officer_by_id(session=session, officer_id=case.assignee_id)
                text = catalogue.overdue_alert(
                    kind=kind,
                    level=rung.level,
                    code=case.code,
                    category_name=self._category_name(case.category),
                    due=catalogue.local_time(case.due, self.zone),
                    late=catalogue.duration(_whole_minutes(now - case.due)),
                    assignee=assignee.name if assignee else "",
                    critical=case.urgency == self._critical,
                    history=self._history(session, case.id) if rung.level >= 3 else (),
                )
                messages = [
                    OutgoingMessage(identity.platform, identity.user_id, text, kind="alert")
                    for officer in officers
                    for identity in repo.identities_of_officer(session=session, officer_id=officer.id or 0)
                ]
                if not messages:
                    log.warning("overdue alert %s/%s/%s has nobody to go to", case.code, kind, rung.level)
                repo.queue_outgoing(session=session, rows=[m.outbox_row(now) for m in messages])
                written.append(
                    AlertRecord(case.code, kind, rung.level, tuple(o.name for o in officers), len(messages), text)
                )
        return written

    def _recipients(self, session: Session, case: OverdueCase, roles: Iterable[str]) -> list[Officer]:
        chosen: list[Officer] = []
        for role in roles:
            found = self._officers_in_role(session, case, role)
            if not found and role in LADDER_FALLBACK:
                # Nobody holds this rung: the alert goes to the next one up rather than nowhere.
                for higher in LADDER_FALLBACK[LADDER_FALLBACK.index(role) + 1 :]:
                    found = self._officers_in_role(session, case, higher)
                    if found:
                        break
            chosen += [o for o in found if o.id not in {c.id for c in chosen}]
        return chosen

    def _officers_in_role(self, session: Session, case: OverdueCase, role: str) -> Sequence[Officer]:
        if role == ASSIGNEE:
            officer = repo.officer_by_id(session=session, officer_id=case.assignee_id)
            return [officer] if officer is not None and officer.active else []
        return holders_of_role(session, role=role, grid_id=case.grid_id, community_id=case.community_id)

    def _history(self, session: Session, case_id: int) -> list[str]:
        """The case's events as the leader reads them in a 上报 alert."""
        return [
            f"{catalogue.local_time(e.at, self.zone)} "
            + (catalogue.EVENT_NAMES.get(e.kind) or catalogue.STATUS_NAMES.get(e.to_status or "", e.kind))
            + (f"：{e.detail[:60]}" if e.detail and not e.detail.startswith("assignee=") else "")
            for e in repo.events_of(session=session, case_id=case_id)
        ]

    def _category_name(self, code: str) -> str:
        try:
            return self.taxonomy.category(code).name
        except KeyError:
            return code


def _whole_minutes(delta: timedelta) -> timedelta:
    return timedelta(minutes=max(0, int(delta.total_seconds() // 60)))

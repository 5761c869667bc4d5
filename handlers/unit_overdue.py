"""The overdue ladder of the 吹哨报到 loop, and of leaders' 督办单: each alert exactly once.

Every step a unit holds a case has a deadline: sign in (报到), finish (办结), and then the grid
officer's on-site check (核实). Past a step's deadline the ladder climbs — 提醒 the unit's liaison at
the deadline, 督办 by the unit's head at +50 % of the step's allowance, 上报 to the street leader with
the case's history at +100 % (for the site check: the grid officer, the grid chief, the community
leader). As in ``handlers.overdue``, an ``AlertSent`` row written in the same transaction as the
alert's outbox rows makes each alert go once, across restarts and racing processes. An extension
or a sent-back result starts the completion step's ladder afresh (its alert key counts them).
"""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from handlers import catalogue, jurisdiction, units
from handlers.clock import Clock
from handlers.context import CoreSettings
from handlers.deadlines import add_working_time
from handlers.messages import OutgoingMessage
from handlers.overdue import AlertRecord
from storage import alerts
from storage import repositories as repo
from storage import units as store
from storage.db import Database
from storage.models import Officer, Role
from storage.units import WaitingStep

log = logging.getLogger(__name__)

#: Fractions of the step's allowance past its deadline at which levels 1, 2 and 3 fire.
RUNGS: tuple[tuple[int, float], ...] = ((1, 0.0), (2, 0.5), (3, 1.0))


def alert_kind(waiting: WaitingStep) -> str:
    """The AlertSent key of a step's ladder (≤ 16 characters): one ladder per step instance."""
    d = waiting.dispatch
    if waiting.step == "accept":
        return f"ua:{d.id}"
    if waiting.step == "done":
        return f"ud{d.extensions + d.sent_back}:{d.id}"
    return f"uv{d.sent_back}:{d.id}"


class UnitOverdueChecker:
    """Run with the overdue check (every minute; the demo: every simulated hour)."""

    def __init__(self, *, db: Database, clock: Clock, settings: CoreSettings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings

    def check(self) -> list[AlertRecord]:
        now = self.clock.now()
        written: list[AlertRecord] = []
        with self.db.session() as session:
            waiting = store.overdue_steps(session=session, now=now)
        for step in waiting:
            written += self._climb(step, now)
        written += self._supervisions(now)
        return written

    def _reached(self, session: Session, waiting: WaitingStep, now: datetime) -> list[int]:
        unit = store.unit_by_id(session=session, unit_id=waiting.dispatch.unit_id)
        span, working = units.step_allowance(self.settings, unit, waiting.step)
        levels = []
        for level, fraction in RUNGS:
            extra = span * fraction
            due = waiting.due if not extra else (
                add_working_time(waiting.due, extra, self.settings.zone) if working else waiting.due + extra
            )  # fmt: skip
            if due > now:
                break
            levels.append(level)
        return levels

    def _climb(self, waiting: WaitingStep, now: datetime) -> list[AlertRecord]:
        written: list[AlertRecord] = []
        kind = alert_kind(waiting)
        case_id = waiting.case.id or 0
        with self.db.transaction() as session:
            for level in self._reached(session, waiting, now):
                if not alerts.claim_alert(session=session, case_id=case_id, kind=kind, level=level, at=now):
                    continue
                people = self._recipients(session, waiting, level)
                text = self._text(session, waiting, level, now)
                messages = [
                    OutgoingMessage(identity.platform, identity.user_id, text, kind="alert")
                    for person in people
                    for identity in repo.identities_of_officer(session=session, officer_id=person.id or 0)
                ]
                if not messages:
                    log.warning("unit alert %s/%s/%s has nobody to go to", waiting.case.code, kind, level)
                repo.queue_outgoing(session=session, rows=[m.outbox_row(now) for m in messages])
                names = tuple(p.name for p in people)
                written.append(
                    AlertRecord(waiting.case.code or "", f"unit_{waiting.step}", level, names, len(messages), text)
                )
        return written

    def _recipients(self, session: Session, waiting: WaitingStep, level: int) -> Sequence[Officer]:
        case = waiting.case
        if waiting.step == "verify":
            if level == 1:
                assignee = repo.officer_by_id(session=session, officer_id=case.assignee_id)
                return [assignee] if assignee is not None and assignee.active else []
            roles = (Role.GRID_CHIEF, Role.COMMUNITY_LEADER) if level == 2 else (Role.COMMUNITY_LEADER,)
        else:
            unit_id = waiting.dispatch.unit_id
            if level == 1:
                return jurisdiction.unit_liaisons(session, unit_id)
            if level == 2 and (heads := jurisdiction.unit_heads(session, unit_id)):
                return heads
            roles = (Role.STREET_LEADER,)
        for role in roles:  # the first rung that has somebody
            found = jurisdiction.holders_of_role(
                session, role=role, grid_id=case.grid_id, community_id=case.community_id
            )
            if found:
                return found
        return []

    def _text(self, session: Session, waiting: WaitingStep, level: int, now: datetime) -> str:
        case, zone = waiting.case, self.settings.zone
        unit = store.unit_by_id(session=session, unit_id=waiting.dispatch.unit_id)
        if waiting.step == "verify":
            assignee = repo.officer_by_id(session=session, officer_id=case.assignee_id)
            who = assignee.name if assignee else ""
        else:
            who = units.people_names(jurisdiction.unit_liaisons(session, waiting.dispatch.unit_id))
        history = [
            f"{catalogue.local_time(e.at, zone)} {catalogue.EVENT_NAMES.get(e.kind, e.kind)}"
            + (f"：{e.detail[:60]}" if e.detail and not e.detail.startswith("assignee=") else "")
            for e in repo.events_of(session=session, case_id=case.id or 0)
        ]
        return catalogue.unit_overdue_alert(
            level=level, step=waiting.step, code=case.code or "", unit=unit.name if unit else "",
            due=catalogue.local_time(waiting.due, zone), late=catalogue.duration(_minutes(now - waiting.due)),
            who=who, history=history,
        )  # fmt: skip

    def _supervisions(self, now: datetime) -> list[AlertRecord]:
        """A 督办单 past its deadline: the assignee and the leader who sent it hear of it, once."""
        written: list[AlertRecord] = []
        with self.db.transaction() as session:
            for supervision, case in store.overdue_supervisions(session=session, now=now):
                kind = f"sv:{supervision.id}"
                if not alerts.claim_alert(session=session, case_id=case.id or 0, kind=kind, level=1, at=now):
                    continue
                text = catalogue.supervision_overdue(
                    case.code or "", catalogue.local_time(supervision.due, self.settings.zone), supervision.text
                )
                people = [
                    p
                    for p in (
                        repo.officer_by_id(session=session, officer_id=case.assignee_id),
                        repo.officer_by_id(session=session, officer_id=supervision.leader_id),
                    )
                    if p is not None and p.active
                ]
                rows = [
                    OutgoingMessage(i.platform, i.user_id, text, kind="alert").outbox_row(now)
                    for p in people
                    for i in repo.identities_of_officer(session=session, officer_id=p.id or 0)
                ]
                repo.queue_outgoing(session=session, rows=rows)
                names = tuple(p.name for p in people)
                written.append(AlertRecord(case.code or "", "supervision", 1, names, len(rows), text))
        return written


def _minutes(delta: timedelta) -> timedelta:
    return timedelta(minutes=max(0, int(delta.total_seconds() // 60)))

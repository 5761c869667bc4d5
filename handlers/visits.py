"""Visits that count (走街不漏户, issue 13): plans by household tag, and the households due a visit.

A plan says how often households with a tag are visited (独居老人 every 14 days); ``*`` is every
household (once a quarter by default). A household follows the most frequent plan among its tags.
Its next visit is due that long after its last one; a household never visited is due now. Each
grid officer is sent the week's list on Monday morning (once per officer and week), and asks for it
any time with ``/due``.
"""

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import catalogue
from handlers.context import queue
from handlers.messages import OutgoingMessage
from storage import households as store
from storage import repositories as repo
from storage.db import Database
from storage.models import Household, Role

EVERYONE = "*"
DEFAULT_PLANS = "独居老人=14;*=91"


@dataclass(frozen=True, slots=True)
class VisitPlan:
    tag: str  # a household tag, or "*" for every household
    every: timedelta


def parse_plans(text: str) -> tuple[VisitPlan, ...]:
    """``独居老人=14;低保户=30;*=91`` (days) → plans; raises ValueError saying what is wrong."""
    plans = []
    for part in unicodedata.normalize("NFKC", text).replace("；", ";").split(";"):
        if not part.strip():
            continue
        tag, _, days = part.partition("=")
        if not tag.strip() or not days.strip().isdigit() or int(days) < 1:
            raise ValueError(f"visit plan {part.strip()!r}: write TAG=DAYS, e.g. 独居老人=14 or *=91")
        plans.append(VisitPlan(tag.strip(), timedelta(days=int(days))))
    return tuple(plans)


def interval_for(tags: str, plans: tuple[VisitPlan, ...]) -> tuple[timedelta, str] | None:
    """How often this household is visited and the plan's tag, or None when no plan covers it."""
    own = {t for t in tags.split(";") if t}
    matching = [(plan.every, plan.tag) for plan in plans if plan.tag == EVERYONE or plan.tag in own]
    # The most frequent plan wins; of equal ones a named tag before "*".
    return min(matching, key=lambda m: (m[0], m[1] == EVERYONE), default=None)


@dataclass(frozen=True, slots=True)
class DueVisit:
    household: Household
    plan_tag: str
    last_visit: datetime | None
    due_at: datetime

    @property
    def address(self) -> str:
        unit = f"{self.household.unit}单元" if self.household.unit else ""
        return f"{self.household.building}幢{unit}{self.household.room}"


def due_visits(
    session: Session, *, grid_ids: list[int], plans: tuple[VisitPlan, ...], until: datetime
) -> list[DueVisit]:
    """The grids' households whose next visit falls due by ``until``, the longest overdue first."""
    due = []
    for household, last in store.households_with_last_visit(session=session, grid_ids=grid_ids):
        plan = interval_for(household.tags, plans)
        if plan is None:
            continue
        every, tag = plan
        due_at = last + every if last is not None else household.created_at
        if due_at <= until:
            due.append(DueVisit(household, tag, last, due_at))
    return sorted(due, key=lambda d: (d.due_at, d.household.id or 0))


def due_list_text(due: list[DueVisit], *, zone: ZoneInfo, limit: int = 30) -> str:
    """The officer's list: one line per household, the most overdue first."""
    if not due:
        return catalogue.NO_VISITS_DUE
    lines = [catalogue.VISITS_DUE_HEAD.format(count=len(due))]
    for item in due[:limit]:
        tag = "" if item.plan_tag == EVERYONE else f"（{item.plan_tag}）"
        last = item.last_visit.astimezone(zone).strftime("%m-%d") if item.last_visit else "从未走访"
        lines.append(f"· {item.address}{tag} 户主{item.household.head_name or '—'} · 上次：{last}")
    if len(due) > limit:
        lines.append(catalogue.VISITS_DUE_MORE.format(count=len(due) - limit))
    lines.append(catalogue.VISITS_DUE_FOOT)
    return "\n".join(lines)


def week_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """Monday 00:00 (local) of the week ``moment`` falls in, as an aware datetime."""
    local = moment.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday


def send_weekly_lists(db: Database, *, plans: tuple[VisitPlan, ...], zone: ZoneInfo, now: datetime) -> int:
    """Queue each grid officer's list of households due this week, once per officer and week.

    Returns how many lists were queued; running again in the same week queues nothing.
    """
    start = week_start(now, zone)
    queued: list[OutgoingMessage] = []
    with db.transaction() as session:
        for officer in repo.active_officers(session=session, roles=(Role.GRID_OFFICER,)):
            identities = repo.identities_of_officer(session=session, officer_id=officer.id or 0)
            if officer.grid_id is None or not identities:
                continue
            if not store.claim_visit_list(session=session, officer_id=officer.id or 0, week_start=start, at=now):
                continue
            due = due_visits(session, grid_ids=[officer.grid_id], plans=plans, until=start + timedelta(days=7))
            text = due_list_text(due, zone=zone)
            queued += [OutgoingMessage(i.platform, i.user_id, text, kind="notify") for i in identities]
        queue(session, queued, now)
    return len(queued)

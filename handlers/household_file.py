"""一户一档: one household's file as staff read it — members, tags, every case with its outcome, visits.

``household_file`` gathers it (for ``/household``, ``minqing households show`` and the exports);
``as_text`` is the chat and terminal rendering. Staff-only: it carries the head's name and phone.
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from analysis.taxonomy import Taxonomy
from handlers import catalogue
from handlers.errors import NotFound
from storage import households as store
from storage import repositories as repo
from storage.db import Database
from storage.models import Household


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    verified_via: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class CaseEntry:
    code: str
    filed_at: datetime
    category: str
    status: str
    outcome: str
    rating: str
    text: str


@dataclass(frozen=True, slots=True)
class VisitEntry:
    at: datetime
    officer: str
    note: str


@dataclass(frozen=True, slots=True)
class HouseholdFile:
    community_code: str
    community_name: str
    grid_code: str
    address: str
    head_name: str
    phone: str
    tags: tuple[str, ...]
    members: tuple[Member, ...]
    cases: tuple[CaseEntry, ...]
    visits: tuple[VisitEntry, ...]

    @property
    def satisfied(self) -> int:
        return sum(1 for c in self.cases if c.rating in ("满意", "基本满意"))

    @property
    def rated(self) -> int:
        return sum(1 for c in self.cases if c.rating)


def household_file(session: Session, household: Household, taxonomy: Taxonomy) -> HouseholdFile:
    community = repo.community_by_id(session=session, community_id=household.community_id)
    grid = repo.grid_by_id(session=session, grid_id=household.grid_id)
    unit = f"{household.unit}单元" if household.unit else ""
    names = {c.code: c.name for c in taxonomy.categories}
    cases = []
    for case, outcome in store.household_cases(session=session, household_id=household.id or 0):
        post = repo.post_of(session=session, case=case)
        cases.append(
            CaseEntry(
                code=case.code or "",
                filed_at=case.created_at,
                category=names.get(case.category, case.category),
                status=catalogue.STATUS_NAMES.get(case.status, case.status),
                outcome=outcome,
                rating=catalogue.RATING_NAMES.get(case.rating or "", ""),
                text=post.text,
            )
        )
    return HouseholdFile(
        community_code=community.code if community else "",
        community_name=community.name if community else "",
        grid_code=grid.code if grid else "",
        address=f"{household.building}幢{unit}{household.room}",
        head_name=household.head_name,
        phone=household.phone,
        tags=tuple(t for t in household.tags.split(";") if t),
        members=tuple(
            Member(identity.display_name, resident.verified_via, resident.verified_at)
            for resident, identity in store.members(session=session, household_id=household.id or 0)
        ),
        cases=tuple(cases),
        visits=tuple(
            VisitEntry(visit.at, officer.name if officer else "", visit.note)
            for visit, officer in store.household_visits(session=session, household_id=household.id or 0)
        ),
    )


def as_text(file: HouseholdFile, zone: ZoneInfo, *, max_cases: int = 20) -> str:
    """The file as a chat message (newest cases and visits first, at most ``max_cases`` of each)."""

    def day(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d")

    lines = [
        catalogue.HOUSEHOLD_HEAD.format(community=file.community_name, address=file.address, grid=file.grid_code),
        catalogue.HOUSEHOLD_HEAD_OF.format(name=file.head_name or "—", phone=file.phone or "—"),
        catalogue.HOUSEHOLD_TAGS.format(tags="、".join(file.tags) or "无"),
        catalogue.HOUSEHOLD_MEMBERS.format(
            count=len(file.members),
            names="、".join(
                f"{m.name or '未署名'}（{catalogue.VERIFIED_VIA_NAMES.get(m.verified_via, m.verified_via)}）"
                for m in file.members
            )
            or "无",
        ),
        catalogue.HOUSEHOLD_CASES.format(count=len(file.cases), satisfied=file.satisfied, rated=file.rated),
    ]
    for case in reversed(file.cases[-max_cases:]):
        outcome = f" · {case.outcome[:30]}" if case.outcome else ""
        rating = f" · 评价：{case.rating}" if case.rating else ""
        lines.append(f"  {day(case.filed_at)} {case.code} {case.category} · {case.status}{outcome}{rating}")
    lines.append(catalogue.HOUSEHOLD_VISITS.format(count=len(file.visits)))
    for visit in reversed(file.visits[-max_cases:]):
        lines.append(f"  {day(visit.at)} {visit.officer or '—'}：{visit.note[:40]}")
    return "\n".join(lines)


def file_for_address(db: Database, text: str, taxonomy: Taxonomy) -> HouseholdFile:
    """The file of the household ``text`` names (a community name or code may come first)."""
    from handlers.binding import find_household

    with db.transaction() as session:
        found = find_household(session, text)
        return household_file(session, found.household, taxonomy)


@dataclass(frozen=True, slots=True)
class Register:
    """一居一册: a community's households by grid, with their counts."""

    community_code: str
    community_name: str
    grids: dict[str, list[store.RegisterRow]]


def community_register(db: Database, community_code: str) -> Register:
    with db.transaction() as session:
        community = next((c for c in repo.communities(session=session) if c.code == community_code), None)
        if community is None:
            raise NotFound(catalogue.COMMUNITY_UNKNOWN.format(code=community_code))
        grids: dict[str, list[store.RegisterRow]] = {}
        for row in store.community_register(session=session, community_id=community.id or 0):
            grids.setdefault(row.grid_code, []).append(row)
        return Register(community.code, community.name, grids)

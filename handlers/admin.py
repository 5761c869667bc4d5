"""What the admin does from the command line: households, officers, groups, case listings."""

import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from analysis.address import extract_address
from handlers.admin_views import case_row
from handlers.onboarding import COLUMN_NAMES, check_phone
from handlers.unit_kinds import DEFAULT_UNIT_KINDS
from storage import admin as store
from storage import repositories as repo
from storage import units as unit_store
from storage.db import Database
from storage.models import (
    ChatGroup,
    Community,
    Grid,
    Household,
    InviteCode,
    Officer,
    Role,
    Street,
    Unit,
)

HOUSEHOLD_COLUMNS = ("community", "grid", "building", "unit", "room", "head_name", "phone", "tags")
REQUIRED_COLUMNS = ("community", "grid", "building", "room")
DEFAULT_STREET = "ST01"
# Invite codes avoid look-alike characters (0/O, 1/I/L) because officers type them by hand.
_INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _invite(session: Session, officer: Officer, expires_at: datetime) -> str:
    """A one-time invite code for ``officer`` (flushed so it has an id)."""
    session.flush()
    code = "".join(secrets.choice(_INVITE_ALPHABET) for _ in range(10))
    session.add(InviteCode(code=code, officer_id=officer.id or 0, expires_at=expires_at))
    return code


class AdminError(ValueError):
    """A command-line request that cannot be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    reason: str


class _DryRun(Exception):
    """Raised inside an import's transaction to roll a dry run back."""


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    rejected: list[RejectedRow] = field(default_factory=list)
    communities_created: list[str] = field(default_factory=list)
    grids_created: list[str] = field(default_factory=list)


def _clean(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _number_part(raw: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        raw = raw.removesuffix(suffix)
    return str(int(raw)) if raw.isdigit() else raw


def normalise_household_row(row: Mapping[str, object]) -> tuple[dict[str, str] | None, str]:
    """A clean household row, or None and the reason it was rejected (in Chinese, for the office)."""
    values = {key: _clean(row.get(key)) for key in HOUSEHOLD_COLUMNS}
    missing = [COLUMN_NAMES[key] for key in REQUIRED_COLUMNS if not values[key]]
    if missing:
        return None, f"缺少必填项：{'、'.join(missing)}"
    values["building"] = _number_part(values["building"], ("号楼", "幢", "栋", "号"))
    values["unit"] = _number_part(values["unit"], ("单元",))
    values["room"] = _number_part(values["room"], ("室", "号"))
    probe = extract_address(
        f"{values['building']}幢{values['unit'] + '单元' if values['unit'] else ''}{values['room']}室"
    )
    if probe is None or not probe.is_complete or not values["room"].isdigit():
        return None, f"住址无法识别：{values['building']}幢{values['unit']}单元{values['room']}"
    if len(values["community"]) > 32 or len(values["grid"]) > 32:
        return None, "社区或网格编号过长（最多32个字符）"
    phone, reason = check_phone(values["phone"])
    if phone is None:
        return None, reason
    values["phone"] = phone
    return values, ""


class Admin:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_street(self, session: Session, code: str = DEFAULT_STREET, name: str = "街道") -> Street:
        street = store.street_by_code(session=session, code=code)
        if street is None:
            street = Street(code=code, name=name)
            session.add(street)
            session.flush()
        return street

    def import_households(
        self,
        rows: Iterable[Mapping[str, object]],
        *,
        now: datetime,
        first_line: int = 2,
        progress: Iterator[None] | None = None,
        dry_run: bool = False,
    ) -> ImportReport:
        """Create or update households (and their communities and grids) in one transaction.

        Re-importing a file updates each household in place (keyed by community and address);
        ``dry_run`` works everything out, reports it, and rolls it all back.
        """
        report = ImportReport(dry_run=dry_run)
        try:
            with self.db.transaction() as session:
                self._import_rows(session, rows, report, now=now, first_line=first_line, progress=progress)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        return report

    def _import_rows(
        self,
        session: Session,
        rows: Iterable[Mapping[str, object]],
        report: ImportReport,
        *,
        now: datetime,
        first_line: int,
        progress: Iterator[None] | None,
    ) -> None:
        street = self.street_for_import(session)
        communities = store.communities_by_code(session=session)
        grids = store.grids_by_code(session=session)
        existing = store.households_by_address(session=session)
        seen: dict[tuple[int, str, str, str], int] = {}
        for offset, raw in enumerate(rows):
            if progress is not None:
                next(progress, None)
            line = first_line + offset
            values, reason = normalise_household_row(raw)
            if values is None:
                report.rejected.append(RejectedRow(line, reason))
                continue
            grid = self._grid_for_row(session, values, street, communities, grids, report)
            if grid is None:
                owner = next((c.code for c in communities.values() if c.id == grids[values["grid"]].community_id), "")
                report.rejected.append(
                    RejectedRow(line, f"网格 {values['grid']} 属于社区 {owner}，不属于 {values['community']}")
                )
                continue
            community = communities[values["community"]]
            key = (community.id or 0, values["building"], values["unit"], values["room"])
            if key in seen:
                report.rejected.append(RejectedRow(line, f"与第 {seen[key]} 行住址重复"))
                continue
            seen[key] = line
            household = existing.get(key)
            tags = ";".join(tag.strip() for tag in re.split(r"[;；,，、]", values["tags"]) if tag.strip())[:256]
            wanted = (grid.id or 0, values["head_name"][:64], values["phone"], tags)
            if household is None:
                household = Household(
                    community_id=key[0], grid_id=wanted[0], building=key[1], unit=key[2], room=key[3], created_at=now
                )
                report.imported += 1
            elif (household.grid_id, household.head_name, household.phone, household.tags) == wanted:
                report.unchanged += 1
                continue
            else:
                report.updated += 1
            household.grid_id, household.head_name, household.phone, household.tags = wanted
            session.add(household)

    def street_for_import(self, session: Session) -> Street:
        """The street new communities join: the only street there is, else the default one."""
        streets = repo.streets(session=session)
        return streets[0] if len(streets) == 1 else self.ensure_street(session)

    @staticmethod
    def _grid_for_row(
        session: Session,
        values: dict[str, str],
        street: Street,
        communities: dict[str, Community],
        grids: dict[str, Grid],
        report: ImportReport,
    ) -> Grid | None:
        """The row's grid, creating its community and grid when new; None if the grid is another community's."""
        community = communities.get(values["community"])
        if community is None:
            community = Community(code=values["community"], name=values["community"], street_id=street.id or 0)
            session.add(community)
            session.flush()
            communities[community.code] = community
            report.communities_created.append(community.code)
        grid = grids.get(values["grid"])
        if grid is None:
            grid = Grid(code=values["grid"], name=values["grid"], community_id=community.id or 0)
            session.add(grid)
            session.flush()
            grids[grid.code] = grid
            report.grids_created.append(grid.code)
        return grid if grid.community_id == community.id else None

    def add_officer(
        self, *, name: str, role: str, scope: str, now: datetime, invite_ttl: timedelta = timedelta(days=7)
    ) -> tuple[Officer, str]:
        """Create an officer and a one-time invite code for them."""
        if role not in {r.value for r in Role}:
            raise AdminError(f"unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}")
        if role in (Role.UNIT_LIAISON, Role.UNIT_HEAD):
            raise AdminError("unit liaisons and heads are invited with `minqing units invite UNIT`")
        if not name.strip():
            raise AdminError("name must not be empty")
        with self.db.transaction() as session:
            officer = Officer(name=name.strip()[:64], role=role, scope_code=scope, created_at=now)
            if role in (Role.GRID_OFFICER, Role.GRID_CHIEF):
                grid = repo.grid_by_code(session=session, code=scope)
                if grid is None:
                    raise AdminError(f"no grid with code {scope!r} (a {role} needs a grid scope)")
                officer.grid_id = grid.id
                officer.community_id = grid.community_id
            elif role == Role.COMMUNITY_LEADER:
                community = store.community_by_code(session=session, code=scope)
                if community is None:
                    raise AdminError(f"no community with code {scope!r}")
                officer.community_id = community.id
            else:
                street = store.street_by_code(session=session, code=scope)
                if street is None and role == Role.ADMIN:
                    street = self.ensure_street(session, scope)
                if street is None:
                    raise AdminError(f"no street with code {scope!r}")
                officer.street_id = street.id
            session.add(officer)
            code = _invite(session, officer, now + invite_ttl)
        return officer, code

    # ---------------------------------------------------------------- 吹哨报到 (issue 15): units

    def add_unit(
        self, *, name: str, kind: str, scope: str, now: datetime, invite_ttl: timedelta = timedelta(days=7)
    ) -> tuple[Unit, str]:
        """Create a department or outside unit serving a community or a street, and its liaison's invite."""
        if kind not in DEFAULT_UNIT_KINDS:
            raise AdminError(f"unknown unit kind {kind!r}; choose one of {', '.join(DEFAULT_UNIT_KINDS)}")
        name = name.strip()[:64]
        if not name:
            raise AdminError("name must not be empty")
        with self.db.transaction() as session:
            if unit_store.unit_by_code_or_name(session=session, key=name) is not None:
                raise AdminError(f"a unit named {name!r} exists already")
            unit = Unit(name=name, kind=kind, scope_code=scope, code="", created_at=now)
            community = store.community_by_code(session=session, code=scope)
            street = None if community else store.street_by_code(session=session, code=scope)
            if community is None and street is None:
                raise AdminError(f"no community or street with code {scope!r}")
            unit.community_id = community.id if community else None
            unit.street_id = street.id if street else None
            unit.code = f"{scope}-U{unit_store.units_in_scope(session=session, scope_code=scope) + 1:02d}"
            session.add(unit)
            session.flush()
            liaison = Officer(name=f"{name}联络员", role=Role.UNIT_LIAISON, scope_code=unit.code, unit_id=unit.id)
            liaison.created_at = now
            session.add(liaison)
            code = _invite(session, liaison, now + invite_ttl)
            session.expunge(unit)
        return unit, code

    def unit_invite(
        self, *, unit: str, head: bool, name: str, now: datetime, invite_ttl: timedelta = timedelta(days=7)
    ) -> str:
        """Another one-time invite for a unit's liaison, or for its head (the ladder's second rung)."""
        with self.db.transaction() as session:
            found = unit_store.unit_by_code_or_name(session=session, key=unit)
            if found is None:
                raise AdminError(f"no unit with code or name {unit!r}")
            role = Role.UNIT_HEAD if head else Role.UNIT_LIAISON
            person = Officer(
                name=(name.strip() or f"{found.name}{'负责人' if head else '联络员'}")[:64], role=role,
                scope_code=found.code, unit_id=found.id, created_at=now,
            )  # fmt: skip
            session.add(person)
            return _invite(session, person, now + invite_ttl)

    def list_units(self) -> list[dict[str, object]]:
        with self.db.transaction() as session:
            people = unit_store.unit_people_counts(session=session)
            return [
                {"code": u.code, "name": u.name, "kind": u.kind, "scope": u.scope_code, "active": u.active,
                 "people": people.get(u.id or 0, 0)}
                for u in unit_store.all_units(session=session)
            ]  # fmt: skip

    def link_group(self, *, platform: str, chat_id: str, community: str, title: str = "") -> ChatGroup:
        with self.db.transaction() as session:
            found = store.community_by_code(session=session, code=community)
            if found is None:
                raise AdminError(f"no community with code {community!r}")
            group = store.group_by_chat(session=session, platform=platform, chat_id=chat_id)
            if group is None:
                group = ChatGroup(platform=platform, chat_id=chat_id, community_id=found.id or 0, title=title)
            group.community_id = found.id or 0
            session.add(group)
        return group

    def labelled_history(self, *, include_unconfirmed: bool = False) -> Iterator[dict[str, str]]:
        """Posts with the labels officers stood behind, for retraining the model on this street's own words.

        A case's labels count as confirmed when an officer corrected its category (``/category``) or
        saw it through to resolution without correcting it; rejected and still-open cases keep only the
        model's guess and are left out unless ``include_unconfirmed``. Rows stream in batches, oldest
        case first, so a database of millions of cases is exported in little memory.
        """
        with self.db.transaction() as session:
            for text, category, intent, urgency, was_corrected in store.labelled_history(
                session=session, include_unconfirmed=include_unconfirmed
            ):
                yield {
                    "text": text,
                    "category": category,
                    "intent": intent,
                    "urgency": urgency,
                    "corrected": "yes" if was_corrected else "no",
                }

    def list_cases(self, *, status: str | None = None, limit: int | None = None) -> list[dict[str, object]]:
        """Cases with the fields of the command-line contract, newest first."""
        with self.db.transaction() as session:
            rows = store.case_listing(session=session, status=status, limit=limit)
            return [case_row(case, post, grid, h, officer) for case, post, grid, h, officer in rows]

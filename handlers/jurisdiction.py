"""Who covers what: the one place that says which officer sees, handles, is assigned or is told.

Every rule about scope lives here — an officer's reach over communities, grids and cases, the
digest scopes and their readers, who is next up the overdue ladder, and which officer a new case
goes to. Commands, intake, digests and alerts ask these functions; none of them decides scope alone.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from storage import operations as ops
from storage import repositories as repo
from storage import units as unit_store
from storage.models import Case, Officer, Role, Unit

#: Roles that hold a grid (their reach is that grid).
GRID_ROLES = frozenset({Role.GRID_OFFICER, Role.GRID_CHIEF})
#: People of a department or outside unit: their reach is the cases whistled to their unit.
UNIT_ROLES = frozenset({Role.UNIT_LIAISON, Role.UNIT_HEAD})


# ------------------------------------------------------------------------------------------ reach


def covers_community(session: Session, officer: Officer, community_id: int) -> bool:
    """May ``officer`` act in this community (its groups, its households)?"""
    if officer.role in UNIT_ROLES:
        return False
    if officer.role == Role.ADMIN:
        return True
    if officer.role == Role.STREET_LEADER:
        return repo.street_of_community(session=session, community_id=community_id) == officer.street_id
    if officer.role == Role.COMMUNITY_LEADER:
        return officer.community_id == community_id
    return repo.community_of_grid(session=session, grid_id=officer.grid_id) == community_id


def covers_grid(session: Session, officer: Officer, grid_id: int) -> bool:
    """May ``officer`` act for the households of this grid?"""
    if officer.role in GRID_ROLES:
        return officer.grid_id == grid_id
    community_id = repo.community_of_grid(session=session, grid_id=grid_id)
    return community_id is not None and covers_community(session, officer, community_id)


def grids_in_reach(session: Session, officer: Officer) -> list[int]:
    """The grids whose households ``officer`` acts for (issue 13: whose visits they plan)."""
    if officer.role in GRID_ROLES:
        return [officer.grid_id] if officer.grid_id is not None else []
    return [g.id or 0 for g in repo.grids(session=session) if covers_grid(session, officer, g.id or 0)]


def covers_case(session: Session, officer: Officer, case: Case) -> bool:
    """May ``officer`` see and handle this case? A street leader also holds cases not yet routed.

    A unit's liaison or head reaches a case only while it is with their unit.
    """
    if officer.role in UNIT_ROLES:
        return officer.unit_id is not None and case.unit_id == officer.unit_id
    if officer.role == Role.ADMIN:
        return True
    if officer.role == Role.STREET_LEADER:
        return case.community_id is None or covers_community(session, officer, case.community_id)
    if officer.role == Role.COMMUNITY_LEADER:
        return case.community_id is not None and case.community_id == officer.community_id
    return case.grid_id is not None and case.grid_id == officer.grid_id


def case_scope(officer: Officer) -> sa.ColumnElement[bool] | None:
    """The condition that restricts a case query to ``officer``'s reach (None: no restriction)."""
    if officer.role in UNIT_ROLES:
        return unit_store.cases_of_unit(unit_id=officer.unit_id)
    if officer.role == Role.ADMIN:
        return None
    if officer.role == Role.STREET_LEADER:
        return repo.cases_of_street(street_id=officer.street_id)
    if officer.role == Role.COMMUNITY_LEADER:
        return repo.cases_of_community(community_id=officer.community_id)
    return repo.cases_of_grid(grid_id=officer.grid_id)


# ------------------------------------------------------------------------------------------ assignment


def pick_assignee(session: Session, *, grid_id: int | None, community_id: int | None) -> Officer | None:
    """Who a new or transferred case goes to: only an officer a notice can reach (active and enrolled).

    The grid's officer with the fewest open cases, else its chief (same rule), else the community
    leader, else a street leader or admin: a case always has somebody when anybody can be reached.
    """
    if grid_id is not None:
        officers = repo.active_officers_of_grid(session=session, grid_id=grid_id, only_reachable=True)
        for role in (Role.GRID_OFFICER, Role.GRID_CHIEF):
            candidates = [officer for officer in officers if officer.role == role]
            if len(candidates) == 1:
                return candidates[0]
            if candidates:
                # Several officers share the grid: the one with the fewest open cases takes it.
                loads = repo.open_case_loads(session=session, officer_ids=[o.id or 0 for o in candidates])
                return min(candidates, key=lambda o: (loads.get(o.id or 0, 0), o.id or 0))
    if community_id is not None:
        leaders = repo.active_officers(
            session=session, roles=(Role.COMMUNITY_LEADER,), community_id=community_id, only_reachable=True
        )
        if leaders:
            return leaders[0]
    # A street leader before an admin, then the longest-serving.
    street_level = repo.active_officers(session=session, roles=(Role.STREET_LEADER, Role.ADMIN), only_reachable=True)
    return min(street_level, key=lambda o: (o.role != Role.STREET_LEADER, o.id or 0), default=None)


def household_stewards(session: Session, *, grid_id: int, community_id: int) -> Sequence[Officer]:
    """Who confirms that a resident belongs to a household (issue 13): the grid's officers and chiefs,
    else whoever a new case of that grid would go to."""
    stewards = [o for o in repo.active_officers_of_grid(session=session, grid_id=grid_id) if o.role in GRID_ROLES]
    if stewards:
        return stewards
    fallback = pick_assignee(session, grid_id=grid_id, community_id=community_id)
    return [fallback] if fallback is not None else []


def critical_copies(session: Session, *, grid_id: int | None) -> Sequence[Officer]:
    """Who hears of a critical case at once besides its assignee: the grid's chiefs."""
    if grid_id is None:
        return ()
    return repo.active_officers(session=session, roles=(Role.GRID_CHIEF,), grid_id=grid_id, only_reachable=True)


def grids_without_reachable_officer(session: Session) -> list[str]:
    """Codes of the grids where no active, enrolled grid officer or chief can take a case."""
    return ops.grids_without(session=session, roles=tuple(GRID_ROLES), condition=repo.reachable())


def operations_readers(session: Session) -> Sequence[Officer]:
    """Who hears of unreachable grids and failed messages: the admins who can be reached."""
    return repo.active_officers(session=session, roles=(Role.ADMIN,), only_reachable=True)


# ------------------------------------------------------------------------------------------ units


def unit_serves(session: Session, unit: Unit, community_id: int | None) -> bool:
    """Does the unit's scope (a community, or a whole street) include this community?"""
    if community_id is None:
        return unit.street_id is not None
    if unit.community_id is not None:
        return unit.community_id == community_id
    return repo.street_of_community(session=session, community_id=community_id) == unit.street_id


def unit_liaisons(session: Session, unit_id: int) -> Sequence[Officer]:
    """Who is told of a new whistle and reminded first: the liaisons, else the heads."""
    found = unit_store.unit_people(session=session, unit_id=unit_id, roles=(Role.UNIT_LIAISON,))
    return found or unit_store.unit_people(session=session, unit_id=unit_id, roles=(Role.UNIT_HEAD,))


def unit_heads(session: Session, unit_id: int) -> Sequence[Officer]:
    return unit_store.unit_people(session=session, unit_id=unit_id, roles=(Role.UNIT_HEAD,))


def extension_approvers(session: Session, case: Case) -> Sequence[Officer]:
    """Who approves a unit's request for more time: the grid's chiefs, else the community leaders."""
    found = holders_of_role(session, role=Role.GRID_CHIEF, grid_id=case.grid_id, community_id=case.community_id)
    return found or holders_of_role(
        session, role=Role.COMMUNITY_LEADER, grid_id=case.grid_id, community_id=case.community_id
    )


def may_approve_extension(session: Session, officer: Officer, case: Case) -> bool:
    """A grid chief of the case's grid, or a leader over it."""
    if officer.role == Role.GRID_OFFICER or officer.role in UNIT_ROLES:
        return False
    return covers_case(session, officer, case)


# ------------------------------------------------------------------------------------------ the ladder

#: Who is next up the ladder when a rung's role has nobody (a grid without a chief, say).
LADDER_FALLBACK: tuple[str, ...] = (Role.GRID_CHIEF, Role.COMMUNITY_LEADER, Role.STREET_LEADER)


def holders_of_role(session: Session, *, role: str, grid_id: int | None, community_id: int | None) -> Sequence[Officer]:
    """The active officers holding ``role`` over a case in this grid and community."""
    if role == Role.GRID_CHIEF:
        if grid_id is None:
            return ()
        return repo.active_officers(session=session, roles=(role,), grid_id=grid_id)
    if role == Role.COMMUNITY_LEADER:
        if community_id is None:
            return ()
        return repo.active_officers(session=session, roles=(role,), community_id=community_id)
    if role == Role.STREET_LEADER:
        street_id = repo.street_of_community(session=session, community_id=community_id) if community_id else None
        # An unrouted case has no street to narrow by: every street leader hears of it.
        return repo.active_officers(session=session, roles=(role,), street_id=street_id)
    return repo.active_officers(session=session, roles=(role,))


# ------------------------------------------------------------------------------------------ digest scopes


@dataclass(frozen=True, slots=True)
class Scope:
    """A community or a street, as a digest covers it; a street also holds cases not yet routed."""

    code: str
    name: str
    level: str  # "community" or "street"
    community_ids: tuple[int, ...]
    include_unrouted: bool = False

    def condition(self) -> sa.ColumnElement[bool]:
        return repo.cases_of_communities(community_ids=self.community_ids, include_unrouted=self.include_unrouted)


def scopes(session: Session) -> list[Scope]:
    """Every community, then every street (leaders receive their own scope's digest)."""
    streets = repo.streets(session=session)
    communities = repo.communities(session=session)
    found = [Scope(c.code, c.name, "community", (c.id or 0,)) for c in communities]
    for street in streets:
        ids = tuple(c.id or 0 for c in communities if c.street_id == street.id)
        # Unrouted cases belong to the street when there is only one street to blame.
        found.append(Scope(street.code, street.name, "street", ids, include_unrouted=len(streets) == 1))
    return found


def scope_of_officer(session: Session, officer: Officer) -> Scope | None:
    """The scope whose digest a leader reads: their community, else their street."""
    wanted: str | None = None
    if officer.role == Role.COMMUNITY_LEADER and officer.community_id is not None:
        wanted = repo.community_code(session=session, community_id=officer.community_id)
    elif officer.street_id is not None:
        wanted = repo.street_code(session=session, street_id=officer.street_id)
    return next((s for s in scopes(session) if s.code == wanted), None)


def digest_readers(session: Session, scope: Scope) -> Sequence[Officer]:
    """Who receives a scope's digest: its community leaders, or its street's leaders and admins."""
    if scope.level == "community":
        return repo.active_officers(session=session, roles=(Role.COMMUNITY_LEADER,), community_ids=scope.community_ids)
    street_id = repo.street_id_by_code(session=session, code=scope.code)
    if street_id is None:
        return ()
    return repo.active_officers(session=session, roles=(Role.STREET_LEADER, Role.ADMIN), street_id=street_id)

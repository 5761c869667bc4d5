"""吹哨报到: which unit a case goes to, each step's deadline, and how the unit's people are told.

A unit is named by its code or its name wherever a command takes one. The bot suggests a unit from
the case's category (its owning office in the taxonomy, and for property matters the estate's
property company) and the community the case is in.
"""

import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from analysis.taxonomy import Taxonomy
from handlers import catalogue, jurisdiction, lifecycle
from handlers.cases import to_officer, visible_case
from handlers.context import Actor, CoreSettings
from handlers.deadlines import add_working_time
from handlers.errors import BadInput, NotFound
from handlers.messages import OutgoingMessage
from handlers.unit_kinds import DEFAULT_UNIT_KINDS, UnitKind
from storage import repositories as repo
from storage import units as store
from storage.models import Case, Dispatch, Unit

#: Default hints from a category to the kind of outside unit that usually fixes it (a deployment's
#: taxonomy may use other codes: then only the owning office is used).
KIND_HINTS = {
    "property": "property",
    "public_security": "police",
    "city_order": "city_management",
    "market": "market",
    "facilities": "utility",
}


def unit_named(session: Session, key: str) -> Unit:
    """An active unit by code or name, or a refusal listing the units there are."""
    wanted = unicodedata.normalize("NFKC", key).strip()
    unit = store.unit_by_code_or_name(session=session, key=wanted)
    if unit is None or not unit.active:
        raise NotFound(catalogue.UNIT_NOT_FOUND.format(unit=wanted[:32], choices=unit_choices(session)))
    return unit


def unit_choices(session: Session) -> str:
    units = [u for u in store.all_units(session=session) if u.active]
    return "、".join(f"{u.name}（{u.code}）" for u in units[:20]) or catalogue.NO_UNITS


def suggest_unit(session: Session, taxonomy: Taxonomy, case: Case) -> Unit | None:
    """The unit a case most likely belongs to: a unit of the hinted kind serving the case's
    community (its own estate's first), else the department named as the category's office."""
    serving = store.units_serving(session=session, community_id=case.community_id)
    kind = KIND_HINTS.get(case.category)
    if kind is not None:
        for unit in serving:
            if unit.kind == kind:
                return unit
    try:
        office = taxonomy.category(case.category).office
    except KeyError:
        return None
    return next((u for u in serving if u.name == office or u.name.endswith(office)), None)


def kind_of(settings: CoreSettings, unit: Unit) -> UnitKind:
    return settings.unit_kinds.get(unit.kind) or DEFAULT_UNIT_KINDS["other"]


def after(settings: CoreSettings, start: datetime, span: timedelta, *, working: bool) -> datetime:
    return add_working_time(start, span, settings.zone) if working else start + span


def accept_due(settings: CoreSettings, unit: Unit, start: datetime) -> datetime:
    kind = kind_of(settings, unit)
    return after(settings, start, kind.accept, working=kind.working)


def done_due(settings: CoreSettings, unit: Unit, start: datetime) -> datetime:
    kind = kind_of(settings, unit)
    return after(settings, start, kind.done, working=kind.working)


def verify_due(settings: CoreSettings, start: datetime) -> datetime:
    return after(settings, start, settings.verify_allowance, working=True)


def step_allowance(settings: CoreSettings, unit: Unit | None, step: str) -> tuple[timedelta, bool]:
    """(time allowed, counted in working time) for a step of the loop."""
    if step == "verify" or unit is None:
        return settings.verify_allowance, True
    kind = kind_of(settings, unit)
    return (kind.accept if step == "accept" else kind.done), kind.working


def held_case(session: Session, actor: Actor, code: str, *, event: str, action: str) -> tuple[Case, Dispatch]:
    """A case within the actor's reach that a unit holds, whose dispatch allows ``event``."""
    case = visible_case(session, actor, code)
    dispatch = store.current_dispatch(session=session, case_id=case.id or 0)
    if dispatch is None:
        raise BadInput(catalogue.NOT_WITH_UNIT.format(code=case.code))
    if not lifecycle.unit_allows(dispatch.state, event):
        state = catalogue.UNIT_STATE_NAMES.get(dispatch.state, dispatch.state)
        raise BadInput(catalogue.UNIT_STEP_REFUSED.format(code=case.code, state=state, action=action))
    return case, dispatch


def to_unit(session: Session, unit_id: int, text: str, *, kind: str = "notify") -> list[OutgoingMessage]:
    """Private messages to the unit's liaisons (its heads when it has no liaison)."""
    messages: list[OutgoingMessage] = []
    for person in jurisdiction.unit_liaisons(session, unit_id):
        messages += to_officer(session, person, text, kind=kind)
    return messages


def to_assignee(session: Session, case: Case, text: str) -> list[OutgoingMessage]:
    assignee = repo.officer_by_id(session=session, officer_id=case.assignee_id)
    return to_officer(session, assignee, text, kind="notify") if assignee is not None else []


def place_of(session: Session, case: Case) -> str:
    """Where the matter is, for a unit: the address without the household head's name or phone."""
    household = repo.household_by_id(session=session, household_id=case.household_id)
    community = repo.community_by_id(session=session, community_id=case.community_id)
    prefix = community.name if community else ""
    if household is not None:
        unit = f"{household.unit}单元" if household.unit else ""
        return f"{prefix}{household.building}幢{unit}{household.room}"
    return f"{prefix}{case.address}" if case.address else (prefix or "未注明")


def people_names(people: Sequence[object]) -> str:
    return "、".join(str(getattr(p, "name", "")) for p in people)

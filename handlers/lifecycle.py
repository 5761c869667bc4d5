"""The case lifecycle: its states and every allowed transition, in one table.

A case's status changes only through ``move``, which checks the table and writes the case event
that records who did what; intake takes a new case's first state from ``filed_status``. The
README's state diagram is generated from ``TRANSITIONS`` (``mermaid()``) and a test keeps the two
equal, so the picture cannot drift from the code.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from storage import repositories as repo
from storage.models import OPEN_STATUSES, Case, CaseStatus, Dispatch, UnitState

S = CaseStatus
U = UnitState

#: Where a case waits for the community to act (the overdue ladder watches these).
OPEN: frozenset[CaseStatus] = frozenset(OPEN_STATUSES)
#: Statuses no transition reaches (none since the 吹哨报到 loop and merging arrived).
RESERVED: frozenset[CaseStatus] = frozenset()
#: Every status, for events that may be recorded whatever the case's state (an internal note).
ANY: frozenset[str] = frozenset(CaseStatus)
#: The pseudo-state before a case exists, as the diagram draws it.
NEW = "[*]"


@dataclass(frozen=True, slots=True)
class Transition:
    """``event`` moves a case from any of ``sources`` to ``target`` (None: the status stays)."""

    event: str
    sources: frozenset[str]
    target: CaseStatus | None
    by: str  # who triggers it: "intake", "officer" or "reporter"


#: Where the grid officer works the case; ``escalated`` (with a unit) has moves of its own.
_WORKING = frozenset(OPEN - RESERVED - {S.ESCALATED})
_WITH_UNIT = frozenset({S.ESCALATED})

TRANSITIONS: tuple[Transition, ...] = (
    Transition("filed", frozenset({NEW}), S.ASSIGNED, "intake"),
    Transition("filed", frozenset({NEW}), S.RECEIVED, "intake"),  # nobody active to assign it to
    Transition("replied", _WORKING, S.REPLIED, "officer"),
    Transition("resolved", _WORKING, S.RESOLVED, "officer"),
    Transition("transferred", _WORKING, S.TRANSFERRED, "officer"),
    Transition("rejected", _WORKING, S.REJECTED, "officer"),
    Transition("rated", frozenset({S.RESOLVED}), S.CLOSED, "reporter"),  # 满意 / 基本满意
    Transition("rated", frozenset({S.RESOLVED}), S.REOPENED, "reporter"),  # 不满意
    Transition("merged", _WORKING, S.MERGED, "officer"),  # a duplicate folded into another case
    Transition("unrated_closed", frozenset({S.RESOLVED}), S.CLOSED, "scheduler"),  # 未评价
    # 吹哨报到: the case is with a unit while ``escalated`` (the unit's own steps are UNIT_STEPS).
    Transition("whistled", _WORKING, S.ESCALATED, "officer"),
    Transition("returned", _WITH_UNIT, S.ASSIGNED, "unit"),  # 退单: back to the grid officer
    Transition("verified", _WITH_UNIT, S.RESOLVED, "officer"),  # 核实结项: the resident is asked to rate
    # Events that leave the status as it is, recorded in the same history.
    Transition("recategorised", _WORKING, None, "officer"),
    Transition("filed_by_officer", _WORKING, None, "officer"),
    Transition("replied", _WITH_UNIT, None, "officer"),  # telling the resident how it goes
    Transition("accepted", _WITH_UNIT, None, "unit"),
    Transition("extension_asked", _WITH_UNIT, None, "unit"),
    Transition("extension_approved", _WITH_UNIT, None, "officer"),
    Transition("unit_done", _WITH_UNIT, None, "unit"),
    Transition("sent_back", _WITH_UNIT, None, "officer"),
    Transition("note", ANY, None, "staff"),  # internal: never shown to residents
    Transition("supervised", OPEN, None, "leader"),  # 督办单: internal too
    Transition("handed_over", OPEN, None, "admin"),  # the assignee left; another officer takes it
    # The resident edited the post: an open case takes the new text, a finished one keeps it as a follow-up.
    Transition("edited", OPEN, None, "reporter"),
    Transition("follow_up", frozenset(ANY - OPEN), None, "reporter"),
)


@dataclass(frozen=True, slots=True)
class UnitStep:
    """``event`` moves a dispatch (吹哨单) from any of ``sources`` to ``target`` (None: it stays).

    The case's side of the same event is in ``TRANSITIONS`` (``whistled`` escalates the case,
    ``returned`` gives it back, ``verified`` resolves it); ``move_unit`` checks both tables.
    """

    event: str
    sources: frozenset[str]
    target: UnitState | None
    by: str  # "officer" (the grid officer), "unit" (its liaison or head) or "chief" (the grid chief)


UNIT_STEPS: tuple[UnitStep, ...] = (
    UnitStep("whistled", frozenset({NEW}), U.WHISTLED, "officer"),  # 吹哨
    UnitStep("accepted", frozenset({U.WHISTLED}), U.ACCEPTED, "unit"),  # 报到
    UnitStep("returned", frozenset({U.WHISTLED, U.ACCEPTED}), U.RETURNED, "unit"),  # 退单
    UnitStep("extension_asked", frozenset({U.ACCEPTED}), None, "unit"),
    UnitStep("extension_approved", frozenset({U.ACCEPTED}), None, "chief"),
    UnitStep("unit_done", frozenset({U.ACCEPTED}), U.DONE, "unit"),
    UnitStep("sent_back", frozenset({U.DONE}), U.ACCEPTED, "officer"),  # not fixed: back to the unit
    UnitStep("verified", frozenset({U.DONE}), U.VERIFIED, "officer"),  # 核实结项
)
#: Dispatch states in which the unit still holds the case.
UNIT_OPEN: frozenset[str] = frozenset({U.WHISTLED, U.ACCEPTED, U.DONE})


class IllegalTransition(RuntimeError):
    """A code path tried a move the table does not allow: a bug, never a user's mistake."""


def _find(status: str, event: str, target: CaseStatus | None) -> Transition | None:
    return next(
        (t for t in TRANSITIONS if t.event == event and status in t.sources and t.target == target),
        None,
    )


def unit_allows(state: str, event: str) -> bool:
    """May a dispatch in ``state`` take ``event``?"""
    return any(step.event == event and state in step.sources for step in UNIT_STEPS)


def move_unit(
    session: Session,
    case: Case,
    dispatch: Dispatch,
    *,
    event: str,
    detail: str,
    now: datetime,
    officer_id: int | None,
    case_to: CaseStatus | None = None,
) -> None:
    """Apply a 吹哨报到 step to the dispatch and the case, checking both tables; one case event."""
    state = NEW if dispatch.id is None else dispatch.state
    step = next((s for s in UNIT_STEPS if s.event == event and state in s.sources), None)
    if step is None:
        raise IllegalTransition(f"{case.code}: unit step {event} from {state}")
    if step.target is not None:
        dispatch.state = step.target
    session.add(dispatch)
    move(session, case, event=event, to=case_to, detail=detail, now=now, officer_id=officer_id)


def allows(status: str, event: str) -> bool:
    """May a case in ``status`` take ``event`` at all (to any target)? Commands ask before acting."""
    return any(t.event == event and status in t.sources for t in TRANSITIONS)


def filed_status(*, assigned: bool) -> CaseStatus:
    """The first state of a new case."""
    target = S.ASSIGNED if assigned else S.RECEIVED
    if _find(NEW, "filed", target) is None:  # pragma: no cover - the table above allows both
        raise IllegalTransition(f"filed -> {target}")
    return target


def move(
    session: Session,
    case: Case,
    *,
    event: str,
    to: CaseStatus | None = None,
    detail: str = "",
    now: datetime,
    officer_id: int | None = None,
    identity_id: int | None = None,
) -> None:
    """Apply ``event`` to ``case`` (to ``to``, or keeping its status) and record it in its history.

    ``updated_at`` moves too: the digests' packed days notice the change through it.
    """
    before = case.status
    if _find(before, event, to) is None:
        raise IllegalTransition(f"{case.code}: {event} from {before} to {to or before}")
    if to is not None:
        case.status = to
    case.updated_at = now
    session.add(case)
    repo.add_event(
        session=session,
        case_id=case.id or 0,
        to_status=case.status,
        kind=event,
        at=now,
        detail=detail,
        from_status=before,
        actor_officer_id=officer_id,
        actor_identity_id=identity_id,
    )


def record(
    session: Session,
    *,
    case_id: int,
    status: str,
    event: str,
    now: datetime,
    detail: str = "",
    officer_id: int | None = None,
) -> None:
    """Record an event that leaves the status as it is, for a case known by id (just filed, say)."""
    if _find(status, event, None) is None:
        raise IllegalTransition(f"case {case_id}: {event} in {status}")
    repo.add_event(
        session=session, case_id=case_id, to_status=status, kind=event, at=now, detail=detail,
        actor_officer_id=officer_id,
    )  # fmt: skip


def mermaid() -> str:
    """The state diagram of ``TRANSITIONS`` (Mermaid ``stateDiagram-v2``), as the README shows it.

    Moves allowed from every working state are drawn once, from a state named ``working``.
    """
    working = sorted(_WORKING)
    lines = [
        "stateDiagram-v2",
        f'    state "working: any of {", ".join(working)}" as working',
    ]
    seen: set[str] = set()
    for transition in TRANSITIONS:
        if transition.target is None:
            continue
        sources = ["working"] if transition.sources == _WORKING else sorted(transition.sources)
        for source in sources:
            line = f"    {source} --> {transition.target.value}: {transition.event}"
            if line not in seen:
                seen.add(line)
                lines.append(line)
    lines += [f"    {state.value} --> [*]" for state in (S.CLOSED, S.REJECTED, S.MERGED)]
    return "\n".join(lines)


def unit_mermaid() -> str:
    """The 吹哨单's own states (``UNIT_STEPS``), drawn like ``mermaid()``."""
    lines = ["stateDiagram-v2"]
    for step in UNIT_STEPS:
        if step.target is None:
            continue
        for source in sorted(step.sources):
            lines.append(f"    {source} --> {step.target.value}: {step.event}")
    lines += [f"    {state.value} --> [*]" for state in (U.RETURNED, U.VERIFIED)]
    return "\n".join(lines)

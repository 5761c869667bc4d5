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
from storage.models import OPEN_STATUSES, Case, CaseStatus

S = CaseStatus

#: Where a case waits for the community to act (the overdue ladder watches these).
OPEN: frozenset[CaseStatus] = frozenset(OPEN_STATUSES)
#: Reserved for the 吹哨报到 loop (escalation to a unit, merging duplicates): no transition reaches them yet.
RESERVED: frozenset[CaseStatus] = frozenset({S.ESCALATED, S.MERGED})
#: The pseudo-state before a case exists, as the diagram draws it.
NEW = "[*]"


@dataclass(frozen=True, slots=True)
class Transition:
    """``event`` moves a case from any of ``sources`` to ``target`` (None: the status stays)."""

    event: str
    sources: frozenset[str]
    target: CaseStatus | None
    by: str  # who triggers it: "intake", "officer" or "reporter"


_WORKING = frozenset(OPEN - RESERVED)

TRANSITIONS: tuple[Transition, ...] = (
    Transition("filed", frozenset({NEW}), S.ASSIGNED, "intake"),
    Transition("filed", frozenset({NEW}), S.RECEIVED, "intake"),  # nobody active to assign it to
    Transition("replied", _WORKING, S.REPLIED, "officer"),
    Transition("resolved", _WORKING, S.RESOLVED, "officer"),
    Transition("transferred", _WORKING, S.TRANSFERRED, "officer"),
    Transition("rejected", _WORKING, S.REJECTED, "officer"),
    Transition("rated", frozenset({S.RESOLVED}), S.CLOSED, "reporter"),  # 满意 / 基本满意
    Transition("rated", frozenset({S.RESOLVED}), S.REOPENED, "reporter"),  # 不满意
    # Events that leave the status as it is, recorded in the same history.
    Transition("recategorised", _WORKING, None, "officer"),
    Transition("filed_by_officer", _WORKING, None, "officer"),
)


class IllegalTransition(RuntimeError):
    """A code path tried a move the table does not allow: a bug, never a user's mistake."""


def _find(status: str, event: str, target: CaseStatus | None) -> Transition | None:
    return next(
        (t for t in TRANSITIONS if t.event == event and status in t.sources and t.target == target),
        None,
    )


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
    lines += [f"    {state.value} --> [*]" for state in (S.CLOSED, S.REJECTED)]
    return "\n".join(lines)

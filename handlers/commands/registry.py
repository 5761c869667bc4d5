"""The one command table: each command's name, who may use it, where, and the function that runs it.

Command rooms (``common``, ``resident``, ``officer``, ``leader``) register their commands here with
``@command``; the dispatcher checks role and chat type from the table before running anything, so
a refusal never reaches a command's body.
"""

from collections.abc import Callable
from dataclasses import dataclass

from handlers.context import EVERYONE, LEADERS, OFFICERS, RESIDENTS, STAFF, UNIT_ROLES, Call
from handlers.messages import OutgoingMessage

Run = Callable[[Call], list[OutgoingMessage]]

ANYWHERE = "any"
PRIVATE = "private"
GROUP = "group"


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    run: Run
    roles: frozenset[str]
    where: str  # ANYWHERE, PRIVATE or GROUP
    #: The first line of the function's docstring: what the command is for.
    summary: str


COMMANDS: dict[str, Command] = {}


def command(name: str, *, roles: frozenset[str], where: str) -> Callable[[Run], Run]:
    """Register the decorated function as ``/name`` for ``roles`` in chats of kind ``where``."""

    def register(run: Run) -> Run:
        if name in COMMANDS:  # pragma: no cover - a programming error caught at import
            raise ValueError(f"/{name} registered twice")
        summary = (run.__doc__ or "").strip().split("\n", 1)[0]
        COMMANDS[name] = Command(name, run, roles, where, summary)
        return run

    return register


_WHERE = {ANYWHERE: "any chat", PRIVATE: "private chat", GROUP: "group, replying to a message"}


def markdown_table(roles_named: dict[frozenset[str], str] | None = None) -> str:
    """The README's command table, generated from ``COMMANDS`` so the two cannot disagree.

    Rows follow the order of ``roles_named`` (e.g. everyone, residents, officers, leaders).
    """
    roles_named = roles_named or {
        EVERYONE: "everyone",
        RESIDENTS: "residents",
        STAFF: "staff",
        OFFICERS: "officers",
        UNIT_ROLES: "units",
        LEADERS: "leaders",
    }
    order = list(roles_named)
    lines = ["| command | who | where | what it does |", "| --- | --- | --- | --- |"]
    for spec in sorted(COMMANDS.values(), key=lambda c: order.index(c.roles) if c.roles in order else len(order)):
        who = roles_named.get(spec.roles, ", ".join(sorted(spec.roles)))
        summary = spec.summary.replace("``", "`").replace("|", "\\|")
        lines.append(f"| `/{spec.name}` | {who} | {_WHERE[spec.where]} | {summary} |")
    return "\n".join(lines)

"""Commands everyone has: greeting, help, and one case's details."""

from handlers import catalogue
from handlers.cases import visible_case
from handlers.commands.registry import ANYWHERE, PRIVATE, command
from handlers.context import EVERYONE, Call
from handlers.errors import BadInput
from handlers.messages import OutgoingMessage
from storage import repositories as repo


@command("start", roles=EVERYONE, where=ANYWHERE)
def on_start(call: Call) -> list[OutgoingMessage]:
    """Greet the user: an officer by name and role, anyone else as a resident."""
    officer = call.actor.officer
    if officer is not None:
        return [
            call.answer(catalogue.WELCOME_OFFICER.format(name=officer.name, role=catalogue.ROLE_NAMES[call.actor.role]))
        ]
    return [call.answer(catalogue.WELCOME_RESIDENT)]


@command("help", roles=EVERYONE, where=ANYWHERE)
def on_help(call: Call) -> list[OutgoingMessage]:
    """List the commands this user can use."""
    if call.actor.officer is None:
        return [call.answer(catalogue.HELP["resident"])]
    return [call.answer(catalogue.HELP["unit" if call.actor.officer.unit_id is not None else "officer"])]


@command("case", roles=EVERYONE, where=PRIVATE)
def on_case(call: Call) -> list[OutgoingMessage]:
    """Show one case with its history (``/case CODE``), if the user may see it."""
    code = call.args.split(maxsplit=1)[0] if call.args else ""
    if not code:
        raise BadInput(catalogue.USAGE["case"])
    session, zone = call.session, call.services.settings.zone
    case = visible_case(session, call.actor, code)
    post = repo.post_of(session=session, case=case)
    staff = call.actor.officer is not None
    history = [
        f"{catalogue.local_time(e.at, zone)} " + _event_text(e.kind, e.to_status, e.detail, staff=staff)
        for e in repo.events_of(session=session, case_id=case.id or 0)
        # Internal notes, 督办 and the units' own steps are for staff only.
        if staff or e.kind not in catalogue.INTERNAL_EVENTS
    ]
    text = catalogue.case_detail(
        code=case.code or "",
        status=case.status,
        category_name=call.services.taxonomy.category(case.category).name,
        urgency=case.urgency,
        created=catalogue.local_time(case.created_at, zone),
        text=post.text[:1000],
        history=history,
    )
    return [call.answer(text)]


def _event_text(kind: str, to_status: str | None, detail: str, *, staff: bool) -> str:
    if not staff and kind in catalogue.RESIDENT_EVENT_TEXT:
        return catalogue.RESIDENT_EVENT_TEXT[kind]
    name = catalogue.EVENT_NAMES.get(kind) or catalogue.STATUS_NAMES.get(to_status or "", kind)
    return name + (f"：{detail}" if detail and not detail.startswith("assignee=") else "")

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
    return [call.answer(catalogue.HELP["resident" if call.actor.officer is None else "officer"])]


@command("case", roles=EVERYONE, where=PRIVATE)
def on_case(call: Call) -> list[OutgoingMessage]:
    """Show one case with its history (``/case CODE``), if the user may see it."""
    code = call.args.split(maxsplit=1)[0] if call.args else ""
    if not code:
        raise BadInput(catalogue.USAGE["case"])
    session, zone = call.session, call.services.settings.zone
    case = visible_case(session, call.actor, code)
    post = repo.post_of(session=session, case=case)
    history = [
        f"{catalogue.local_time(e.at, zone)} "
        + (catalogue.EVENT_NAMES.get(e.kind) or catalogue.STATUS_NAMES.get(e.to_status or "", e.kind))
        + (f"：{e.detail}" if e.detail and not e.detail.startswith("assignee=") else "")
        for e in repo.events_of(session=session, case_id=case.id or 0)
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

"""Commands every member of staff has, the community's and the units' alike: internal notes."""

from handlers import catalogue, lifecycle
from handlers.cases import to_officer, two_args, visible_case
from handlers.commands.registry import PRIVATE, command
from handlers.context import STAFF, Call
from handlers.messages import OutgoingMessage
from storage import repositories as repo
from storage import units as store


@command("note", roles=STAFF, where=PRIVATE)
def on_note(call: Call) -> list[OutgoingMessage]:
    """Add an internal note to a case (``/note CODE 内容``): staff see it, residents never do."""
    code, text = two_args(call.args, catalogue.USAGE["note"])
    session, author = call.session, call.officer
    case = visible_case(session, call.actor, code)
    lifecycle.move(session, case, event="note", detail=text, now=call.now, officer_id=author.id)
    notice = catalogue.note_to_staff(case.code or "", author.name, text)
    readers = [repo.officer_by_id(session=session, officer_id=case.assignee_id)]
    if case.unit_id is not None:
        readers += list(store.unit_people(session=session, unit_id=case.unit_id, roles=("unit_liaison",)))
    messages = [call.answer(catalogue.NOTE_OK.format(code=case.code))]
    seen = {author.id}
    for reader in readers:
        if reader is not None and reader.id not in seen:
            seen.add(reader.id)
            messages += to_officer(session, reader, notice, kind="notify")
    return messages

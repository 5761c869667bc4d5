"""Commands for leaders (community and street leaders, the admin)."""

from dataclasses import replace
from datetime import timedelta

from handlers import catalogue, lifecycle
from handlers.cases import case_to_act_on, to_officer, two_args
from handlers.commands.registry import PRIVATE, command
from handlers.context import LEADERS, Call
from handlers.deadlines import add_working_time

#: The digest periods a leader may ask for (the digest service defines them).
from handlers.digests import KINDS as DIGEST_KINDS
from handlers.errors import BadInput, NotFound
from handlers.messages import OutgoingMessage
from storage import repositories as repo
from storage import units as store


@command("digest", roles=LEADERS, where=PRIVATE)
def on_digest(call: Call) -> list[OutgoingMessage]:
    """Show the leader's 民情分析 for the period just ended (``/digest week|month|quarter``)."""
    kind = (call.args.split() or ["week"])[0].lower()
    if kind not in DIGEST_KINDS:
        raise BadInput(catalogue.DIGEST_USAGE)
    digests = call.services.digests
    if digests is None:  # pragma: no cover - the wiring always provides the digest service
        raise NotFound(catalogue.DIGEST_NO_SCOPE)
    replies = digests.for_leader(call.session, officer=call.officer, kind=kind, now=call.now)
    return [replace(call.answer(text), photo_ref=photo) for text, photo in replies]


@command("supervise", roles=LEADERS, where=PRIVATE)
def on_supervise(call: Call) -> list[OutgoingMessage]:
    """Send the assignee a 督办单 with a deadline (``/supervise CODE [天数] 要求``); never shown to residents.

    The deadline is counted in working days (one by default).
    """
    code, rest = two_args(call.args, catalogue.USAGE["supervise"])
    days, _, text = rest.partition(" ")
    if not days.isdigit():
        days, text = "1", rest
    if not 1 <= int(days) <= 30:
        raise BadInput(catalogue.SUPERVISE_DAYS)
    if not text.strip():
        raise BadInput(catalogue.USAGE["supervise"])
    session, zone = call.session, call.services.settings.zone
    case = case_to_act_on(session, call.actor, code, event="supervised", action="督办")
    assignee = repo.officer_by_id(session=session, officer_id=case.assignee_id)
    if assignee is None:
        raise BadInput(catalogue.NOBODY_TO_SUPERVISE.format(code=case.code))
    due = add_working_time(call.now, timedelta(days=int(days)), zone)
    store.add_supervision(
        session=session, case_id=case.id or 0, leader_id=call.officer.id or 0, text=text.strip(), due=due, at=call.now
    )
    shown = catalogue.local_time(due, zone)
    lifecycle.move(
        session, case, event="supervised", detail=f"{text.strip()}（时限 {shown}）", now=call.now,
        officer_id=call.officer.id,
    )  # fmt: skip
    notice = catalogue.supervision_to_assignee(case.code or "", call.officer.name, text.strip(), shown)
    return [
        call.answer(catalogue.SUPERVISED_OK.format(code=case.code, due=shown)),
        *to_officer(session, assignee, notice, kind="notify"),
    ]

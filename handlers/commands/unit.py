"""Commands of a unit's liaison or head (吹哨报到): sign in, return, report done, ask for more time.

A liaison reaches only the cases whistled to their own unit (``jurisdiction.covers_case``).
"""

from handlers import catalogue, jurisdiction, lifecycle, units
from handlers.cases import to_officer, two_args
from handlers.commands.registry import PRIVATE, command
from handlers.context import UNIT_ROLES, Call
from handlers.errors import BadInput
from handlers.messages import OutgoingMessage
from storage import units as store
from storage.models import CaseStatus


def _unit_name(call: Call, unit_id: int) -> str:
    unit = store.unit_by_id(session=call.session, unit_id=unit_id)
    return unit.name if unit else ""


@command("accept", roles=UNIT_ROLES, where=PRIVATE)
def on_accept(call: Call) -> list[OutgoingMessage]:
    """Sign in to a case whistled to the unit (报到, ``/accept CODE``); its completion deadline starts."""
    code = (call.args.split() or [""])[0]
    if not code:
        raise BadInput(catalogue.USAGE["accept"])
    session, settings = call.session, call.services.settings
    case, dispatch = units.held_case(session, call.actor, code, event="accepted", action="报到")
    unit = store.unit_by_id(session=session, unit_id=dispatch.unit_id)
    dispatch.accepted_at = call.now
    dispatch.done_due = units.done_due(settings, unit, call.now) if unit else call.now
    lifecycle.move_unit(
        session, case, dispatch, event="accepted", detail=f"{unit.name if unit else ''}·{call.officer.name}",
        now=call.now, officer_id=call.officer.id,
    )  # fmt: skip
    due = catalogue.local_time(dispatch.done_due, settings.zone)
    notice = catalogue.accepted_to_officer(case.code or "", unit.name if unit else "", due)
    return [
        call.answer(catalogue.ACCEPTED_OK.format(code=case.code, due=due)),
        *units.to_assignee(session, case, notice),
    ]


@command("return", roles=UNIT_ROLES, where=PRIVATE)
def on_return(call: Call) -> list[OutgoingMessage]:
    """Hand a case back to the grid officer when it is not the unit's to handle (退单, ``/return CODE 原因``)."""
    code, reason = two_args(call.args, catalogue.USAGE["return"])
    session = call.session
    case, dispatch = units.held_case(session, call.actor, code, event="returned", action="退单")
    name = _unit_name(call, dispatch.unit_id)
    dispatch.finished_at = call.now
    case.unit_id = None
    lifecycle.move_unit(
        session, case, dispatch, event="returned", detail=f"{name}：{reason}", now=call.now,
        officer_id=call.officer.id, case_to=CaseStatus.ASSIGNED,
    )  # fmt: skip
    notice = catalogue.returned_to_officer(case.code or "", name, reason)
    return [call.answer(catalogue.RETURNED_OK.format(code=case.code)), *units.to_assignee(session, case, notice)]


@command("done", roles=UNIT_ROLES, where=PRIVATE)
def on_done(call: Call) -> list[OutgoingMessage]:
    """Report the unit's work done (``/done CODE 说明``); the grid officer then verifies it on site."""
    code, text = two_args(call.args, catalogue.USAGE["done"])
    session, settings = call.session, call.services.settings
    case, dispatch = units.held_case(session, call.actor, code, event="unit_done", action="报办结")
    dispatch.done_at = call.now
    dispatch.verify_due = units.verify_due(settings, call.now)
    lifecycle.move_unit(
        session, case, dispatch, event="unit_done", detail=text, now=call.now, officer_id=call.officer.id,
    )  # fmt: skip
    due = catalogue.local_time(dispatch.verify_due, settings.zone)
    notice = catalogue.done_to_officer(case.code or "", _unit_name(call, dispatch.unit_id), text, due)
    return [call.answer(catalogue.DONE_OK.format(code=case.code)), *units.to_assignee(session, case, notice)]


@command("extend", roles=UNIT_ROLES, where=PRIVATE)
def on_extend(call: Call) -> list[OutgoingMessage]:
    """Ask for more time (``/extend CODE 天数 原因``); the grid chief grants it with ``/grant``."""
    parts = call.args.split(maxsplit=2)
    if len(parts) < 3:
        raise BadInput(catalogue.USAGE["extend"])
    code, days_text, reason = parts
    if not days_text.isdigit() or not 1 <= int(days_text) <= 30:
        raise BadInput(catalogue.EXTENSION_DAYS)
    days, session = int(days_text), call.session
    case, dispatch = units.held_case(session, call.actor, code, event="extension_asked", action="申请延期")
    dispatch.extension_asked = days
    dispatch.extension_reason = reason[:200]
    lifecycle.move_unit(
        session, case, dispatch, event="extension_asked", detail=f"{days}天：{reason}", now=call.now,
        officer_id=call.officer.id,
    )  # fmt: skip
    notice = catalogue.extension_to_approver(case.code or "", _unit_name(call, dispatch.unit_id), days, reason)
    messages = [call.answer(catalogue.EXTEND_ASKED_OK.format(days=days))]
    for approver in jurisdiction.extension_approvers(session, case):
        messages += to_officer(session, approver, notice, kind="notify")
    return messages

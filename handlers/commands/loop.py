"""吹哨报到 as the grid officer drives it: whistle a case to a unit, grant more time, verify the result.

The unit's own side (sign in, return, report done, ask for time) is in ``unit``; every step moves
the case and its dispatch through ``lifecycle.move_unit``.
"""

from datetime import timedelta

from handlers import catalogue, jurisdiction, lifecycle, units
from handlers.cases import case_to_act_on, rating_buttons, to_posters, two_args
from handlers.commands.registry import PRIVATE, command
from handlers.context import OFFICERS, Call
from handlers.errors import BadInput, PermissionDenied
from handlers.messages import OutgoingMessage
from handlers.privacy import redact_for_group
from storage import repositories as repo
from storage import units as store
from storage.models import CaseStatus, Dispatch


@command("whistle", roles=OFFICERS, where=PRIVATE)
def on_whistle(call: Call) -> list[OutgoingMessage]:
    """Hand a case to a department or outside unit (吹哨, ``/whistle CODE UNIT 原因``); ``/whistle CODE`` suggests one.

    The unit is named by its code or name; its liaisons are told and must sign in (``/accept``) in time.
    """
    session, settings = call.session, call.services.settings
    parts = call.args.split(maxsplit=2)
    if not parts:
        raise BadInput(catalogue.USAGE["whistle"])
    case = case_to_act_on(session, call.actor, parts[0], event="whistled", action="吹哨")
    category = call.services.taxonomy.category(case.category).name
    if len(parts) == 1:
        suggested = units.suggest_unit(session, call.services.taxonomy, case)
        if suggested is None:
            return [
                call.answer(catalogue.UNIT_NO_SUGGESTION.format(code=case.code, choices=units.unit_choices(session)))
            ]
        return [
            call.answer(
                catalogue.UNIT_SUGGESTED.format(
                    code=case.code, category=category, unit=suggested.name, unit_code=suggested.code
                )
            )
        ]
    if len(parts) < 3:
        raise BadInput(catalogue.USAGE["whistle"])
    unit, reason = units.unit_named(session, parts[1]), parts[2].strip()
    if not jurisdiction.unit_serves(session, unit, case.community_id):
        raise BadInput(catalogue.UNIT_NOT_SERVING.format(unit=unit.name))
    dispatch = Dispatch(
        case_id=case.id or 0, unit_id=unit.id or 0, reason=reason, whistled_by=call.officer.id,
        whistled_at=call.now, accept_due=units.accept_due(settings, unit, call.now),
    )  # fmt: skip
    case.unit_id = unit.id
    lifecycle.move_unit(
        session, case, dispatch, event="whistled", detail=f"{unit.name}：{reason}", now=call.now,
        officer_id=call.officer.id, case_to=CaseStatus.ESCALATED,
    )  # fmt: skip
    due = catalogue.local_time(dispatch.accept_due, settings.zone)
    post = repo.post_of(session=session, case=case)
    notice = catalogue.whistle_to_unit(
        code=case.code or "", category_name=category, place=units.place_of(session, case),
        text=redact_for_group(post.text[:300], ()), reason=reason, officer=call.officer.name, due=due,
    )  # fmt: skip
    return [
        call.answer(catalogue.WHISTLED_OK.format(code=case.code, unit=unit.name, due=due)),
        *units.to_unit(session, unit.id or 0, notice),
    ]


@command("grant", roles=OFFICERS, where=PRIVATE)
def on_grant(call: Call) -> list[OutgoingMessage]:
    """Grant a unit's request for more time (``/grant CODE``, 批准延期); grid chiefs and leaders only."""
    code = (call.args.split() or [""])[0]
    if not code:
        raise BadInput(catalogue.USAGE["grant"])
    session, settings = call.session, call.services.settings
    case, dispatch = units.held_case(session, call.actor, code, event="extension_approved", action="批准延期")
    if not jurisdiction.may_approve_extension(session, call.officer, case):
        raise PermissionDenied(catalogue.APPROVER_ONLY)
    if dispatch.extension_asked <= 0:
        raise BadInput(catalogue.NO_EXTENSION_ASKED.format(code=case.code))
    days = dispatch.extension_asked
    dispatch.done_due = units.after(settings, dispatch.done_due or call.now, timedelta(days=days), working=True)
    dispatch.extensions += 1
    dispatch.extension_asked = 0
    lifecycle.move_unit(
        session, case, dispatch, event="extension_approved", detail=f"{days}天", now=call.now,
        officer_id=call.officer.id,
    )  # fmt: skip
    due = catalogue.local_time(dispatch.done_due, settings.zone)
    return [
        call.answer(catalogue.APPROVED_OK.format(code=case.code, days=days, due=due)),
        *units.to_unit(session, dispatch.unit_id, catalogue.approved_to_unit(case.code or "", days, due)),
    ]


@command("verify", roles=OFFICERS, where=PRIVATE)
def on_verify(call: Call) -> list[OutgoingMessage]:
    """Verify on site what the unit reported done (核实结项, ``/verify CODE 说明``); the resident is asked to rate."""
    code, text = two_args(call.args, catalogue.USAGE["verify"])
    session = call.session
    case, dispatch = units.held_case(session, call.actor, code, event="verified", action="核实结项")
    dispatch.finished_at = call.now
    case.unit_id = None
    case.resolved_at = call.now
    case.first_replied_at = case.first_replied_at or call.now
    lifecycle.move_unit(
        session, case, dispatch, event="verified", detail=text, now=call.now, officer_id=call.officer.id,
        case_to=CaseStatus.RESOLVED,
    )  # fmt: skip
    resident_text = catalogue.resolved_to_resident(case.code or "", text)
    return [
        *to_posters(session, case, resident_text, buttons=rating_buttons(case.code or "")),
        *units.to_unit(session, dispatch.unit_id, catalogue.verified_to_unit(case.code or "")),
        call.answer(catalogue.VERIFIED_OK.format(code=case.code)),
    ]


@command("sendback", roles=OFFICERS, where=PRIVATE)
def on_sendback(call: Call) -> list[OutgoingMessage]:
    """Send a unit's result back when the site check finds it not fixed (``/sendback CODE 原因``)."""
    code, reason = two_args(call.args, catalogue.USAGE["sendback"])
    session, settings = call.session, call.services.settings
    case, dispatch = units.held_case(session, call.actor, code, event="sent_back", action="退回单位")
    unit = store.unit_by_id(session=session, unit_id=dispatch.unit_id)
    dispatch.done_at = None
    dispatch.verify_due = None
    dispatch.sent_back += 1
    dispatch.done_due = units.done_due(settings, unit, call.now) if unit else call.now
    lifecycle.move_unit(
        session, case, dispatch, event="sent_back", detail=reason, now=call.now, officer_id=call.officer.id,
    )  # fmt: skip
    due = catalogue.local_time(dispatch.done_due, settings.zone)
    return [
        call.answer(catalogue.SENT_BACK_OK.format(code=case.code, unit=unit.name if unit else "")),
        *units.to_unit(session, dispatch.unit_id, catalogue.sent_back_to_unit(case.code or "", reason, due)),
    ]

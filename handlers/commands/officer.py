"""Commands grid officers (and every officer above them) use to work their cases."""

import unicodedata
from datetime import timedelta

from analysis.address import extract_address
from analysis.analyzer import clean_text
from analysis.taxonomy import Category, Taxonomy
from handlers import binding, catalogue, jurisdiction, lifecycle, visits
from handlers.cases import (
    case_line,
    case_to_act_on,
    rating_buttons,
    to_officer,
    to_poster,
    to_posters,
    two_args,
    visible_case,
)
from handlers.commands.registry import GROUP, PRIVATE, command
from handlers.context import OFFICERS, STAFF, Call
from handlers.errors import BadInput, NotFound, PermissionDenied
from handlers.household_file import as_text, household_file
from handlers.intake import Intake, PostDraft, has_words
from handlers.messages import OutgoingMessage
from storage import repositories as repo
from storage import units as unit_store
from storage.models import CaseStatus


@command("cases", roles=STAFF, where=PRIVATE)
def on_cases(call: Call) -> list[OutgoingMessage]:
    """List the open cases within the caller's reach (a unit's liaison: those with the unit), soonest due first."""
    cases = repo.open_cases(session=call.session, within=jurisdiction.case_scope(call.officer), limit=20)
    if not cases:
        return [call.answer(catalogue.NO_CASES_OFFICER)]
    return [call.answer("\n".join(case_line(call.session, call.services, c) for c in cases))]


@command("reply", roles=OFFICERS, where=PRIVATE)
def on_reply(call: Call) -> list[OutgoingMessage]:
    """Answer the resident (``/reply CODE TEXT``): the only way officer words reach them."""
    code, text = two_args(call.args, catalogue.USAGE["reply"])
    case = case_to_act_on(call.session, call.actor, code, event="replied", action="回复")
    case.first_replied_at = case.first_replied_at or call.now
    # While a unit holds the case the officer still keeps the resident informed; the status stays.
    to = None if case.status == CaseStatus.ESCALATED else CaseStatus.REPLIED
    lifecycle.move(
        call.session, case, event="replied", to=to, detail=text, now=call.now, officer_id=call.officer.id,
    )  # fmt: skip
    return [
        *to_posters(call.session, case, catalogue.reply_to_resident(case.code or "", text)),
        call.answer(catalogue.REPLY_SENT.format(code=case.code)),
    ]


@command("resolve", roles=OFFICERS, where=PRIVATE)
def on_resolve(call: Call) -> list[OutgoingMessage]:
    """Mark a case resolved with a closing word (``/resolve CODE TEXT``); the resident is asked to rate."""
    code, text = two_args(call.args, catalogue.USAGE["resolve"])
    case = case_to_act_on(call.session, call.actor, code, event="resolved", action="办结")
    case.first_replied_at = case.first_replied_at or call.now
    case.resolved_at = call.now
    lifecycle.move(
        call.session, case, event="resolved", to=CaseStatus.RESOLVED, detail=text, now=call.now,
        officer_id=call.officer.id,
    )  # fmt: skip
    buttons = rating_buttons(case.code or "")
    return [
        *to_posters(call.session, case, catalogue.resolved_to_resident(case.code or "", text), buttons=buttons),
        call.answer(catalogue.RESOLVED_OK.format(code=case.code)),
    ]


@command("transfer", roles=OFFICERS, where=PRIVATE)
def on_transfer(call: Call) -> list[OutgoingMessage]:
    """Move a case to another grid (``/transfer CODE GRID REASON``); that grid's officer takes it."""
    parts = call.args.split(maxsplit=2)
    if len(parts) < 3:
        raise BadInput(catalogue.USAGE["transfer"])
    code, grid_code, reason = parts
    session = call.session
    case = case_to_act_on(session, call.actor, code, event="transferred", action="转办")
    grid = repo.grid_by_code(session=session, code=grid_code)
    if grid is None:
        raise NotFound(catalogue.GRID_NOT_FOUND.format(grid=grid_code[:32]))
    if grid.id == case.grid_id:
        raise BadInput(catalogue.SAME_GRID.format(code=case.code, grid=grid.code))
    old_grid = repo.grid_by_id(session=session, grid_id=case.grid_id)
    case.grid_id = grid.id
    case.community_id = grid.community_id
    assignee = jurisdiction.pick_assignee(session, grid_id=grid.id, community_id=grid.community_id)
    case.assignee_id = assignee.id if assignee else None
    old_code = old_grid.code if old_grid else "-"
    lifecycle.move(
        session, case, event="transferred", to=CaseStatus.TRANSFERRED, detail=f"{old_code} → {grid.code}：{reason}",
        now=call.now, officer_id=call.officer.id,
    )  # fmt: skip
    messages = [call.answer(catalogue.TRANSFERRED_OK.format(code=case.code, grid=grid.code))]
    if assignee is not None:
        notice = catalogue.transferred_to_officer(case.code or "", old_code, reason)
        messages += to_officer(session, assignee, notice, kind="notify")
    return messages


@command("category", roles=OFFICERS, where=PRIVATE)
def on_category(call: Call) -> list[OutgoingMessage]:
    """Correct the model's category (``/category CODE 停车交通``); deadlines stay as they were set.

    The correction is the case's category from now on (digests count it there) and is kept in its
    history, so ``minqing cases export`` can hand it to retraining.
    """
    taxonomy = call.services.taxonomy
    if len(call.args.split()) == 1:  # a case code alone: say which categories there are
        choices = "、".join(c.name for c in taxonomy.categories)
        raise BadInput(catalogue.CATEGORY_CHOICES.format(code=call.args.strip()[:20], choices=choices))
    code, wanted = two_args(call.args, catalogue.USAGE["category"])
    case = case_to_act_on(call.session, call.actor, code, event="recategorised", action="更正类别")
    category = category_named(taxonomy, wanted)
    old = taxonomy.category(case.category)
    if category.code == old.code and not case.unconfirmed:
        raise BadInput(catalogue.SAME_CATEGORY.format(code=case.code, category=old.name))
    confirming = category.code == old.code  # 待确认 and the officer agrees with the model
    case.category = category.code
    case.unconfirmed = False
    lifecycle.move(
        call.session, case, event="recategorised", now=call.now,
        detail=f"确认 {category.name}" if confirming else f"{old.name} → {category.name}",
        officer_id=call.officer.id,
    )  # fmt: skip
    if confirming:
        return [call.answer(catalogue.CATEGORY_CONFIRMED.format(code=case.code, category=category.name))]
    return [call.answer(catalogue.RECATEGORISED_OK.format(code=case.code, old=old.name, new=category.name))]


def category_named(taxonomy: Taxonomy, wanted: str) -> Category:
    """A taxonomy category by its code or its Chinese name."""
    key = unicodedata.normalize("NFKC", wanted).strip()
    for category in taxonomy.categories:
        if key in (category.code, category.name):
            return category
    choices = "、".join(category.name for category in taxonomy.categories)
    raise BadInput(catalogue.CATEGORY_UNKNOWN.format(category=key[:20], choices=choices))


@command("reject", roles=OFFICERS, where=PRIVATE)
def on_reject(call: Call) -> list[OutgoingMessage]:
    """Decline a case that is not the community's to handle (``/reject CODE REASON``)."""
    code, reason = two_args(call.args, catalogue.USAGE["reject"])
    case = case_to_act_on(call.session, call.actor, code, event="rejected", action="处理")
    case.closed_at = call.now
    lifecycle.move(
        call.session, case, event="rejected", to=CaseStatus.REJECTED, detail=reason, now=call.now,
        officer_id=call.officer.id,
    )  # fmt: skip
    return [
        to_poster(call.session, case, catalogue.rejected_to_resident(case.code or "", reason)),
        call.answer(catalogue.REJECTED_OK.format(code=case.code)),
    ]


@command("file", roles=OFFICERS, where=GROUP)
def on_file(call: Call) -> list[OutgoingMessage]:
    """File a resident's group message as a case, sent as a reply to that message (``/file``)."""
    quoted, msg, session = call.msg.reply_to, call.msg, call.session
    if quoted is None:
        raise BadInput(catalogue.USAGE["file"])
    group = repo.group_for_chat(session=session, platform=msg.platform, chat_id=msg.chat_id)
    if group is not None and not jurisdiction.covers_community(session, call.officer, group.community_id):
        raise PermissionDenied(catalogue.NOT_IN_GROUP_SCOPE)
    body = clean_text(quoted.text or " ".join(a.caption for a in quoted.attachments))
    if not body or not has_words(body):
        raise BadInput(catalogue.FILE_NEEDS_TEXT)
    earlier = repo.case_of_post(
        session=session, platform=msg.platform, chat_id=msg.chat_id, message_id=quoted.message_id
    )
    if earlier is not None:
        return [call.answer(catalogue.ALREADY_FILED.format(code=earlier.code))]
    analysis = call.services.analyzer.analyze(body)
    filed = Intake(call.services).file(
        session, PostDraft.from_quote(msg, quoted), analysis, now=call.now, by=call.officer
    )
    return filed.messages


@command("visit", roles=OFFICERS, where=PRIVATE)
def on_visit(call: Call) -> list[OutgoingMessage]:
    """Log a household visit (走访) in the household's file (``/visit 3幢2单元301 NOTE``); a note that
    starts with #诉求 is also filed as a case for that household."""
    address = extract_address(call.args)
    if address is None or not address.is_complete:
        raise BadInput(catalogue.USAGE["visit"])
    note = call.args[call.args.find(address.room) + len(address.room) :].strip(" 室号房,，:：")
    if not note:
        raise BadInput(catalogue.USAGE["visit"])
    matches = [
        h
        for h in repo.find_households(
            session=call.session, building=address.building, unit=address.unit, room=address.room
        )
        if jurisdiction.covers_grid(call.session, call.officer, h.grid_id)
    ]
    if len(matches) != 1:
        raise NotFound(catalogue.VISIT_HOUSEHOLD_UNKNOWN.format(address=address.label()))
    repo.add_visit(
        session=call.session, officer_id=call.officer.id or 0, household_id=matches[0].id or 0, note=note, at=call.now
    )
    trigger = next((t for t in call.services.settings.triggers if note.startswith(t)), None)
    if trigger is None:
        return [call.answer(catalogue.VISIT_LOGGED.format(address=address.label()))]
    body = clean_text(note[len(trigger) :].strip(" :：,，"))
    if not body or not has_words(body):
        raise BadInput(catalogue.USAGE["visit"])
    filed = Intake(call.services).file(
        call.session, PostDraft.from_message(call.msg, body), call.services.analyzer.analyze(body), now=call.now,
        by=call.officer, household=matches[0],
    )  # fmt: skip
    notices = [m for m in filed.messages if m.kind != "ack"]
    return [call.answer(catalogue.VISIT_FILED.format(address=address.label(), code=filed.code)), *notices]


@command("due", roles=OFFICERS, where=PRIVATE)
def on_due(call: Call) -> list[OutgoingMessage]:
    """List the households due a visit this week under the visit plans (走街不漏户), the most overdue first."""
    plans = visits.parse_plans(call.services.settings.visit_plans)
    grid_ids = jurisdiction.grids_in_reach(call.session, call.officer)
    due = visits.due_visits(call.session, grid_ids=grid_ids, plans=plans, until=call.now + timedelta(days=7))
    return [call.answer(visits.due_list_text(due, zone=call.services.settings.zone))]


# --- issue 13: verified binding (requests and members)


@command("approve", roles=OFFICERS, where=PRIVATE)
def on_approve(call: Call) -> list[OutgoingMessage]:
    """Confirm a resident's binding request (``/approve 12``); the request's 同意 button does the same."""
    number = binding.request_number(call.args, catalogue.USAGE["approve"])
    done, messages = binding.decide(call.session, call.officer, number, approve=True, now=call.now)
    return [call.answer(done), *messages]


@command("decline", roles=OFFICERS, where=PRIVATE)
def on_decline(call: Call) -> list[OutgoingMessage]:
    """Decline a resident's binding request (``/decline 12``); the request's 拒绝 button does the same."""
    number = binding.request_number(call.args, catalogue.USAGE["decline"])
    done, messages = binding.decide(call.session, call.officer, number, approve=False, now=call.now)
    return [call.answer(done), *messages]


@command("unbind", roles=OFFICERS, where=PRIVATE)
def on_unbind(call: Call) -> list[OutgoingMessage]:
    """List a household's bound members (``/unbind 3幢2单元301``) or remove one (``/unbind 3幢2单元301 2``)."""
    return binding.unbind(call)


@command("household", roles=OFFICERS, where=PRIVATE)
def on_household(call: Call) -> list[OutgoingMessage]:
    """Show a household's file (一户一档): members, tags, cases with outcomes, visits (``/household 3幢2单元301``)."""
    if not call.args:
        raise BadInput(catalogue.USAGE["household"])
    found = binding.find_household(call.session, call.args, officer=call.officer)
    file = household_file(call.session, found.household, call.services.taxonomy)
    return [call.answer(as_text(file, call.services.settings.zone))]


@command("merge", roles=OFFICERS, where=PRIVATE)
def on_merge(call: Call) -> list[OutgoingMessage]:
    """Fold a duplicate into another case (``/merge CODE INTO CODE2``); its reporter then follows that case.

    The reporter is told politely (not as a rejection) and gets the main case's replies and rating request.
    """
    parts = call.args.split()
    if len(parts) != 3 or parts[1].upper() not in ("INTO", "并入"):
        raise BadInput(catalogue.USAGE["merge"])
    session = call.session
    duplicate = case_to_act_on(session, call.actor, parts[0], event="merged", action="合并")
    main = visible_case(session, call.actor, parts[2])
    if main.id == duplicate.id:
        raise BadInput(catalogue.MERGE_USAGE_SAME)
    if main.status not in lifecycle.OPEN and main.status != CaseStatus.RESOLVED:
        status = catalogue.STATUS_NAMES.get(main.status, main.status)
        raise BadInput(catalogue.MERGE_TARGET_CLOSED.format(main=main.code, status=status))
    duplicate.merged_into_id = main.id
    duplicate.closed_at = call.now
    lifecycle.move(
        session, duplicate, event="merged", to=CaseStatus.MERGED, detail=f"并入 {main.code}", now=call.now,
        officer_id=call.officer.id,
    )  # fmt: skip
    for earlier in unit_store.merged_into(session=session, case_id=duplicate.id or 0):
        earlier.merged_into_id = main.id  # duplicates of the duplicate follow the main case too
        session.add(earlier)
    lifecycle.move(
        session, main, event="note", detail=f"{duplicate.code} 并入本件", now=call.now, officer_id=call.officer.id
    )
    return [
        to_poster(session, duplicate, catalogue.merged_to_resident(duplicate.code or "", main.code or "")),
        call.answer(catalogue.MERGED_OK.format(code=duplicate.code, main=main.code)),
    ]


@command("new", roles=OFFICERS, where=PRIVATE)
def on_new(call: Call) -> list[OutgoingMessage]:
    """File a walk-in or phone matter for a household (代办, ``/new 3幢2单元301 内容``), routed to its grid."""
    address = extract_address(call.args)
    if address is None or not address.is_complete:
        raise BadInput(catalogue.USAGE["new"])
    text = call.args[call.args.find(address.room) + len(address.room) :].strip(" 室号房,，:：")
    if not text or not has_words(text):
        raise BadInput(catalogue.NEW_NEEDS_TEXT)
    session = call.session
    matches = [
        h
        for h in repo.find_households(session=session, building=address.building, unit=address.unit, room=address.room)
        if jurisdiction.covers_community(session, call.officer, h.community_id)
    ]
    if len(matches) != 1:
        raise NotFound(catalogue.NEW_FOR_HOUSEHOLD_UNKNOWN.format(address=address.label()))
    analysis = call.services.analyzer.analyze(clean_text(text))
    draft = PostDraft.from_message(call.msg, call.args)
    filed = Intake(call.services).file(session, draft, analysis, now=call.now, by=call.officer, household=matches[0])
    return filed.messages

"""Commands residents use: bind a home, list their cases, rate a resolved one; and officer enrolment."""

from datetime import datetime

from sqlmodel import Session

from handlers import binding, catalogue, lifecycle, throttle
from handlers.cases import case_line, find_case, to_officer, to_poster, two_args
from handlers.commands.registry import ANYWHERE, PRIVATE, command
from handlers.context import RESIDENTS, Call
from handlers.errors import BadInput, PermissionDenied
from handlers.messages import OutgoingMessage
from storage import repositories as repo
from storage import units as unit_store
from storage.models import CaseStatus, ChatIdentity

#: What residents type, and the code stored for it.
RATINGS = {"满意": "satisfied", "基本满意": "basically", "不满意": "unsatisfied"}


@command("bind", roles=RESIDENTS, where=PRIVATE)
def on_bind(call: Call) -> list[OutgoingMessage]:
    """Bind to a household by proving it: the last four digits of the phone on its record
    (``/bind 3幢2单元301 5678``), or, without them, the grid officer's approval."""
    return binding.bind(call)


@command("my", roles=RESIDENTS, where=PRIVATE)
def on_my(call: Call) -> list[OutgoingMessage]:
    """List the user's own and their household's latest cases."""
    household_id = call.actor.household.id if call.actor.household is not None else None
    cases = repo.cases_of_resident(
        session=call.session, identity_id=call.actor.identity.id or 0, household_id=household_id, limit=10
    )
    if not cases:
        return [call.answer(catalogue.NO_CASES_RESIDENT)]
    return [call.answer("\n".join(case_line(call.session, call.services, c) for c in cases))]


@command("join", roles=RESIDENTS, where=PRIVATE)
def on_join(call: Call) -> list[OutgoingMessage]:
    """Enrol as an officer with the one-time invite code the admin gave (``/join CODE``)."""
    code = call.args.strip().upper()
    if not code or " " in code:
        raise BadInput(catalogue.USAGE["join"])
    throttle.check(call, throttle.JOIN)
    invite = repo.invite_by_code(session=call.session, code=code[:32])
    if invite is None or invite.used_at is not None:
        raise throttle.AttemptFailed(catalogue.INVITE_INVALID, kind=throttle.JOIN)
    if invite.expires_at <= call.now:
        raise throttle.AttemptFailed(catalogue.INVITE_EXPIRED, kind=throttle.JOIN)
    officer = repo.officer_by_id(session=call.session, officer_id=invite.officer_id)
    if officer is None or not officer.active:
        raise throttle.AttemptFailed(catalogue.INVITE_INVALID, kind=throttle.JOIN)
    repo.enrol_officer(session=call.session, invite=invite, identity=call.actor.identity, at=call.now)
    role = catalogue.ROLE_NAMES[officer.role]
    return [call.answer(catalogue.JOINED.format(name=officer.name, role=role, scope=officer.scope_code))]


@command("rate", roles=RESIDENTS, where=ANYWHERE)
def on_rate(call: Call) -> list[OutgoingMessage]:
    """Rate a resolved case in words (``/rate CODE 满意``); the buttons do the same."""
    code, label = two_args(call.args, catalogue.USAGE["rate"])
    score = RATINGS.get(label.strip())
    if score is None:
        raise BadInput(catalogue.RATING_UNKNOWN)
    messages = rate_case(call.session, call.actor.identity, code, score, now=call.now)
    return [call.answer(catalogue.RATED.format(rating=label.strip())), *messages]


def rate_case(
    session: Session, identity: ChatIdentity, code: str, score: str, *, now: datetime
) -> list[OutgoingMessage]:
    """The reporter's rating: satisfied closes the case, unsatisfied reopens it and tells the officer."""
    case = find_case(session, code)
    duplicates = unit_store.merged_into(session=session, case_id=case.id or 0)
    merged = [c.reporter_identity_id for c in duplicates]
    # The rater's own post: the case's, or a duplicate's merged into it (its reporter follows it).
    own = (
        case
        if case.reporter_identity_id == identity.id
        else next((c for c in duplicates if c.reporter_identity_id == identity.id), case)
    )
    if case.reporter_identity_id != identity.id and identity.id not in merged:
        raise PermissionDenied(catalogue.NOT_REPORTER)
    if case.status == CaseStatus.CLOSED and identity.id in merged:
        raise BadInput(catalogue.RATED_MAIN_ALREADY.format(code=case.code))
    if case.status != CaseStatus.RESOLVED:
        if repo.has_rated(session=session, case_id=case.id or 0, identity_id=identity.id or 0):
            raise BadInput(catalogue.ALREADY_RATED.format(code=case.code))
        raise BadInput(catalogue.NOT_RESOLVED_YET.format(code=case.code))
    if not repo.insert_rating(session=session, case_id=case.id or 0, identity_id=identity.id or 0, score=score, at=now):
        raise BadInput(catalogue.ALREADY_RATED.format(code=case.code))
    case.rating = score
    messages: list[OutgoingMessage] = []
    if score == "unsatisfied":
        target = CaseStatus.REOPENED
        case.resolved_at = None
        assignee = repo.officer_by_id(session=session, officer_id=case.assignee_id)
        if assignee is not None:
            messages += to_officer(session, assignee, catalogue.reopened_to_officer(case.code or ""), kind="notify")
        messages.append(to_poster(session, own, catalogue.RATED_REOPEN.format(code=case.code)))
    else:
        target = CaseStatus.CLOSED
        case.closed_at = now
    lifecycle.move(
        session, case, event="rated", to=target, detail=catalogue.RATING_NAMES[score], now=now,
        identity_id=identity.id,
    )  # fmt: skip
    return messages

"""Verified binding (一户一档's front door): a resident proves a home before its file opens to them.

``/bind ADDRESS 1234`` binds at once when 1234 are the last four digits of the phone on the household
record; ``/bind ADDRESS`` asks the grid's officers, who approve or decline with one tap (or
``/approve N`` / ``/decline N``). A household may have several members; an officer can unbind one.
Wrong digits, unknown addresses and declined requests count against the account (``throttle``).
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from analysis.address import extract_address
from handlers import catalogue, jurisdiction, throttle
from handlers.cases import to_officer
from handlers.context import Call
from handlers.errors import BadInput, NotFound, PermissionDenied
from handlers.messages import Button, OutgoingMessage
from storage import households as store
from storage import repositories as repo
from storage.models import Household, Officer

_TRAILING_DIGITS = re.compile(r"^(?P<address>.*\S)\s+(?P<digits>\d{4})$", re.DOTALL)
_TRAILING_NUMBER = re.compile(r"^(?P<rest>.*\S)\s+(?P<number>\d{1,3})$", re.DOTALL)


def label(household: Household) -> str:
    """``3幢2单元301`` (no unit part when the building has none)."""
    unit = f"{household.unit}单元" if household.unit else ""
    return f"{household.building}幢{unit}{household.room}"


@dataclass(frozen=True, slots=True)
class Found:
    household: Household
    community_name: str


def find_household(session: Session, text: str, *, officer: Officer | None = None, counted: bool = False) -> Found:
    """The one household ``text`` names (a community name or code may come first).

    With ``officer``, only households in their reach count. With ``counted``, an unknown address is a
    failed attempt (it would otherwise let anyone probe which homes are on file).
    """
    text = unicodedata.normalize("NFKC", text)
    community_ids: list[int] | None = None
    for known in repo.communities(session=session):
        if known.name in text or known.code in text:
            community_ids = [known.id or 0]
            text = text.replace(known.name, " ").replace(known.code, " ")
    address = extract_address(text)
    if address is None or not address.is_complete:
        raise BadInput(catalogue.ADDRESS_UNREADABLE)
    matches = repo.find_households(
        session=session, building=address.building, unit=address.unit, room=address.room, community_ids=community_ids
    )
    if officer is not None:
        matches = [h for h in matches if jurisdiction.covers_grid(session, officer, h.grid_id)]
    if not matches:
        if officer is not None:
            raise NotFound(catalogue.VISIT_HOUSEHOLD_UNKNOWN.format(address=address.label()))
        unknown = catalogue.ADDRESS_UNKNOWN.format(address=address.label())
        raise throttle.AttemptFailed(unknown, kind=throttle.BIND) if counted else NotFound(unknown)
    if len(matches) > 1:
        raise BadInput(catalogue.ADDRESS_AMBIGUOUS.format(address=address.label()))
    community = repo.community_by_id(session=session, community_id=matches[0].community_id)
    return Found(matches[0], community.name if community else "")


def split_digits(session: Session, args: str) -> tuple[str, str | None]:
    """``ADDRESS 1234`` → (address, "1234"); a lone 4-digit room number stays part of the address."""
    args = unicodedata.normalize("NFKC", args).strip()
    match = _TRAILING_DIGITS.match(args)
    if match is None:
        return args, None
    address = extract_address(match["address"])
    if address is None or not address.is_complete:
        return args, None  # e.g. "3幢 2单元 1101": the digits are the room
    return match["address"], match["digits"]


def bind(call: Call) -> list[OutgoingMessage]:
    """The resident's ``/bind``: by phone digits at once, otherwise a request to the grid's officers."""
    if not call.args:
        raise BadInput(catalogue.USAGE["bind"])
    throttle.check(call, throttle.BIND)
    text, digits = split_digits(call.session, call.args)
    found = find_household(call.session, text, counted=True)
    household, identity = found.household, call.actor.identity
    where = label(household)
    if call.actor.household is not None and call.actor.household.id == household.id:
        return [call.answer(catalogue.ALREADY_MEMBER.format(address=where, community=found.community_name))]
    phone = "".join(ch for ch in household.phone if ch.isdigit())
    if digits is not None and len(phone) >= 4:
        if phone[-4:] != digits:
            raise throttle.AttemptFailed(catalogue.BIND_DIGITS_WRONG.format(address=where), kind=throttle.BIND)
        store.bind_verified(
            session=call.session, identity=identity, household_id=household.id or 0, via="phone", at=call.now
        )
        return [call.answer(catalogue.BOUND.format(address=where, community=found.community_name))]
    stewards = jurisdiction.household_stewards(
        call.session, grid_id=household.grid_id, community_id=household.community_id
    )
    if not stewards:
        raise BadInput(catalogue.BIND_NOBODY_TO_ASK)
    request = store.open_request(
        session=call.session, identity_id=identity.id or 0, household_id=household.id or 0, at=call.now
    )
    ask = catalogue.bind_request_to_officer(
        request.id or 0, identity.display_name or call.msg.user_name, where, found.community_name
    )
    buttons = ((Button("同意", f"bind:ok:{request.id}"), Button("拒绝", f"bind:no:{request.id}")),)
    messages = [
        OutgoingMessage(m.platform, m.chat_id, m.text, kind=m.kind, buttons=buttons)
        for officer in stewards
        for m in to_officer(call.session, officer, ask, kind="notify")
    ]
    reply = catalogue.BIND_REQUESTED_NO_PHONE if digits is not None else catalogue.BIND_REQUESTED
    return [call.answer(reply.format(address=where)), *messages]


def decide(
    session: Session, officer: Officer, request_id: int, *, approve: bool, now: datetime
) -> tuple[str, list[OutgoingMessage]]:
    """An officer approves or declines a request: (answer for the officer, message to the resident)."""
    request = store.request_by_id(session=session, request_id=request_id)
    household = repo.household_by_id(session=session, household_id=request.household_id) if request else None
    if request is None or household is None:
        raise NotFound(catalogue.BIND_REQUEST_UNKNOWN.format(number=request_id))
    if not jurisdiction.covers_grid(session, officer, household.grid_id):
        raise PermissionDenied(catalogue.BIND_REQUEST_NOT_YOURS.format(number=request_id))
    if request.status != store.PENDING:
        raise BadInput(catalogue.BIND_REQUEST_DONE.format(number=request_id))
    identity = store.identity_by_id(session=session, identity_id=request.identity_id)
    if identity is None:  # pragma: no cover - guarded by the foreign key
        raise NotFound(catalogue.BIND_REQUEST_UNKNOWN.format(number=request_id))
    where = label(household)
    community = repo.community_by_id(session=session, community_id=household.community_id)
    community_name = community.name if community else ""
    store.decide_request(
        session=session,
        request=request,
        status="approved" if approve else "declined",
        officer_id=officer.id or 0,
        at=now,
    )
    if approve:
        store.bind_verified(session=session, identity=identity, household_id=household.id or 0, via="officer", at=now)
        text = catalogue.BOUND.format(address=where, community=community_name)
        done = catalogue.BIND_APPROVED_OK
    else:
        # A declined request counts against the account like a wrong guess.
        throttle.record(session, platform=identity.platform, user_id=identity.user_id, kind=throttle.BIND, at=now)
        text = catalogue.BIND_DECLINED.format(address=where)
        done = catalogue.BIND_DECLINED_OK
    to_resident = OutgoingMessage(identity.platform, identity.user_id, text, kind="notify")
    name = identity.display_name or "居民"
    return done.format(number=request_id, name=name, address=where), [to_resident]


def request_number(args: str, usage: str) -> int:
    number = unicodedata.normalize("NFKC", args).strip().lstrip("#")
    if not number.isdigit() or len(number) > 12:
        raise BadInput(usage)
    return int(number)


def unbind(call: Call) -> list[OutgoingMessage]:
    """``/unbind ADDRESS`` lists the household's members; ``/unbind ADDRESS N`` removes member N."""
    if not call.args:
        raise BadInput(catalogue.USAGE["unbind"])
    text = unicodedata.normalize("NFKC", call.args).strip()
    number: int | None = None
    match = _TRAILING_NUMBER.match(text)
    if match is not None:
        address = extract_address(match["rest"])
        if address is not None and address.is_complete:
            text, number = match["rest"], int(match["number"])
    found = find_household(call.session, text, officer=call.officer)
    where = label(found.household)
    members = store.members(session=call.session, household_id=found.household.id or 0)
    if not members:
        return [call.answer(catalogue.NO_MEMBERS.format(address=where))]
    if number is None:
        lines = [
            catalogue.member_line(
                i, identity.display_name, resident.verified_via, resident.verified_at, call.services.settings.zone
            )
            for i, (resident, identity) in enumerate(members, 1)
        ]
        return [call.answer(catalogue.MEMBERS_HEAD.format(address=where) + "\n" + "\n".join(lines))]
    if not 1 <= number <= len(members):
        raise BadInput(catalogue.MEMBER_NUMBER_UNKNOWN.format(number=number, count=len(members)))
    _, identity = members[number - 1]
    store.unbind(session=call.session, identity=identity)
    to_resident = OutgoingMessage(
        identity.platform, identity.user_id, catalogue.UNBOUND_TO_RESIDENT.format(address=where), kind="notify"
    )
    name = identity.display_name or "居民"
    return [call.answer(catalogue.UNBOUND_OK.format(name=name, address=where)), to_resident]

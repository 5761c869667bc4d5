"""Household membership: verified binding, approval requests, failed attempts, members (issue 13)."""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, func, select

from storage.models import BindRequest, ChatIdentity, FailedAttempt, Household, Resident

PENDING = "pending"


def verified_household(*, session: Session, identity: ChatIdentity) -> Household | None:
    """The household this chat account is a proved member of (a legacy, unproved binding counts for nothing)."""
    if identity.resident_id is None:
        return None
    resident = session.get(Resident, identity.resident_id)
    if resident is None or not resident.verified_via:
        return None
    return session.get(Household, resident.household_id)


def bind_verified(*, session: Session, identity: ChatIdentity, household_id: int, via: str, at: datetime) -> None:
    """Make the account a proved member of the household (leaving any household it belonged to)."""
    resident = session.get(Resident, identity.resident_id) if identity.resident_id is not None else None
    if resident is None:
        resident = Resident(household_id=household_id, display_name=identity.display_name, created_at=at)
    resident.household_id = household_id
    resident.verified_via = via
    resident.verified_at = at
    session.add(resident)
    session.flush()
    identity.resident_id = resident.id
    session.add(identity)
    for request in session.exec(
        select(BindRequest).where(BindRequest.identity_id == identity.id, BindRequest.status == PENDING)
    ).all():
        request.status = "withdrawn"
        request.decided_at = at
        session.add(request)


def members(*, session: Session, household_id: int) -> Sequence[tuple[Resident, ChatIdentity]]:
    """The household's proved members with their chat accounts, in the order they joined."""
    rows = session.exec(
        select(Resident, ChatIdentity)
        .join(ChatIdentity, col(ChatIdentity.resident_id) == col(Resident.id))
        .where(Resident.household_id == household_id, col(Resident.verified_via) != "")
        .order_by(col(Resident.verified_at), col(Resident.id))
    ).all()
    return [(resident, identity) for resident, identity in rows]


def unbind(*, session: Session, identity: ChatIdentity) -> None:
    """End the account's membership (its own cases stay its own)."""
    resident = session.get(Resident, identity.resident_id) if identity.resident_id is not None else None
    identity.resident_id = None
    session.add(identity)
    session.flush()
    if resident is not None:
        session.delete(resident)


def open_request(*, session: Session, identity_id: int, household_id: int, at: datetime) -> BindRequest:
    """A new pending request; the account's earlier pending requests are withdrawn."""
    for earlier in session.exec(
        select(BindRequest).where(BindRequest.identity_id == identity_id, BindRequest.status == PENDING)
    ).all():
        earlier.status = "withdrawn"
        earlier.decided_at = at
        session.add(earlier)
    request = BindRequest(identity_id=identity_id, household_id=household_id, created_at=at)
    session.add(request)
    session.flush()
    return request


def request_by_id(*, session: Session, request_id: int) -> BindRequest | None:
    return session.get(BindRequest, request_id)


def decide_request(*, session: Session, request: BindRequest, status: str, officer_id: int, at: datetime) -> None:
    request.status = status
    request.decided_at = at
    request.decided_by = officer_id
    session.add(request)


def identity_by_id(*, session: Session, identity_id: int) -> ChatIdentity | None:
    return session.get(ChatIdentity, identity_id)


def failures_since(
    *, session: Session, platform: str, user_id: str, kind: str, since: datetime
) -> tuple[int, datetime | None]:
    """How many failed attempts of ``kind`` this account made since ``since``, and the earliest of them."""
    count, earliest = session.exec(
        select(func.count(), func.min(FailedAttempt.at)).where(
            FailedAttempt.platform == platform,
            FailedAttempt.user_id == user_id,
            FailedAttempt.kind == kind,
            col(FailedAttempt.at) > since,
        )
    ).one()
    return int(count), earliest


def record_failure(*, session: Session, platform: str, user_id: str, kind: str, at: datetime) -> None:
    session.add(FailedAttempt(platform=platform, user_id=user_id[:64], kind=kind, at=at))

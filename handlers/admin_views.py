"""What an admin sees of their setup from the command line (issue 13): street, lists, one case.

Plain dictionaries with the command-line contract's English keys (for ``--json``); the CLI renders
them with Chinese labels for people.
"""

import unicodedata

from storage import admin as store
from storage.db import Database
from storage.models import Case, Grid, Household, Officer, Post, Street


class SetupError(ValueError):
    """A request the setup cannot carry out; the message (Chinese) says why."""


def set_street(db: Database, *, code: str, name: str) -> tuple[Street, str]:
    """Name the street: rename the one with ``code``; else give the only street this code; else create it.

    Returns the street and what happened ("renamed", "recoded" or "created").
    """
    code, name = code.strip(), name.strip()
    if not code or len(code) > 32 or not name or len(name) > 64:
        raise SetupError("街道编号须为1–32个字符，名称须为1–64个字符。")
    with db.transaction() as session:
        streets = store.streets_all(session=session)
        street = next((s for s in streets if s.code == code), None)
        action = "renamed"
        if street is None and len(streets) == 1:
            street, action = streets[0], "recoded"
        elif street is None and streets:
            known = "、".join(s.code for s in streets)
            raise SetupError(f"已有多个街道（{known}），没有编号为 {code} 的街道；请用其中一个编号。")
        elif street is None:
            street, action = Street(code=code, name=name), "created"
            session.add(street)
            session.flush()
        store.rename_street(session=session, street=street, code=code, name=name)
        return street, action


def list_households(db: Database, *, community: str | None = None) -> list[dict[str, object]]:
    with db.transaction() as session:
        return [
            {
                "community": c.code,
                "grid": g.code,
                "building": h.building,
                "unit": h.unit,
                "room": h.room,
                "head_name": h.head_name,
                "phone": h.phone,
                "tags": h.tags,
                "members": members,
            }
            for h, c, g, members in store.household_listing(session=session, community_code=community)
        ]


def list_officers(db: Database) -> list[dict[str, object]]:
    with db.transaction() as session:
        return [
            {
                "id": o.id,
                "name": o.name,
                "role": o.role,
                "scope": o.scope_code,
                "active": o.active,
                "joined": accounts > 0,
                "invite_pending": pending,
            }
            for o, accounts, pending in store.officer_listing(session=session)
        ]


def list_groups(db: Database) -> list[dict[str, object]]:
    with db.transaction() as session:
        return [
            {"platform": g.platform, "chat_id": g.chat_id, "community": c.code, "title": g.title}
            for g, c in store.group_listing(session=session)
        ]


def case_row(
    case: Case, post: Post, grid: Grid | None, household: Household | None, assignee: Officer | None
) -> dict[str, object]:
    """A case with the fields of the command-line contract (``cases list --json``)."""
    return {
        "code": case.code,
        "status": case.status,
        "category": case.category,
        "intent": case.intent,
        "urgency": case.urgency,
        "polarity": case.polarity,
        "grid": grid.code if grid else None,
        "household": f"{household.building}-{household.unit}-{household.room}" if household else None,
        "assignee": assignee.name if assignee else None,
        "created_at": case.created_at.isoformat(),
        "first_reply_due": case.first_reply_due.isoformat(),
        "text": post.text,
    }


def show_case(db: Database, code: str) -> dict[str, object] | None:
    """One case with the fields of ``cases list`` and its whole history (``events``), or None."""
    wanted = unicodedata.normalize("NFKC", code).strip().upper()
    with db.transaction() as session:
        found = store.case_with_events(session=session, code=wanted)
        if found is None:
            return None
        case, post, grid, household, assignee, events = found
        return {
            **case_row(case, post, grid, household, assignee),
            "resolution_due": case.resolution_due.isoformat(),
            "rating": case.rating,
            "events": [
                {
                    "at": event.at.isoformat(),
                    "kind": event.kind,
                    "from_status": event.from_status,
                    "to_status": event.to_status,
                    "officer": officer.name if officer else None,
                    "detail": event.detail,
                }
                for event, officer in events
            ],
        }

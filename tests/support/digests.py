"""The digest tests' street week: local times in Shanghai and a week of hand-counted cases."""

from datetime import datetime
from zoneinfo import ZoneInfo

from storage.db import Database
from tests.support.factories import insert_case

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int = 10, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def seed_week(db: Database) -> None:
    """Six GH cases in the week of 16 Nov, two the week before, one in WT (see the expected figures)."""
    insert_case(  # 1: closed on time, satisfied; the household reports again in case 6
        db,
        grid="GH-01",
        community="GH",
        created_at=local(16),
        category="property",
        polarity="negative",
        intensity=0.8,
        assignee="officer_gh1",
        household=("1", "1", "301"),
        keywords="电梯,物业",
        address="1幢",
        status="closed",
        first_replied_at=local(16, 11),
        resolved_at=local(18),
        rating="satisfied",
    )
    insert_case(  # 2: resolved only after the week, past its deadline at the end -> open overdue
        db,
        grid="GH-01",
        community="GH",
        created_at=local(17),
        category="property",
        polarity="negative",
        intensity=0.4,
        assignee="officer_gh1",
        keywords="电梯,停车",
        address="1幢",
        first_replied_at=local(17, 13),
        resolution_due=local(20),
        resolved_at=local(25),
        status="resolved",
    )
    insert_case(  # 3: closed late, unsatisfied
        db,
        grid="GH-01",
        community="GH",
        created_at=local(18),
        category="noise",
        intent="help",
        assignee="officer_gh1",
        keywords="电梯",
        first_replied_at=local(18, 12),
        resolution_due=local(18, 20),
        resolved_at=local(19),
        rating="unsatisfied",
        status="reopened",
    )
    insert_case(  # 4: open, not yet due
        db,
        grid="GH-02",
        community="GH",
        created_at=local(19),
        category="noise",
        intent="question",
        polarity="positive",
        assignee="officer_gh2",
        household=("3", "2", "502"),
        resolution_due=local(30),
        first_reply_due=local(30),
    )
    insert_case(  # 5: critical, closed on time, basically satisfied
        db,
        grid="GH-02",
        community="GH",
        created_at=local(20),
        category="safety",
        urgency="critical",
        polarity="negative",
        intensity=0.6,
        assignee="officer_gh2",
        first_replied_at=local(20, 10, 30),
        resolved_at=local(20, 15),
        rating="basically",
        status="closed",
    )
    insert_case(  # 6: rejected (closed without resolution): counted as received, not as closed
        db,
        grid="GH-01",
        community="GH",
        created_at=local(21),
        category="environment",
        assignee="officer_gh1",
        household=("1", "1", "301"),
        status="rejected",
        first_replied_at=None,
        closed_at=local(21, 12),
    )
    for day in (10, 12):  # the week before
        insert_case(
            db,
            grid="GH-01",
            community="GH",
            created_at=local(day),
            category="property",
            polarity="negative",
            intensity=0.5,
            status="closed",
            first_replied_at=local(day, 11),
            resolved_at=local(day + 1),
        )
    insert_case(db, grid="WT-01", community="WT", created_at=local(17), category="traffic")

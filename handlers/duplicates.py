"""Likely duplicates of a new case, named in the officer's new-case notice (issue 15).

A candidate is open, recent, of the same category and community, and either about the same place
(the same household, or the same building) with similar words, or about anything with very similar
words. Words are the keywords the analyzer stored with each case.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from storage import units as store
from storage.models import Household
from storage.units import Candidate

#: Keyword overlap (Jaccard) that counts as similar when the place matches, and on its own.
SIMILAR_AT_SAME_PLACE = 0.2
SIMILAR_ANYWHERE = 0.5
MAX_NAMED = 3


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _building(case: Candidate) -> str:
    if case.building:
        return case.building
    return case.address.split("幢", 1)[0] if "幢" in case.address else ""


def likely_duplicates(
    session: Session,
    *,
    case_id: int,
    category: str,
    community_id: int | None,
    household: Household | None,
    building: str,
    keywords: Sequence[str],
    since: datetime,
) -> list[str]:
    """Codes of up to three open cases that look like the same matter, most similar first.

    A case not routed to any community has no place to compare, so it is not looked at (this also
    keeps the lookup off intake's path for unbound private posts).
    """
    if community_id is None:
        return []
    words = set(keywords)
    where = household.building if household is not None else building
    scored: list[tuple[float, str]] = []
    candidates = store.recent_open_cases(
        session=session, category=category, community_id=community_id, since=since, exclude_id=case_id
    )
    for other in candidates:
        similarity = _overlap(words, set(filter(None, other.keywords.split(","))))
        same_place = (household is not None and other.household_id == household.id) or (
            bool(where) and _building(other) == where
        )
        if (same_place and similarity >= SIMILAR_AT_SAME_PLACE) or similarity >= SIMILAR_ANYWHERE:
            scored.append((similarity + (1.0 if same_place else 0.0), other.code))
    scored.sort(reverse=True)
    return [code for _, code in scored[:MAX_NAMED]]

"""Queries behind 回访 and 知晓率 sampling (issue 13): the populations, the rounds, the answers."""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import Case, CaseStatus, ChatIdentity, Grid, Household, Resident, Survey, SurveyRound
from storage.repositories import insert_ignoring_conflict


def closed_cases_of_grid(*, session: Session, grid_id: int, start: datetime, end: datetime) -> list[tuple[int, int]]:
    """(case id, reporter identity id) of the grid's cases closed in [start, end) by a resident, by case id."""
    rows = session.execute(
        sa.select(col(Case.id), col(Case.reporter_identity_id))
        .join(ChatIdentity, col(ChatIdentity.id) == col(Case.reporter_identity_id))
        .where(
            col(Case.grid_id) == grid_id,
            col(Case.status) == CaseStatus.CLOSED.value,
            col(Case.closed_at) >= start,
            col(Case.closed_at) < end,
            col(ChatIdentity.officer_id).is_(None),
        )
        .order_by(col(Case.id))
    ).all()
    return [(int(case_id), int(identity_id)) for case_id, identity_id in rows]


def verified_residents_of_grid(*, session: Session, grid_id: int) -> list[int]:
    """Chat identity ids of the grid's proved household members, by id."""
    rows = session.execute(
        sa.select(col(ChatIdentity.id))
        .join(Resident, col(Resident.id) == col(ChatIdentity.resident_id))
        .join(Household, col(Household.id) == col(Resident.household_id))
        .where(
            col(Household.grid_id) == grid_id, col(Resident.verified_via) != "", col(ChatIdentity.officer_id).is_(None)
        )
        .order_by(col(ChatIdentity.id))
    ).all()
    return [int(identity_id) for (identity_id,) in rows]


def open_round(
    *, session: Session, kind: str, period_start: datetime, grid_id: int, seed: int, share: float,
    eligible: int, sampled: int, at: datetime,
) -> int | None:  # fmt: skip
    """Insert the month's round for this grid; None when it exists already (sampled once)."""
    if not insert_ignoring_conflict(
        session,
        sa.inspect(SurveyRound).local_table,
        {"kind": kind, "period_start": period_start, "grid_id": grid_id, "seed": seed, "share": share,
         "eligible": eligible, "sampled": sampled, "created_at": at},
    ):  # fmt: skip
        return None
    return session.exec(
        select(SurveyRound.id).where(
            SurveyRound.kind == kind, SurveyRound.period_start == period_start, SurveyRound.grid_id == grid_id
        )
    ).one()


def add_survey(*, session: Session, round_id: int, identity_id: int, case_id: int | None, at: datetime) -> Survey:
    survey = Survey(round_id=round_id, identity_id=identity_id, case_id=case_id, asked_at=at)
    session.add(survey)
    session.flush()
    return survey


def survey_by_id(*, session: Session, survey_id: int) -> tuple[Survey, SurveyRound] | None:
    survey = session.get(Survey, survey_id)
    found = session.get(SurveyRound, survey.round_id) if survey is not None else None
    return (survey, found) if survey is not None and found is not None else None


def to_remind(*, session: Session, asked_before: datetime) -> Sequence[tuple[Survey, SurveyRound]]:
    """Unanswered surveys asked before ``asked_before`` that were never reminded."""
    rows = session.exec(
        select(Survey, SurveyRound)
        .join(SurveyRound, col(SurveyRound.id) == col(Survey.round_id))
        .where(
            col(Survey.answered_at).is_(None), col(Survey.reminded_at).is_(None), col(Survey.asked_at) < asked_before
        )
        .order_by(col(Survey.id))
    ).all()
    return [(survey, found) for survey, found in rows]


def rounds(*, session: Session, kind: str | None = None) -> Sequence[SurveyRound]:
    query = select(SurveyRound).order_by(col(SurveyRound.id))
    if kind is not None:
        query = query.where(SurveyRound.kind == kind)
    return session.exec(query).all()


def surveys_of_round(*, session: Session, round_id: int) -> Sequence[Survey]:
    return session.exec(select(Survey).where(Survey.round_id == round_id).order_by(col(Survey.id))).all()


def survey_counts(
    *, session: Session, community_ids: Sequence[int], start: datetime, end: datetime
) -> list[tuple[str, int, int, int, int, int]]:
    """Per kind, of the surveys asked in [start, end) in these communities: (kind, asked, answered,
    first answer yes, second answer yes, second answer "not applicable"), answers as they stood at ``end``."""
    answered = sa.and_(col(Survey.answered_at).is_not(None), col(Survey.answered_at) < end)
    rows = session.execute(
        sa.select(
            col(SurveyRound.kind),
            sa.func.count(col(Survey.id)),
            sa.func.sum(sa.case((answered, 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(answered, col(Survey.answer1) == "y"), 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(answered, col(Survey.answer2) == "y"), 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(answered, col(Survey.answer2) == "na"), 1), else_=0)),
        )
        .join(SurveyRound, col(SurveyRound.id) == col(Survey.round_id))
        .join(Grid, col(Grid.id) == col(SurveyRound.grid_id))
        .where(
            col(Grid.community_id).in_(list(community_ids)), col(Survey.asked_at) >= start, col(Survey.asked_at) < end
        )
        .group_by(col(SurveyRound.kind))
        .order_by(col(SurveyRound.kind))
    ).all()
    return [(kind, int(a), int(b or 0), int(c or 0), int(d or 0), int(e or 0)) for kind, a, b, c, d, e in rows]

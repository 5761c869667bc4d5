"""回访 and 知晓率 by random sample (逆向考核, issue 13): evidence the handling officer does not control.

Each month, for the month just ended and per grid, a seeded random share of the cases closed in it
is drawn and their reporters are asked two questions (solved? satisfied?); a share of the grid's
proved residents is asked two more (do you know your grid officer? did you hear back?). Answers are
buttons. An unanswered survey gets one polite reminder, never a second. The seed comes from the
kind, month and grid (and a deployment salt) and is stored with the population size, so the sample
can be redrawn and checked; it does not depend on who handled the case. A round is unique per
(kind, month, grid), so restarts and a second scheduler ask nobody twice.
"""

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import catalogue
from handlers.context import queue
from handlers.errors import BadInput, NotFound
from handlers.messages import Button, OutgoingMessage
from storage import repositories as repo
from storage import surveys as store
from storage.db import Database
from storage.models import ChatIdentity, Survey, SurveyRound

FOLLOWUP = "followup"
AWARENESS = "awareness"
#: Per kind, the two questions' answers: (value, button label).
ANSWERS: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {
    FOLLOWUP: ((("y", "已解决"), ("n", "未解决")), (("y", "满意"), ("n", "不满意"))),
    AWARENESS: ((("y", "知道"), ("n", "不知道")), (("y", "有回音"), ("n", "没有回音"), ("na", "没反映过"))),
}


@dataclass(frozen=True, slots=True)
class SurveySettings:
    followup_share: float = 0.2
    awareness_share: float = 0.05
    remind_after: timedelta = timedelta(days=3)
    #: Mixed into every seed so another deployment's samples cannot be predicted from ours.
    salt: str = "minqing"


def previous_month(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar month before the one ``now`` falls in."""
    local = now.astimezone(zone)
    end = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=1)).replace(day=1)
    return start, end


def seed_for(kind: str, period_start: datetime, grid_code: str, salt: str) -> int:
    digest = hashlib.sha256(f"{salt}|{kind}|{period_start.date().isoformat()}|{grid_code}".encode()).hexdigest()
    return int(digest[:15], 16)


def draw(population: list[int], share: float, seed: int) -> list[int]:
    """A reproducible sample: ``ceil(share × n)`` of the sorted population (at least one when any)."""
    if not population:
        return []
    size = min(len(population), max(1, math.ceil(share * len(population))))
    return sorted(random.Random(seed).sample(sorted(population), size))


def _buttons(kind: str, survey_id: int) -> tuple[tuple[Button, ...], ...]:
    return tuple(
        tuple(Button(label, f"sv:{survey_id}:{number}:{value}") for value, label in answers)
        for number, answers in enumerate(ANSWERS[kind], 1)
    )


def run_monthly(db: Database, *, settings: SurveySettings, zone: ZoneInfo, now: datetime) -> int:
    """Sample the month just ended in every grid and ask; returns how many people were asked."""
    start, end = previous_month(now, zone)
    messages: list[OutgoingMessage] = []
    with db.transaction() as session:
        for grid in repo.grids(session=session):
            grid_id = grid.id or 0
            closed = store.closed_cases_of_grid(session=session, grid_id=grid_id, start=start, end=end)
            first_case: dict[int, int] = {}
            for closed_id, reporter_id in closed:  # one survey per person: their first closed case
                first_case.setdefault(reporter_id, closed_id)
            by_case = {closed_id: reporter_id for reporter_id, closed_id in first_case.items()}
            residents = store.verified_residents_of_grid(session=session, grid_id=grid_id)
            for kind, population, share in (
                (FOLLOWUP, sorted(by_case), settings.followup_share),
                (AWARENESS, residents, settings.awareness_share),
            ):
                seed = seed_for(kind, start, grid.code, settings.salt)
                chosen = draw(population, share, seed)
                round_id = store.open_round(
                    session=session, kind=kind, period_start=start, grid_id=grid_id, seed=seed, share=share,
                    eligible=len(population), sampled=len(chosen), at=now,
                )  # fmt: skip
                if round_id is None:
                    continue  # this month was sampled already
                for member in chosen:
                    about: int | None = member if kind == FOLLOWUP else None
                    identity_id = by_case[member] if kind == FOLLOWUP else member
                    survey = store.add_survey(
                        session=session, round_id=round_id, identity_id=identity_id, case_id=about, at=now
                    )
                    messages += _ask(session, kind, survey, zone, reminder=False)
        queue(session, messages, now)
    return len(messages)


def _ask(session: Session, kind: str, survey: Survey, zone: ZoneInfo, *, reminder: bool) -> list[OutgoingMessage]:
    identity = session.get(ChatIdentity, survey.identity_id)
    if identity is None:  # pragma: no cover - guarded by the foreign key
        return []
    if kind == FOLLOWUP:
        case = repo.case_by_id(session=session, case_id=survey.case_id)
        when = case.created_at.astimezone(zone).strftime("%m月%d日") if case else ""
        text = catalogue.followup_question(case.code or "" if case else "", when)
    else:
        text = catalogue.AWARENESS_QUESTION
    if reminder:
        text = f"{catalogue.SURVEY_REMINDER}\n{text}"
    return [
        OutgoingMessage(
            identity.platform, identity.user_id, text, kind="notify", buttons=_buttons(kind, survey.id or 0)
        )
    ]


def send_reminders(db: Database, *, settings: SurveySettings, zone: ZoneInfo, now: datetime) -> int:
    """One reminder for each survey unanswered after ``remind_after``; never a second one."""
    messages: list[OutgoingMessage] = []
    with db.transaction() as session:
        for survey, found in store.to_remind(session=session, asked_before=now - settings.remind_after):
            survey.reminded_at = now
            session.add(survey)
            messages += _ask(session, found.kind, survey, zone, reminder=True)
        queue(session, messages, now)
    return len(messages)


def answer(session: Session, identity: ChatIdentity, data: str, *, now: datetime) -> str:
    """A button press ``sv:ID:QUESTION:VALUE``; returns the toast. Only the person asked may answer, once."""
    parts = data.split(":")
    if len(parts) != 4 or not parts[1].isdigit() or parts[2] not in ("1", "2"):
        raise BadInput(catalogue.UNKNOWN_COMMAND)
    found = store.survey_by_id(session=session, survey_id=int(parts[1]))
    if found is None or found[0].identity_id != identity.id:
        raise NotFound(catalogue.SURVEY_NOT_YOURS)
    survey, survey_round = found
    question = int(parts[2])
    if parts[3] not in {value for value, _ in ANSWERS[survey_round.kind][question - 1]}:
        raise BadInput(catalogue.UNKNOWN_COMMAND)
    field = "answer1" if question == 1 else "answer2"
    if getattr(survey, field):
        return catalogue.SURVEY_ALREADY
    setattr(survey, field, parts[3])
    if survey.answer1 and survey.answer2:
        survey.answered_at = now
    session.add(survey)
    return catalogue.SURVEY_THANKS if survey.answered_at else catalogue.SURVEY_ONE_MORE


def round_summary(session: Session, survey_round: SurveyRound) -> dict[str, object]:
    """A round's population, sample, and answers, for the record and the tests."""
    surveys = store.surveys_of_round(session=session, round_id=survey_round.id or 0)
    return {
        "kind": survey_round.kind,
        "grid_id": survey_round.grid_id,
        "seed": survey_round.seed,
        "eligible": survey_round.eligible,
        "sampled": survey_round.sampled,
        "answered": sum(1 for s in surveys if s.answered_at is not None),
        "members": [s.case_id if survey_round.kind == FOLLOWUP else s.identity_id for s in surveys],
    }

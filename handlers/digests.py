"""民情分析 digests: a community's or street's figures for a week, month or quarter, and their text.

Figures are over the cases received in the period, with their state at the period's end, compared
with the period before: volume by category, intent and grid; hot keywords, recurring places and
households; polarity and its trend; critical cases; open and overdue; median first-reply and
resolution times; on-time rate = closed on time ÷ (closed + still open past the resolution deadline);
satisfaction rate; per-grid and per-officer figures, ranked only with a minimum sample; early
warnings when a category rises sharply in a grid against that grid's own recent periods.

Figures come from the period's cases packed per day (``handlers.digest_days``): one read of the
packed days, checked against the created_at index and patched with the cases changed since, then
numpy counts — so a quarter of a large street costs less than a few ``GROUP BY category`` scans.
Critical cases and the open backlog are read through their own indexes. A digest is stored once
per (kind, period, scope) — the unique constraint decides, in the transaction that queues its
messages.
"""

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlmodel import Session, col, func, select

from analysis.taxonomy import Taxonomy
from handlers import catalogue as t
from handlers.clock import Clock
from handlers.digest_days import (
    DayCache,
    Facts,
    FloatArray,
    IntArray,
    counts_by,
    dense,
    end_day_of,
    first_day_of,
    subset,
)
from handlers.errors import NotFound
from handlers.jurisdiction import Scope, digest_readers, scope_of_officer, scopes
from handlers.messages import OutgoingMessage
from storage import repositories as repo
from storage.db import Database
from storage.models import Case, Community, Digest, Grid, Household, Officer

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("week", "month", "quarter")
TELEGRAM_LIMIT = 4096
_SATISFIED = ("satisfied", "basically")


# ------------------------------------------------------------------------------------------ periods


_boundary = first_day_of


def _previous_boundary(kind: str, boundary: date) -> date:
    if kind == "week":
        return boundary - timedelta(days=7)
    months = 1 if kind == "month" else 3
    index = boundary.year * 12 + boundary.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """[first_day, end_day) in the deployment's zone; ``start``/``end`` are the UTC instants."""

    kind: str
    first_day: date
    end_day: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(0), tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.end_day, time(0), tzinfo=self.zone)

    def previous(self) -> "Period":
        return Period(self.kind, _previous_boundary(self.kind, self.first_day), self.first_day, self.zone)

    @property
    def label(self) -> str:
        return t.period_label(self.kind, self.start, self.end - timedelta(days=1))


def period_just_ended(kind: str, moment: datetime, zone: ZoneInfo) -> Period:
    """The last complete period of ``kind`` that ended at or before ``moment``."""
    end_day = _boundary(kind, moment.astimezone(zone).date())
    return Period(kind, _previous_boundary(kind, end_day), end_day, zone)


def period_ending_on(kind: str, last_day: date, zone: ZoneInfo) -> Period:
    """The last complete period that ended on or before the end of ``last_day`` (``--end``)."""
    return period_just_ended(kind, datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone), zone)


# ------------------------------------------------------------------------------------------ figures


@dataclass(frozen=True, slots=True)
class PeriodCounts:
    """The counts a later digest compares with; stored inside each digest's figures."""

    label: str
    total: int = 0
    negative: int = 0
    negative_intensity: float = 0.0
    by_category: dict[str, int] = field(default_factory=dict)
    by_intent: dict[str, int] = field(default_factory=dict)
    by_grid: dict[str, int] = field(default_factory=dict)
    grid_category: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """Cases and their state at the period's end, for a grid, an officer or the whole scope."""

    name: str
    cases: int = 0
    previous: int = 0
    closed: int = 0
    closed_on_time: int = 0
    open_overdue: int = 0
    satisfied: int = 0
    rated: int = 0

    @property
    def sample(self) -> int:
        return self.closed + self.open_overdue

    @property
    def on_time_rate(self) -> float | None:
        return self.closed_on_time / self.sample if self.sample else None

    @property
    def satisfaction_rate(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


@dataclass(frozen=True, slots=True)
class EarlyWarning:
    grid: str
    category: str
    current: int
    baseline: float


@dataclass(frozen=True, slots=True)
class CriticalCase:
    code: str
    category: str
    status: str


@dataclass(frozen=True, slots=True)
class DigestFigures:
    kind: str
    scope_code: str
    scope_name: str
    period_start: datetime
    period_end: datetime
    period_label: str
    counts: PeriodCounts
    previous: PeriodCounts
    history: tuple[PeriodCounts, ...]  # oldest first, ending with the previous period
    overall: Outcome
    positive: int
    neutral: int
    critical_count: int
    critical: tuple[CriticalCase, ...]
    hot_keywords: tuple[tuple[str, int], ...]
    hot_keywords_estimated: bool
    hot_places: tuple[tuple[str, int], ...]
    repeated_households: tuple[tuple[str, int, str], ...]
    median_first_reply_minutes: float | None
    median_resolution_minutes: float | None
    backlog_open: int
    backlog_overdue: int
    grids: tuple[Outcome, ...]
    officers: tuple[Outcome, ...]
    warnings: tuple[EarlyWarning, ...]

    @property
    def is_empty(self) -> bool:
        return self.counts.total == 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, default=str, sort_keys=True)


@dataclass(frozen=True, slots=True)
class DigestSettings:
    #: Grids and officers are ranked only with at least this many closed or overdue cases.
    min_sample: int = 5
    #: A grid's category is flagged when it reaches ``warn_ratio`` × its recent average and ``warn_min`` cases.
    warn_ratio: float = 2.0
    warn_min: int = 5
    history_periods: int = 4
    top: int = 8
    max_lines: int = 15
    message_limit: int = TELEGRAM_LIMIT


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return func.coalesce(func.sum(sa.case((condition, 1), else_=0)), 0)


class DigestBuilder:
    """Computes a scope's figures for a period and renders them; stores and sends nothing."""

    def __init__(self, *, taxonomy: Taxonomy, zone: ZoneInfo, settings: DigestSettings | None = None) -> None:
        self.taxonomy = taxonomy
        self.zone = zone
        self.settings = settings or DigestSettings()
        self._critical = taxonomy.urgencies[0].code if taxonomy.urgencies else ""

    # ---------------------------------------------------------------------- queries

    def figures(
        self, session: Session, scope: Scope, period: Period, *, cache: DayCache | None = None
    ) -> DigestFigures:
        """Every figure of ``scope`` for ``period``, from the period's packed days (see ``digest_days``).

        ``cache`` carries packed days between the scopes of one run and collects the days rebuilt
        here for the caller to store; without it, stale days are packed in memory and forgotten.
        """
        cache = cache if cache is not None else DayCache(self.zone)
        start, end = period.start, period.end
        if (first_day_of(period.kind, period.first_day), end_day_of(period.kind, period.first_day)) != (
            period.first_day,
            period.end_day,
        ):
            raise ValueError(f"{period} is not a calendar {period.kind}")
        facts = self._facts(session, cache, scope, period)
        n = facts.size
        # Each case's state at this period's end was worked out when its day was packed.
        resolved, on_time, open_overdue, first_reply = facts.outcome(period.kind)
        rating = facts.codes["rating"]
        satisfied = np.isin(rating, [facts.code_of("rating", r) for r in _SATISFIED])
        rated = rating >= 0
        # cases, closed, on time, open overdue, satisfied, rated: per grid and per officer
        outcome = np.stack([np.ones(n, dtype=bool), resolved, on_time, open_overdue, satisfied, rated])

        grid_names = self._grid_names(session, scope)
        grid_code, grid_ids = dense(facts.ids["grid"])
        grid_label = [grid_names.get(g, t.UNROUTED_GRID) if g >= 0 else t.UNROUTED_GRID for g in grid_ids]
        officer_code, officer_ids = dense(facts.ids["assignee"])
        officer_names = self._officer_names(session, {o for o in officer_ids if o >= 0})
        officer_label = [
            officer_names.get(o, t.UNASSIGNED_OFFICER) if o >= 0 else t.UNASSIGNED_OFFICER for o in officer_ids
        ]
        grid_outcomes = _outcome_table(grid_code, grid_label, outcome)
        officer_outcomes = _outcome_table(officer_code, officer_label, outcome)

        counts = self._counts(facts, period.label, grid_code, grid_label)
        polarity = facts.codes["polarity"]
        positive = int(np.count_nonzero(polarity == facts.code_of("polarity", "positive")))
        critical = int(np.count_nonzero(facts.codes["urgency"] == facts.code_of("urgency", self._critical)))
        history = self._history(session, scope, period, cache)
        previous = history[-1] if history else PeriodCounts(label=period.previous().label)
        totals = outcome.sum(axis=1)
        overall = Outcome(
            name=scope.name,
            cases=n,
            previous=previous.total,
            closed=int(totals[1]),
            closed_on_time=int(totals[2]),
            open_overdue=int(totals[3]),
            satisfied=int(totals[4]),
            rated=int(totals[5]),
        )
        in_period = (col(Case.created_at) >= start) & (col(Case.created_at) < end) & scope.condition()
        backlog_open, backlog_overdue = self._backlog(session, scope, end)
        return DigestFigures(
            kind=period.kind,
            scope_code=scope.code,
            scope_name=scope.name,
            period_start=start,
            period_end=end,
            period_label=period.label,
            counts=counts,
            previous=previous,
            history=tuple(history),
            overall=overall,
            positive=positive,
            neutral=n - counts.negative - positive,
            critical_count=critical,
            critical=self._critical_cases(session, in_period) if critical else (),
            hot_keywords=self._hot_keywords(facts),
            hot_keywords_estimated=False,
            hot_places=self._hot_places(facts),
            repeated_households=self._repeated_households(session, facts),
            median_first_reply_minutes=_median(facts.minutes["reply"][first_reply]),
            median_resolution_minutes=_median(facts.minutes["resolve"][resolved]),
            backlog_open=backlog_open,
            backlog_overdue=backlog_overdue,
            grids=_outcomes(grid_outcomes, previous.by_grid),
            officers=_outcomes(officer_outcomes, {}),
            warnings=self._warnings(counts, history),
        )

    def _facts(self, session: Session, cache: DayCache, scope: Scope, period: Period) -> Facts:
        """The period's cases within ``scope``."""
        facts = cache.facts(session, period.first_day, period.end_day)
        community = facts.ids["community"]
        keep = np.isin(community, np.array(scope.community_ids, dtype=np.int64))
        if scope.include_unrouted:
            keep |= community < 0
        return subset(facts, keep)

    def _counts(self, facts: Facts, label: str, grid_code: IntArray, grid_label: Sequence[str]) -> PeriodCounts:
        """Volume by category, intent and grid and the polarity counts: what later periods compare with."""
        categories = facts.vocab["category"]
        per_category = counts_by(facts.codes["category"], len(categories))
        cells = np.bincount(
            grid_code * max(len(categories), 1) + facts.codes["category"],
            minlength=len(grid_label) * len(categories),
        ).reshape(len(grid_label), len(categories))
        by_grid: Counter[str] = Counter()
        grid_category: dict[str, Counter[str]] = {}
        for g, name in enumerate(grid_label):
            row = cells[g]
            by_grid[name] += int(row.sum())
            target = grid_category.setdefault(name, Counter())
            for c in np.flatnonzero(row):
                target[categories[int(c)]] += int(row[c])
        intents = facts.vocab["intent"]
        per_intent = counts_by(facts.codes["intent"], len(intents))
        by_intent = {i.code: int(per_intent[intents.index(i.code)]) for i in self.taxonomy.intents if i.code in intents}
        negative = facts.codes["polarity"] == facts.code_of("polarity", "negative")
        return PeriodCounts(
            label=label,
            total=facts.size,
            negative=int(np.count_nonzero(negative)),
            negative_intensity=float(facts.intensity[negative].sum()),
            by_category={
                categories[i]: int(per_category[i])
                for i in sorted(range(len(categories)), key=categories.__getitem__)
                if per_category[i]
            },
            by_intent={k: v for k, v in by_intent.items() if v},
            by_grid={k: v for k, v in by_grid.items() if v},
            grid_category={g: dict(c) for g, c in grid_category.items() if c},
        )

    def period_counts(
        self, session: Session, scope: Scope, period: Period, cache: DayCache | None = None
    ) -> PeriodCounts:
        """The comparison counts of a period that has no stored digest."""
        facts = self._facts(session, cache if cache is not None else DayCache(self.zone), scope, period)
        grid_names = self._grid_names(session, scope)
        grid_code, grid_ids = dense(facts.ids["grid"])
        grid_label = [grid_names.get(g, t.UNROUTED_GRID) if g >= 0 else t.UNROUTED_GRID for g in grid_ids]
        return self._counts(facts, period.label, grid_code, grid_label)

    def _hot_keywords(self, facts: Facts) -> tuple[tuple[str, int], ...]:
        words = facts.vocab["keyword"]
        counts = np.bincount(facts.keyword, minlength=len(words))
        ranked = sorted(range(len(words)), key=lambda i: -int(counts[i]))[: self.settings.top]
        return tuple((words[i], int(counts[i])) for i in ranked if counts[i] >= 2)

    def _hot_places(self, facts: Facts) -> tuple[tuple[str, int], ...]:
        places = facts.vocab["address"]
        counts = counts_by(facts.codes["address"], len(places))
        found = sorted(((places[i], int(c)) for i, c in enumerate(counts) if c >= 2), key=lambda p: (-p[1], p[0]))
        return tuple(found[: self.settings.top])

    def _repeated_households(self, session: Session, facts: Facts) -> tuple[tuple[str, int, str], ...]:
        households = facts.ids["household"]
        ids, counts = np.unique(households[households >= 0], return_counts=True)
        order = np.lexsort((ids, -counts))[: self.settings.top]  # most cases first, then by id
        top = [(int(ids[i]), int(counts[i])) for i in order if counts[i] >= 2]
        if not top:
            return ()
        wanted = [h for h, _ in top]
        homes = {h.id: h for h in session.exec(select(Household).where(col(Household.id).in_(wanted))).all()}
        names = {c.id: c.name for c in session.exec(select(Community)).all()}
        categories = facts.vocab["category"]
        found: list[tuple[str, int, str]] = []
        for household_id, count in top:
            home = homes.get(household_id)
            if home is None:
                continue
            codes = np.unique(facts.codes["category"][households == household_id])
            kinds = sorted({self.category_name(categories[int(c)]) for c in codes if c >= 0})
            unit = f"{home.unit}单元" if home.unit else ""
            # Leaders read this: the address is enough, names and phones stay in the archive.
            label = f"{names.get(home.community_id, '')}{home.building}幢{unit}{home.room}"
            found.append((label, count, "、".join(kinds)))
        return tuple(found)

    def _history(self, session: Session, scope: Scope, period: Period, cache: DayCache) -> list[PeriodCounts]:
        """Counts of the last few periods, oldest first: stored digests where they exist."""
        history: list[PeriodCounts] = []
        earlier = period
        for _ in range(self.settings.history_periods):
            earlier = earlier.previous()
            stored = session.exec(
                select(Digest.figures).where(
                    Digest.kind == period.kind, Digest.scope_code == scope.code, Digest.period_start == earlier.start
                )
            ).first()
            counts = parse_counts(stored) if stored else None
            if counts is None:
                if history:
                    break  # older periods without a digest: the history we have is enough
                counts = self.period_counts(session, scope, earlier, cache)
            history.append(counts)
        return list(reversed(history))

    def _grid_names(self, session: Session, scope: Scope) -> dict[int | None, str]:
        grids = session.exec(select(Grid).where(col(Grid.community_id).in_(scope.community_ids))).all()
        return {g.id: g.code if g.name in ("", g.code) else f"{g.code} {g.name}" for g in grids}

    def _officer_names(self, session: Session, ids: set[int]) -> dict[int | None, str]:
        if not ids:
            return {}
        officers = session.exec(select(Officer).where(col(Officer.id).in_(sorted(ids)))).all()
        return {o.id: o.name for o in officers}

    def _critical_cases(self, session: Session, in_period: sa.ColumnElement[bool]) -> tuple[CriticalCase, ...]:
        rows = session.execute(
            sa.select(col(Case.code), col(Case.category), col(Case.status))
            .where(col(Case.urgency) == self._critical, in_period)
            .order_by(col(Case.created_at), col(Case.id))
            .limit(self.settings.max_lines)
        ).all()
        return tuple(CriticalCase(code or "", self.category_name(category), status) for code, category, status in rows)

    def _backlog(self, session: Session, scope: Scope, end: datetime) -> tuple[int, int]:
        """Open cases received before ``end`` (as they stand now), read through the open-case index."""
        overdue = (col(Case.resolution_due) < end) | (
            col(Case.first_replied_at).is_(None) & (col(Case.first_reply_due) < end)
        )
        row = session.execute(
            sa.select(func.count(), _count_if(overdue)).where(
                col(Case.resolved_at).is_(None),
                col(Case.closed_at).is_(None),
                # Wrapped so no planner walks the created_at index over the whole table: the
                # open-case partial index (same predicate as above) is the small way in.
                func.coalesce(col(Case.created_at), col(Case.created_at)) < end,
                col(Case.resolution_due) > datetime(1970, 1, 2, tzinfo=UTC),
                scope.condition(),
            )
        ).one()
        return int(row[0]), int(row[1])

    def _warnings(self, counts: PeriodCounts, history: Sequence[PeriodCounts]) -> tuple[EarlyWarning, ...]:
        if not history or not any(h.total for h in history):
            return ()  # a new deployment has no history to rise against
        found: list[EarlyWarning] = []
        for grid, categories in counts.grid_category.items():
            for category, current in categories.items():
                baseline = sum(h.grid_category.get(grid, {}).get(category, 0) for h in history) / len(history)
                if current >= self.settings.warn_min and current >= self.settings.warn_ratio * max(baseline, 1.0):
                    found.append(EarlyWarning(grid, self.category_name(category), current, baseline))
        found.sort(key=lambda w: (-(w.current / max(w.baseline, 1.0)), w.grid, w.category))
        return tuple(found[: self.settings.max_lines])

    def category_name(self, code: str) -> str:
        try:
            return self.taxonomy.category(code).name
        except KeyError:
            return code

    def _intent_name(self, code: str) -> str:
        try:
            return self.taxonomy.intent(code).name
        except KeyError:
            return code

    # ---------------------------------------------------------------------- text

    def sections(self, figures: DigestFigures) -> list[str]:
        """The digest as paragraphs (title first); stored joined by blank lines."""
        title = t.digest_title(figures.kind, figures.scope_name, figures.period_label)
        if figures.is_empty:
            return [f"{title}\n{t.digest_empty(figures.backlog_open, figures.backlog_overdue)}"]
        return [title, *self._sections(figures)]

    def render(self, figures: DigestFigures) -> list[str]:
        """The digest as chat messages, each within the message limit, split between sections."""
        return split_message(self.sections(figures), limit=self.settings.message_limit)

    def _sections(self, f: DigestFigures) -> list[str]:
        s = self.settings
        o = f.overall
        overview = t.digest_overview(
            total=o.cases,
            previous_total=o.previous,
            closed=o.closed,
            closed_on_time=o.closed_on_time,
            open_overdue=o.open_overdue,
            median_first_reply=f.median_first_reply_minutes,
            median_resolution=f.median_resolution_minutes,
            satisfied=o.satisfied,
            rated=o.rated,
            backlog_open=f.backlog_open,
            backlog_overdue=f.backlog_overdue,
        )
        categories = [t.DIGEST_CATEGORIES] + [
            t.count_line(self.category_name(code), count, f.previous.by_category.get(code, 0))
            for code, count in _ranked(f.counts.by_category)[: s.max_lines]
        ]
        intents = [t.DIGEST_INTENTS] + [
            t.count_line(self._intent_name(code), count, f.previous.by_intent.get(code, 0))
            for code, count in _ranked(f.counts.by_intent)
        ]
        hot = [t.DIGEST_HOT]
        if f.hot_keywords:
            hot.append(t.hot_keywords(list(f.hot_keywords), estimated=f.hot_keywords_estimated))
        if f.hot_places:
            hot.append(t.hot_places(list(f.hot_places)))
        hot += [t.repeated_household(label, count, cats) for label, count, cats in f.repeated_households]
        if len(hot) == 1:
            hot.append(t.DIGEST_NO_HOT)
        previous_mean = f.previous.negative_intensity / f.previous.negative if f.previous.negative else None
        current_mean = f.counts.negative_intensity / f.counts.negative if f.counts.negative else None
        mood = [
            t.DIGEST_MOOD,
            t.mood_line(
                negative=f.counts.negative,
                neutral=f.neutral,
                positive=f.positive,
                total=f.counts.total,
                previous_negative=f.previous.negative,
                previous_total=f.previous.total,
            ),
            t.intensity_line(current_mean, previous_mean),
        ]
        trail = [h for h in f.history if h.total] + [f.counts]
        if len(trail) >= 3:
            mood.append(t.trend_line([(h.label, h.total, t.percent(h.negative, h.total)) for h in trail]))
        critical = [t.DIGEST_CRITICAL]
        if f.critical_count:
            critical.append(t.critical_head(f.critical_count))
            critical += [t.critical_line(c.code, c.category, c.status) for c in f.critical]
        else:
            critical.append(t.DIGEST_NO_CRITICAL)
        grids = [t.DIGEST_GRIDS] + [
            t.grid_line(g.name, g.cases, g.previous, _rate(g.on_time_rate), _rate(g.satisfaction_rate), g.open_overdue)
            for g in f.grids[: s.max_lines]
        ]
        grids += _rankings(f.grids, s.min_sample)
        officers = [t.DIGEST_OFFICERS] + [
            t.officer_line(o.name, o.cases, o.closed, _rate(o.on_time_rate), _rate(o.satisfaction_rate))
            for o in f.officers[: s.max_lines]
        ]
        officers += _rankings(f.officers, s.min_sample)
        warnings = [t.DIGEST_WARNINGS] + (
            [t.warning_line(w.grid, w.category, w.current, w.baseline) for w in f.warnings] or [t.DIGEST_NO_WARNINGS]
        )
        return [
            overview,
            *("\n".join(part) for part in (categories, intents, hot, mood, critical, grids, officers, warnings)),
        ]


def _outcome_table(codes: IntArray, labels: Sequence[str], outcome: NDArray[np.bool_]) -> dict[str, list[int]]:
    """Outcome columns summed per label (several ids may share a name)."""
    table: dict[str, list[int]] = {}
    for row in range(outcome.shape[0]):
        sums = np.bincount(codes, weights=outcome[row], minlength=len(labels))
        for i, name in enumerate(labels):
            table.setdefault(name, [0] * outcome.shape[0])[row] += int(sums[i])
    return table


def _median(minutes: FloatArray) -> float | None:
    return float(np.median(minutes)) if minutes.shape[0] else None


def _outcomes(table: dict[str, list[int]], previous: dict[str, int]) -> tuple[Outcome, ...]:
    found = [
        Outcome(
            name=name,
            cases=v[0],
            previous=previous.get(name, 0),
            closed=v[1],
            closed_on_time=v[2],
            open_overdue=v[3],
            satisfied=v[4],
            rated=v[5],
        )
        for name, v in table.items()
    ]
    return tuple(sorted(found, key=lambda o: (-o.cases, o.name)))


def _ranked(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _rate(value: float | None) -> str:
    return f"{value * 100:.1f}%" if value is not None else "—"


def _rankings(outcomes: Iterable[Outcome], min_sample: int) -> list[str]:
    """Best and worst on-time rates among those with enough cases to judge; nobody else is ranked."""
    eligible = sorted(
        (o for o in outcomes if o.sample >= min_sample and o.on_time_rate is not None),
        key=lambda o: (-(o.on_time_rate or 0.0), -o.sample, o.name),
    )
    if len(eligible) <= 10:
        return [t.ranking_line("按时办结率排名", [(o.name, _rate(o.on_time_rate)) for o in eligible], min_sample)]
    best = [(o.name, _rate(o.on_time_rate)) for o in eligible[:5]]
    worst = [(o.name, _rate(o.on_time_rate)) for o in reversed(eligible[-5:])]
    return [t.ranking_line("按时办结率前五", best, min_sample), t.ranking_line("按时办结率后五", worst, min_sample)]


def split_message(sections: Sequence[str], *, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Pack sections into messages of at most ``limit`` characters, never breaking a line.

    Sections stay whole when they fit; a section longer than a message is split between lines.
    Continuation messages carry a "(续 i/n)" marker so a reader can tell they belong together.
    """
    reserve = len(t.DIGEST_CONTINUED.format(part=99, parts=99)) + 1
    budget = limit - reserve
    pieces: list[str] = []
    for section in sections:
        if len(section) <= budget:
            pieces.append(section)
            continue
        chunk = ""
        for line in section.split("\n"):
            while len(line) > budget:  # a single runaway line: cut it hard
                if chunk:
                    pieces.append(chunk)
                    chunk = ""
                pieces.append(line[:budget])
                line = line[budget:]
            if chunk and len(chunk) + 1 + len(line) > budget:
                pieces.append(chunk)
                chunk = line
            else:
                chunk = f"{chunk}\n{line}" if chunk else line
        if chunk:
            pieces.append(chunk)
    messages: list[str] = []
    for piece in pieces:
        if messages and len(messages[-1]) + 2 + len(piece) <= budget:
            messages[-1] += "\n\n" + piece
        else:
            messages.append(piece)
    if len(messages) == 1:
        return messages
    return [
        text if i == 1 else f"{t.DIGEST_CONTINUED.format(part=i, parts=len(messages))}\n{text}"
        for i, text in enumerate(messages, 1)
    ]


def parse_counts(raw: str) -> PeriodCounts | None:
    """The comparison counts inside a stored digest's figures; None if they are not readable."""
    try:
        data: object = json.loads(raw)
    except ValueError:
        return None
    counts = data.get("counts") if isinstance(data, dict) else None
    if not isinstance(counts, dict):
        return None
    grid_category = counts.get("grid_category")
    try:
        return PeriodCounts(
            label=str(counts.get("label", "")),
            total=int(counts["total"]),
            negative=int(counts["negative"]),
            negative_intensity=float(counts["negative_intensity"]),
            by_category=_int_map(counts.get("by_category")),
            by_intent=_int_map(counts.get("by_intent")),
            by_grid=_int_map(counts.get("by_grid")),
            grid_category={str(k): _int_map(v) for k, v in grid_category.items()}
            if isinstance(grid_category, dict)
            else {},
        )
    except (KeyError, TypeError, ValueError):
        return None


def _int_map(raw: object) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int | float)}


# ------------------------------------------------------------------------------------------ producing

#: Renders a digest's chart as PNG bytes (matplotlib lives in ``schedules``; handlers stay light).
ChartRenderer = Callable[[DigestFigures], bytes | None]


@dataclass(frozen=True, slots=True)
class ProducedDigest:
    """One scope's digest for one period; ``created`` is False when it already existed."""

    digest_id: int
    kind: str
    scope_code: str
    period_label: str
    period_start: datetime
    created: bool
    messages: int
    parts: tuple[str, ...]
    has_chart: bool


class Digests:
    """Produces each scope's digest once, stores it, and queues it for the scope's leaders."""

    def __init__(
        self,
        *,
        db: Database,
        taxonomy: Taxonomy,
        clock: Clock,
        zone: ZoneInfo,
        settings: DigestSettings | None = None,
        chart: ChartRenderer | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.zone = zone
        self.builder = DigestBuilder(taxonomy=taxonomy, zone=zone, settings=settings)
        self.chart = chart

    def produce(self, kind: str, period: Period | None = None) -> list[ProducedDigest]:
        """Every scope's digest for ``period`` (default: the period just ended); each exactly once."""
        period = period or period_just_ended(kind, self.clock.now(), self.zone)
        with self.db.session() as session:
            all_scopes = scopes(session)
        # One read of the period's packed days serves every scope.
        cache = DayCache(self.zone, now=self.clock.now())
        return [self.produce_one(scope, period, cache=cache) for scope in all_scopes]

    def produce_one(self, scope: Scope, period: Period, *, cache: DayCache | None = None) -> ProducedDigest:
        """One scope's digest, once; the days it had to pack are stored for the next digests."""
        existing = self._stored(scope, period)
        if existing is not None:
            return self._as_produced(existing, created=False, messages=0)
        cache = cache if cache is not None else DayCache(self.zone, now=self.clock.now())
        with self.db.session() as session:
            figures = self.builder.figures(session, scope, period, cache=cache)
        self.store_days(cache)  # before the digest row: whoever sees the digest finds its days kept
        sections = self.builder.sections(figures)
        parts = split_message(sections, limit=self.builder.settings.message_limit)
        png = self.chart(figures) if self.chart is not None and not figures.is_empty else None
        now = self.clock.now()
        with self.db.transaction() as session:
            claimed = repo.insert_ignoring_conflict(
                session,
                sa.inspect(Digest).local_table,
                {
                    "kind": period.kind,
                    "period_start": period.start,
                    "period_end": period.end,
                    "scope_code": scope.code,
                    "text": "\n\n".join(sections),
                    "figures": figures.to_json(),
                    "chart_png": png,
                    "created_at": now,
                },
            )
            digest = self._find(session, scope, period)
            if not claimed or digest is None:
                # Another process produced it first; it has queued the messages.
                return self._as_produced(digest, created=False, messages=0) if digest else self._missing(scope, period)
            messages = delivery_messages(session, digest, parts, digest_readers(session, scope))
            repo.queue_outgoing(session=session, rows=[m.outbox_row(now) for m in messages])
        log.info("digest %s %s %s: %d messages", period.kind, scope.code, period.label, len(messages))
        return self._as_produced(digest, created=True, messages=len(messages), parts=parts)

    def store_days(self, cache: DayCache) -> int:
        """Keep the days a run packed from the cases, so later digests read them packed."""
        if not cache.to_store:
            return 0
        with self.db.transaction() as session:
            return cache.save(session)

    def refresh_days(self) -> int:
        """Pack again the changed days of the quarter so far and the last week (the nightly job).

        The digests at 08:00 then find their days ready and read again only cases changed since.
        """
        now = self.clock.now()
        yesterday = now.astimezone(self.zone).date() - timedelta(days=1)
        first_day = min(_boundary("quarter", yesterday), yesterday - timedelta(days=6))
        cache = DayCache(self.zone, now=now)
        with self.db.session() as session:
            cache.facts(session, first_day, yesterday + timedelta(days=1))
        stored = self.store_days(cache)
        log.info("packed days: %d rebuilt, %d patched, %d stored", len(cache.rebuilt), len(cache.patched), stored)
        return stored

    def _stored(self, scope: Scope, period: Period) -> Digest | None:
        with self.db.session() as session:
            return self._find(session, scope, period)

    @staticmethod
    def _find(session: Session, scope: Scope, period: Period) -> Digest | None:
        return session.exec(
            select(Digest).where(
                Digest.kind == period.kind, Digest.period_start == period.start, Digest.scope_code == scope.code
            )
        ).first()

    def _as_produced(
        self, digest: Digest, *, created: bool, messages: int, parts: Sequence[str] | None = None
    ) -> ProducedDigest:
        return ProducedDigest(
            digest_id=digest.id or 0,
            kind=digest.kind,
            scope_code=digest.scope_code,
            period_label=_label_of(digest, self.zone),
            period_start=digest.period_start,
            created=created,
            messages=messages,
            parts=tuple(parts)
            if parts is not None
            else tuple(stored_parts(digest, self.builder.settings.message_limit)),
            has_chart=digest.chart_png is not None,
        )

    @staticmethod
    def _missing(scope: Scope, period: Period) -> ProducedDigest:  # pragma: no cover - needs a concurrent delete
        raise LookupError(f"digest {period.kind} {scope.code} {period.start} vanished")


def _label_of(digest: Digest, zone: ZoneInfo) -> str:
    start = digest.period_start.astimezone(zone)
    last = digest.period_end.astimezone(zone) - timedelta(days=1)
    return t.period_label(digest.kind, start, last)


def delivery_messages(
    session: Session, digest: Digest, parts: Sequence[str], officers: Iterable[Officer]
) -> list[OutgoingMessage]:
    """Text parts in order, then the chart as a photo the sender loads by the digest's id."""
    caption = t.DIGEST_CHART_CAPTION.format(title=parts[0].split("\n", 1)[0] if parts else "")
    messages: list[OutgoingMessage] = []
    for officer in officers:
        for identity in repo.identities_of_officer(session=session, officer_id=officer.id or 0):
            messages += [OutgoingMessage(identity.platform, identity.user_id, p, kind="digest") for p in parts]
            if digest.chart_png is not None:
                messages.append(
                    OutgoingMessage(
                        identity.platform, identity.user_id, caption, kind="digest", photo_ref=f"digest:{digest.id}"
                    )
                )
    return messages


def stored_parts(digest: Digest, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """A stored digest's text as chat messages again."""
    return split_message(digest.text.split("\n\n"), limit=limit)


def digest_for_leader(
    session: Session, *, taxonomy: Taxonomy, zone: ZoneInfo, officer: Officer, kind: str, now: datetime
) -> list[tuple[str, str | None]]:
    """``/digest week``: the leader's scope for the period just ended, as (text, photo ref) replies.

    The stored digest is shown as it was sent (with its chart) when it exists; otherwise the
    figures are computed now and nothing is stored, so the scheduled run still happens once.
    """
    scope = scope_of_officer(session, officer)
    if scope is None:
        raise NotFound(t.DIGEST_NO_SCOPE)
    period = period_just_ended(kind, now, zone)
    stored = Digests._find(session, scope, period)
    if stored is not None:
        parts = stored_parts(stored)
        replies: list[tuple[str, str | None]] = [(p, None) for p in parts]
        if stored.chart_png is not None:
            replies.append((t.DIGEST_CHART_CAPTION.format(title=parts[0].split("\n", 1)[0]), f"digest:{stored.id}"))
        return replies
    builder = DigestBuilder(taxonomy=taxonomy, zone=zone)
    return [(p, None) for p in builder.render(builder.figures(session, scope, period))]

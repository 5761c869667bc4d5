"""Computes a scope's digest figures for a period from its packed days; stores and sends nothing.

Figures come from the period's cases packed per day (``storage.digest_days``): one read of the
packed days, checked against the created_at index and patched with the cases changed since, then
numpy counts — so a quarter of a large street costs less than a few ``GROUP BY category`` scans.
Critical cases and the open backlog are read through their own indexes (``storage.digests``).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session

from analysis.taxonomy import Taxonomy
from handlers import catalogue
from handlers.digests.figures import (
    CriticalCase,
    DigestFigures,
    DigestSettings,
    EarlyWarning,
    Outcome,
    PeriodCounts,
    SurveyCounts,
    VisitCoverage,
    parse_counts,
)
from handlers.digests.periods import Period
from handlers.digests.text import sections, split_message
from handlers.digests.units import unit_outcomes
from handlers.jurisdiction import Scope
from storage import digests as store
from storage import households as household_store
from storage import surveys as survey_store
from storage.digest_days import DayCache, Facts, IntArray, counts_by, dense, end_day_of, first_day_of, subset
from storage.models import Role

_SATISFIED = ("satisfied", "basically")
#: Who is ranked among the 网格员: the grid's own staff, not those who handle cases now and then.
GRID_STAFF = (Role.GRID_OFFICER.value, Role.GRID_CHIEF.value)


@dataclass(frozen=True, slots=True)
class _Groups:
    """The period's cases grouped by grid and by officer, with each group's outcome sums."""

    grid_code: IntArray
    grid_label: list[str]
    grids: dict[str, list[int]]
    officers: dict[str, list[int]]
    totals: list[int]
    #: Officers listed but not ranked with the grid staff (and nobody, for unassigned cases).
    not_grid_staff: set[str]


class DigestBuilder:
    """Computes a scope's figures for a period, and names its codes for the text and the chart."""

    def __init__(self, *, taxonomy: Taxonomy, zone: ZoneInfo, settings: DigestSettings | None = None) -> None:
        self.taxonomy = taxonomy
        self.zone = zone
        self.settings = settings or DigestSettings()
        self._critical = taxonomy.urgencies[0].code if taxonomy.urgencies else ""

    def figures(
        self, session: Session, scope: Scope, period: Period, *, cache: DayCache | None = None
    ) -> DigestFigures:
        """Every figure of ``scope`` for ``period``, from the period's packed days.

        ``cache`` carries packed days between the scopes of one run and collects the days rebuilt
        here for the caller to store; without it, stale days are packed in memory and forgotten.
        """
        cache = cache if cache is not None else DayCache(self.zone)
        if (first_day_of(period.kind, period.first_day), end_day_of(period.kind, period.first_day)) != (
            period.first_day,
            period.end_day,
        ):
            raise ValueError(f"{period} is not a calendar {period.kind}")
        facts = self._facts(session, cache, scope, period)
        groups = self._groups(session, scope, facts, period.kind)
        counts = self._counts(facts, period.label, groups.grid_code, groups.grid_label)
        history = self._history(session, scope, period, cache)
        previous = history[-1] if history else PeriodCounts(label=period.previous().label)
        positive = int(np.count_nonzero(facts.codes["polarity"] == facts.code_of("polarity", "positive")))
        critical = int(np.count_nonzero(facts.codes["urgency"] == facts.code_of("urgency", self._critical)))
        resolved, _, _, first_reply = facts.outcome(period.kind)
        backlog_open, backlog_overdue = store.backlog(session=session, within=scope.condition(), end=period.end)
        return DigestFigures(
            kind=period.kind,
            scope_code=scope.code,
            scope_name=scope.name,
            period_start=period.start,
            period_end=period.end,
            period_label=period.label,
            counts=counts,
            previous=previous,
            history=tuple(history),
            overall=_outcome(scope.name, groups.totals, previous.total),
            positive=positive,
            neutral=facts.size - counts.negative - positive,
            critical_count=critical,
            critical=self._critical_cases(session, scope, period) if critical else (),
            hot_keywords=self._hot_keywords(facts),
            hot_keywords_estimated=False,
            hot_places=self._hot_places(facts),
            repeated_households=self._repeated_households(session, facts),
            median_first_reply_minutes=_median(facts.minutes["reply"][first_reply]),
            median_resolution_minutes=_median(facts.minutes["resolve"][resolved]),
            backlog_open=backlog_open,
            backlog_overdue=backlog_overdue,
            grids=_outcomes(groups.grids, previous.by_grid, unranked={catalogue.UNROUTED_GRID}),
            officers=_outcomes(groups.officers, {}, unranked=groups.not_grid_staff),
            warnings=self._warnings(counts, history),
            emotions=_emotions(facts),
            unconfirmed=int(
                np.count_nonzero(facts.codes["confirmation"] == facts.code_of("confirmation", "unconfirmed"))
            ),
            visits=_visit_coverage(session, scope, period),
            surveys=_survey_counts(session, scope, period),
            units=unit_outcomes(session, scope, period),
        )

    def period_counts(
        self, session: Session, scope: Scope, period: Period, cache: DayCache | None = None
    ) -> PeriodCounts:
        """The comparison counts of a period that has no stored digest."""
        facts = self._facts(session, cache if cache is not None else DayCache(self.zone), scope, period)
        grid_code, grid_label = self._grid_codes(session, scope, facts)
        return self._counts(facts, period.label, grid_code, grid_label)

    def sections(self, figures: DigestFigures) -> list[str]:
        """The digest as paragraphs (title first); stored joined by blank lines."""
        return sections(figures, names=self, settings=self.settings)

    def render(self, figures: DigestFigures) -> list[str]:
        """The digest as chat messages, each within the message limit, split between sections."""
        return split_message(self.sections(figures), limit=self.settings.message_limit)

    def category_name(self, code: str) -> str:
        try:
            return self.taxonomy.category(code).name
        except KeyError:
            return code

    def intent_name(self, code: str) -> str:
        try:
            return self.taxonomy.intent(code).name
        except KeyError:
            return code

    # ---------------------------------------------------------------------- the period's cases

    def _facts(self, session: Session, cache: DayCache, scope: Scope, period: Period) -> Facts:
        """The period's cases within ``scope``."""
        facts = cache.facts(session, period.first_day, period.end_day)
        community = facts.ids["community"]
        keep = np.isin(community, np.array(scope.community_ids, dtype=np.int64))
        if scope.include_unrouted:
            keep |= community < 0
        return subset(facts, keep)

    def _grid_codes(self, session: Session, scope: Scope, facts: Facts) -> tuple[IntArray, list[str]]:
        names = store.grid_labels(session=session, community_ids=scope.community_ids)
        grid_code, grid_ids = dense(facts.ids["grid"])
        unrouted = catalogue.UNROUTED_GRID
        return grid_code, [names.get(g, unrouted) if g >= 0 else unrouted for g in grid_ids]

    def _groups(self, session: Session, scope: Scope, facts: Facts, kind: str) -> _Groups:
        # Each case's state at this period's end was worked out when its day was packed.
        resolved, on_time, open_overdue, _ = facts.outcome(kind)
        rating = facts.codes["rating"]
        # Only ratings given by the period's end count (issue 15): a rating given later must not make
        # 满意率 rest on more cases than were closed, and 参评率 stays at most 100 %. A satisfied
        # rating closes the case, so it was given by the end if the case was closed by then; an
        # unsatisfied one reopens it, and counts while the case stands resolved at the end.
        pleased = np.isin(rating, [facts.code_of("rating", r) for r in _SATISFIED])
        satisfied = pleased & resolved & facts.closed(kind)
        # An unsatisfied rating reopens the case (its resolution is undone), so it always counts: a
        # rating is only ever given to a resolved case, and leaving it out would show 满意率 100 %.
        displeased = (rating >= 0) & ~pleased
        rated = satisfied | displeased
        # 参评率's base: cases resolved by the end, and those reopened by an unsatisfied rating.
        rateable = resolved | displeased
        # cases, closed, on time, open overdue, satisfied, rated, rateable: per grid and per officer
        outcome = np.stack(
            [np.ones(facts.size, dtype=bool), resolved, on_time, open_overdue, satisfied, rated, rateable]
        )
        grid_code, grid_label = self._grid_codes(session, scope, facts)
        officer_code, officer_ids = dense(facts.ids["assignee"])
        found = store.officer_names(session=session, officer_ids=[o for o in officer_ids if o >= 0])
        nobody = catalogue.UNASSIGNED_OFFICER
        officer_label = [found[o][0] if o in found else nobody for o in officer_ids]
        not_grid_staff = {nobody} | {name for name, role in found.values() if role not in GRID_STAFF}
        return _Groups(
            grid_code=grid_code,
            grid_label=grid_label,
            grids=_outcome_table(grid_code, grid_label, outcome),
            officers=_outcome_table(officer_code, officer_label, outcome),
            totals=[int(v) for v in outcome.sum(axis=1)],
            not_grid_staff=not_grid_staff,
        )

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

    # ---------------------------------------------------------------------- what stands out

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
        homes = store.households_by_id(session=session, household_ids=[h for h, _ in top])
        names = store.community_names(session=session)
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
            stored = store.stored_figures(
                session=session, kind=period.kind, scope_code=scope.code, period_start=earlier.start
            )
            counts = parse_counts(stored) if stored else None
            if counts is None:
                if history:
                    break  # older periods without a digest: the history we have is enough
                counts = self.period_counts(session, scope, earlier, cache)
            history.append(counts)
        return list(reversed(history))

    def _critical_cases(self, session: Session, scope: Scope, period: Period) -> tuple[CriticalCase, ...]:
        rows = store.critical_cases(
            session=session,
            urgency=self._critical,
            within=scope.condition(),
            start=period.start,
            end=period.end,
            limit=self.settings.max_lines,
        )
        return tuple(CriticalCase(code, self.category_name(category), status) for code, category, status in rows)

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


def _outcome_table(codes: IntArray, labels: Sequence[str], outcome: NDArray[np.bool_]) -> dict[str, list[int]]:
    """Outcome columns summed per label (several ids may share a name)."""
    table: dict[str, list[int]] = {}
    for row in range(outcome.shape[0]):
        sums = np.bincount(codes, weights=outcome[row], minlength=len(labels))
        for i, name in enumerate(labels):
            table.setdefault(name, [0] * outcome.shape[0])[row] += int(sums[i])
    return table


def _outcome(name: str, v: Sequence[int], previous: int, *, ranked: bool = True) -> Outcome:
    return Outcome(
        name=name,
        cases=v[0],
        previous=previous,
        closed=v[1],
        closed_on_time=v[2],
        open_overdue=v[3],
        satisfied=v[4],
        rated=v[5],
        rateable=v[6],
        ranked=ranked,
    )


def _outcomes(table: dict[str, list[int]], previous: dict[str, int], *, unranked: set[str]) -> tuple[Outcome, ...]:
    found = [_outcome(name, v, previous.get(name, 0), ranked=name not in unranked) for name, v in table.items()]
    return tuple(sorted(found, key=lambda o: (-o.cases, o.name)))


def _median(minutes: NDArray[np.float64]) -> float | None:
    return float(np.median(minutes)) if minutes.shape[0] else None


def _emotions(facts: Facts) -> tuple[tuple[str, int], ...]:
    """Each case's strongest emotion, counted over the period, commonest first (ties by name)."""
    codes = facts.codes["emotion"]
    counts = np.bincount(codes[codes >= 0], minlength=len(facts.vocab["emotion"]))
    found = [(facts.vocab["emotion"][i], int(n)) for i, n in enumerate(counts.tolist()) if n]
    return tuple(sorted(found, key=lambda item: (-item[1], item[0])))


def _visit_coverage(session: Session, scope: Scope, period: Period) -> tuple[VisitCoverage, ...]:
    """Issue 13: per grid of the scope, its households and those visited in the period (走街不漏户)."""
    rows = household_store.visit_coverage(
        session=session, community_ids=scope.community_ids, start=period.start, end=period.end
    )
    return tuple(VisitCoverage(grid, households, visited) for grid, households, visited in rows)


def _survey_counts(session: Session, scope: Scope, period: Period) -> tuple[SurveyCounts, ...]:
    """Issue 13: the random 回访 / 知晓率 samples asked in the period, with their answers so far."""
    rows = survey_store.survey_counts(
        session=session, community_ids=scope.community_ids, start=period.start, end=period.end
    )
    return tuple(SurveyCounts(*row) for row in rows)

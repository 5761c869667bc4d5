"""What a digest computes: the figures of a scope for a period, and the settings that shape them.

Figures are over the cases received in the period, with their state at the period's end, compared
with the period before: volume by category, intent and grid; hot keywords, recurring places and
households; polarity and its trend; critical cases; open and overdue; median first-reply and
resolution times; on-time rate = closed on time ÷ (closed + still open past the resolution deadline);
satisfaction rate; per-grid and per-officer figures, ranked only with a minimum sample; early
warnings when a category rises sharply in a grid against that grid's own recent periods.
"""

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime


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
    #: Resolved by the period's end, or reopened by an unsatisfied rating: the base of 参评率.
    rateable: int = 0
    #: False for what is listed but never ranked: the 未定网格 bucket, and handlers who are not grid
    #: staff (community secretaries, street directors, units) among the 网格员.
    ranked: bool = True

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
class UnitOutcome:
    """Issue 15 (逆向考核 of departments): how a unit answered the whistles of the period."""

    name: str
    whistled: int = 0
    accepted: int = 0
    accepted_on_time: int = 0
    #: Whistles still not signed in at the period's end although their deadline had passed.
    late_unaccepted: int = 0
    median_accept_minutes: float | None = None
    returned: int = 0
    extensions: int = 0
    satisfied: int = 0
    rated: int = 0
    #: Cases with the unit now (whistled, signed in, or done and not verified), as they stand today.
    waiting: int = 0
    ranked: bool = True

    @property
    def sample(self) -> int:
        return self.accepted + self.late_unaccepted

    @property
    def on_time_rate(self) -> float | None:
        return self.accepted_on_time / self.sample if self.sample else None

    @property
    def satisfaction_rate(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


@dataclass(frozen=True, slots=True)
class VisitCoverage:
    """Issue 13: a grid's households and how many of them an officer visited in the period."""

    grid: str
    households: int
    visited: int

    @property
    def not_visited(self) -> int:
        return self.households - self.visited


@dataclass(frozen=True, slots=True)
class SurveyCounts:
    """Issue 13: a survey kind's sample in the period — asked, answered, and the two yes counts."""

    kind: str  # "followup" (回访) or "awareness" (知晓率)
    asked: int
    answered: int
    first_yes: int
    second_yes: int
    #: 知晓率's second question allows 没反映过; those answers are left out of its share.
    second_na: int = 0


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
    #: Issue 12: each emotion (the strongest a case showed) with its count among the period's cases, commonest
    #: first; and how many cases still wait for an officer to confirm the category (待确认).
    emotions: tuple[tuple[str, int], ...] = ()
    unconfirmed: int = 0
    visits: tuple[VisitCoverage, ...] = ()
    surveys: tuple[SurveyCounts, ...] = ()
    units: tuple[UnitOutcome, ...] = ()

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
    #: The longest chat message a digest part may be; the wiring sets it from the adapters' limits.
    message_limit: int = 4000


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

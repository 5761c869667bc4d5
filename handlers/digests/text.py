"""A digest's figures as the text leaders read: sections (title first), split into chat messages."""

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Protocol

from handlers import catalogue
from handlers.digests.figures import DigestFigures, DigestSettings, Outcome


class Names(Protocol):
    """How a digest names the taxonomy's codes (the builder knows the deployment's taxonomy)."""

    def category_name(self, code: str) -> str: ...

    def intent_name(self, code: str) -> str: ...


def sections(figures: DigestFigures, *, names: Names, settings: DigestSettings) -> list[str]:
    """The digest as paragraphs (title first); stored joined by blank lines."""
    title = catalogue.digest_title(figures.kind, figures.scope_name, figures.period_label)
    if figures.is_empty:
        return [f"{title}\n{catalogue.digest_empty(figures.backlog_open, figures.backlog_overdue)}"]
    return [
        title,
        _overview(figures),
        *(
            "\n".join(part)
            for part in (
                _categories(figures, names, settings),
                _intents(figures, names),
                _hot(figures),
                _mood(figures),
                _critical(figures),
                _grids(figures, settings),
                _officers(figures, settings),
                _warnings(figures),
                _visits(figures),
                _surveys(figures),
                _units(figures, settings),
            )
            if part  # a section with nothing to say this period is left out
        ),
    ]


def _overview(f: DigestFigures) -> str:
    o = f.overall
    return catalogue.digest_overview(
        total=o.cases,
        previous_total=o.previous,
        closed=o.closed,
        closed_on_time=o.closed_on_time,
        open_overdue=o.open_overdue,
        median_first_reply=f.median_first_reply_minutes,
        median_resolution=f.median_resolution_minutes,
        satisfied=o.satisfied,
        rated=o.rated,
        rateable=o.rateable,
        backlog_open=f.backlog_open,
        backlog_overdue=f.backlog_overdue,
    )


def _categories(f: DigestFigures, names: Names, settings: DigestSettings) -> list[str]:
    lines = [catalogue.DIGEST_CATEGORIES] + [
        catalogue.count_line(names.category_name(code), count, f.previous.by_category.get(code, 0))
        for code, count in _ranked(f.counts.by_category)[: settings.max_lines]
    ]
    return [*lines, catalogue.confirmation_line(f.unconfirmed, f.counts.total)]


def _intents(f: DigestFigures, names: Names) -> list[str]:
    return [catalogue.DIGEST_INTENTS] + [
        catalogue.count_line(names.intent_name(code), count, f.previous.by_intent.get(code, 0))
        for code, count in _ranked(f.counts.by_intent)
    ]


def _hot(f: DigestFigures) -> list[str]:
    hot = [catalogue.DIGEST_HOT]
    if f.hot_keywords:
        hot.append(catalogue.hot_keywords(list(f.hot_keywords), estimated=f.hot_keywords_estimated))
    if f.hot_places:
        hot.append(catalogue.hot_places(list(f.hot_places)))
    hot += [catalogue.repeated_household(label, count, cats) for label, count, cats in f.repeated_households]
    if len(hot) == 1:
        hot.append(catalogue.DIGEST_NO_HOT)
    return hot


def _mood(f: DigestFigures) -> list[str]:
    previous_mean = f.previous.negative_intensity / f.previous.negative if f.previous.negative else None
    current_mean = f.counts.negative_intensity / f.counts.negative if f.counts.negative else None
    mood = [
        catalogue.DIGEST_MOOD,
        catalogue.mood_line(
            negative=f.counts.negative,
            neutral=f.neutral,
            positive=f.positive,
            total=f.counts.total,
            previous_negative=f.previous.negative,
            previous_total=f.previous.total,
        ),
        catalogue.intensity_line(current_mean, previous_mean),
    ]
    if f.emotions:
        mood.append(catalogue.emotions_line(f.emotions, f.counts.total))
    trail = [h for h in f.history if h.total] + [f.counts]
    if len(trail) >= 3:
        mood.append(catalogue.trend_line([(h.label, h.total, catalogue.percent(h.negative, h.total)) for h in trail]))
    return mood


def _critical(f: DigestFigures) -> list[str]:
    if not f.critical_count:
        return [catalogue.DIGEST_CRITICAL, catalogue.DIGEST_NO_CRITICAL]
    return [
        catalogue.DIGEST_CRITICAL,
        catalogue.critical_head(f.critical_count),
        *(catalogue.critical_line(c.code, c.category, c.status) for c in f.critical),
    ]


def _grids(f: DigestFigures, settings: DigestSettings) -> list[str]:
    lines = [catalogue.DIGEST_GRIDS] + [
        catalogue.grid_line(
            g.name, g.cases, g.previous, _rate(g.on_time_rate), _rate(g.satisfaction_rate), g.open_overdue
        )
        for g in f.grids[: settings.max_lines]
    ]
    return lines + _rankings(f.grids, settings.min_sample)


def _officers(f: DigestFigures, settings: DigestSettings) -> list[str]:
    def line(o: Outcome) -> str:
        return catalogue.officer_line(o.name, o.cases, o.closed, _rate(o.on_time_rate), _rate(o.satisfaction_rate))

    staff = [o for o in f.officers if o.ranked][: settings.max_lines]
    others = [o for o in f.officers if not o.ranked][: settings.max_lines]
    lines = [catalogue.DIGEST_OFFICERS, *(line(o) for o in staff)]
    lines += _rankings(staff, settings.min_sample)
    if others:  # community secretaries, street directors, units: listed, never ranked with grid staff
        lines += [catalogue.DIGEST_OTHER_HANDLERS, *(line(o) for o in others)]
    return lines


def _warnings(f: DigestFigures) -> list[str]:
    found = [catalogue.warning_line(w.grid, w.category, w.current, w.baseline) for w in f.warnings]
    return [catalogue.DIGEST_WARNINGS, *(found or [catalogue.DIGEST_NO_WARNINGS])]


def _visits(f: DigestFigures) -> list[str]:
    """Issue 13: visit coverage per grid in the period, and how many households no one visited."""
    lines = [catalogue.DIGEST_VISITS]
    for grid in f.visits:
        lines.append(catalogue.visit_coverage_line(grid.grid, grid.visited, grid.households, grid.not_visited))
    return lines if f.visits else [catalogue.DIGEST_VISITS, catalogue.DIGEST_NO_HOUSEHOLDS]


def _surveys(f: DigestFigures) -> list[str]:
    """Issue 13: 回访 and 知晓率 from the random samples, beside the residents' own (self-selected) ratings."""
    if not f.surveys:
        return []
    lines = [catalogue.DIGEST_SURVEYS]
    for counts in f.surveys:
        response = catalogue.percent(counts.answered, counts.asked)
        first, second = (
            catalogue.percent(counts.first_yes, counts.answered),
            catalogue.percent(counts.second_yes, counts.answered),
        )
        if counts.kind == "followup":
            own = _rate(f.overall.satisfaction_rate)
            lines.append(catalogue.followup_line(counts.asked, counts.answered, response, first, second, own))
        else:
            lines.append(catalogue.awareness_line(counts.asked, counts.answered, response, first, second))
    return lines


def _units(f: DigestFigures, settings: DigestSettings) -> list[str]:
    """Issue 15: whistles per unit, sign-in on time, returns, extensions, satisfaction; ranked like grids."""
    if not f.units:
        return []  # a street without units, or a quiet period: nothing to report
    lines = [catalogue.DIGEST_UNITS]
    for u in f.units[: settings.max_lines]:
        median = None if u.median_accept_minutes is None else timedelta(minutes=round(u.median_accept_minutes))
        if median is not None and median < timedelta(minutes=1):
            median_text = catalogue.UNDER_A_MINUTE
        else:
            median_text = catalogue.duration(median) if median is not None else "—"
        lines.append(
            catalogue.unit_line(
                u.name,
                whistled=u.whistled,
                on_time=_rate(u.on_time_rate),
                median=median_text,
                returned=u.returned,
                extensions=u.extensions,
                satisfaction=_rate(u.satisfaction_rate),
                waiting=u.waiting,
            )
        )
    return lines + _rankings(
        f.units, settings.min_sample, titles=UNIT_RANKING_TITLES, counted=catalogue.UNIT_RANKING_COUNTED
    )


def _ranked(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _rate(value: float | None) -> str:
    return f"{value * 100:.1f}%" if value is not None else "—"


class _Rankable(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def ranked(self) -> bool: ...

    @property
    def sample(self) -> int: ...

    @property
    def on_time_rate(self) -> float | None: ...


#: The ranking lines' titles: all of them, the best five, the worst five.
RANKING_TITLES = (catalogue.RANKING_ALL, catalogue.RANKING_BEST, catalogue.RANKING_WORST)
UNIT_RANKING_TITLES = (catalogue.UNIT_RANKING_ALL, catalogue.UNIT_RANKING_BEST, catalogue.UNIT_RANKING_WORST)


def _rankings(
    outcomes: Iterable[_Rankable],
    min_sample: int,
    *,
    titles: tuple[str, str, str] = RANKING_TITLES,
    counted: str = "已办结或超时",
) -> list[str]:
    """Best and worst on-time rates among those with enough cases to judge; nobody else is ranked."""
    eligible = sorted(
        (o for o in outcomes if o.ranked and o.sample >= min_sample and o.on_time_rate is not None),
        key=lambda o: (-(o.on_time_rate or 0.0), -o.sample, o.name),
    )
    rates = [(o.name, _rate(o.on_time_rate)) for o in eligible]
    if len(rates) <= 10:
        return [catalogue.ranking_line(titles[0], rates, min_sample, counted=counted)]
    return [
        catalogue.ranking_line(titles[1], rates[:5], min_sample, counted=counted),
        catalogue.ranking_line(titles[2], rates[::-1][:5], min_sample, counted=counted),
    ]


def split_message(sections: Sequence[str], *, limit: int) -> list[str]:
    """Pack sections into messages of at most ``limit`` characters, never breaking a line.

    Sections stay whole when they fit; a section longer than a message is split between lines.
    Continuation messages carry a "(续 i/n)" marker so a reader can tell they belong together.
    """
    reserve = len(catalogue.DIGEST_CONTINUED.format(part=99, parts=99)) + 1
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
        text if i == 1 else f"{catalogue.DIGEST_CONTINUED.format(part=i, parts=len(messages))}\n{text}"
        for i, text in enumerate(messages, 1)
    ]

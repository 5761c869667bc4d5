"""The digest's chart image (matplotlib, Agg), with a CJK font registered by path.

A fresh machine has no Chinese font that matplotlib knows, so labels would render as empty boxes.
mplfonts ships Noto Sans CJK SC inside its package; registering that file by path makes the
chart independent of what the operating system has installed.
"""

import io
from functools import cache
from importlib import resources
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot

import matplotlib.pyplot as plt
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from handlers import catalogue
from handlers.digests import DigestBuilder, DigestFigures

FONT_FILES = ("NotoSansCJKsc-Regular.otf", "SimHei.ttf")


@cache
def cjk_font() -> str:
    """Register the packaged CJK font with matplotlib and return its family name."""
    fonts = resources.files("mplfonts").joinpath("fonts")
    for name in FONT_FILES:
        candidate = fonts.joinpath(name)
        if candidate.is_file():
            path = str(candidate)
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    raise FileNotFoundError(f"none of {FONT_FILES} found in the mplfonts package")


def render_chart(figures: DigestFigures, builder: DigestBuilder) -> bytes:
    """Categories this period against the last, cases per grid, and the recent trend; PNG bytes."""
    with chart_style():
        fig = draw_chart(figures, builder)
        try:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png")
        finally:
            plt.close(fig)
    return buffer.getvalue()


def chart_style() -> Any:
    """The packaged CJK font and the chart's text sizes, for drawing inside."""
    return plt.rc_context({"font.family": [cjk_font()], "axes.unicode_minus": False, "font.size": 9})


def draw_chart(figures: DigestFigures, builder: DigestBuilder) -> Figure:
    """The chart's matplotlib figure (laid out, not yet saved); draw it inside ``chart_style()``."""
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 4.6), dpi=90)
    _categories(left, figures, builder)
    _grids(middle, figures)
    _trend(right, figures)
    for axis in (left, middle):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # cases are whole: never "0.5 件"
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(catalogue.digest_title(figures.kind, figures.scope_name, figures.period_label), fontsize=11)
    fig.tight_layout()
    return fig


def _categories(axis: Axes, figures: DigestFigures, builder: DigestBuilder) -> None:
    ranked = sorted(figures.counts.by_category.items(), key=lambda item: -item[1])[:8][::-1]
    names = [builder.category_name(code) for code, _ in ranked]
    current = [count for _, count in ranked]
    previous = [figures.previous.by_category.get(code, 0) for code, _ in ranked]
    rows = range(len(ranked))
    axis.barh([r + 0.2 for r in rows], current, height=0.4, label=catalogue.CHART_TITLES["current"], color="#c0392b")
    axis.barh([r - 0.2 for r in rows], previous, height=0.4, label=catalogue.CHART_TITLES["previous"], color="#95a5a6")
    axis.set_yticks(list(rows), names)
    axis.set_title(catalogue.CHART_TITLES["categories"])
    axis.set_xlabel(catalogue.CHART_TITLES["cases"])
    # Below the axis, outside the bars: inside, it covered the shortest category's bar.
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


def _grids(axis: Axes, figures: DigestFigures) -> None:
    grids = sorted(figures.counts.by_grid.items(), key=lambda item: -item[1])[:10][::-1]
    axis.barh([name for name, _ in grids], [count for _, count in grids], color="#2980b9")
    axis.set_title(catalogue.CHART_TITLES["grids"])
    axis.set_xlabel(catalogue.CHART_TITLES["cases"])


def _trend(axis: Axes, figures: DigestFigures) -> None:
    trail = [*figures.history, figures.counts]
    labels = [catalogue.CHART_TITLES["ago"].format(n=len(trail) - 1 - i) for i in range(len(trail) - 1)]
    labels.append(catalogue.CHART_TITLES["current"])
    totals = [c.total for c in trail]
    axis.bar(labels, totals, color="#7f8c8d")
    axis.set_title(catalogue.CHART_TITLES["trend"])
    axis.set_ylabel(catalogue.CHART_TITLES["cases"])
    share = axis.twinx()
    # A period without cases has no share at all: a gap, not a misleading 0 %.
    shares = [c.negative * 100 / c.total if c.total else float("nan") for c in trail]
    share.plot(labels, shares, color="#c0392b", marker="o")
    share.set_ylabel(catalogue.CHART_TITLES["negative"] + " %")
    share.set_ylim(0, 100)

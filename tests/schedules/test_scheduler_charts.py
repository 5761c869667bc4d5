"""The digest chart renders Chinese with the packaged font (no empty boxes) on any machine."""

from datetime import date
from zoneinfo import ZoneInfo

from matplotlib import font_manager

from handlers.digests import DigestBuilder, Period
from handlers.jurisdiction import scopes
from schedules.charts import cjk_font, render_chart
from tests.support.digests import local, seed_week
from tests.support.factories import World, build_world, insert_case


def test_chart_is_a_png_and_every_label_has_a_glyph(core, admin, clock) -> None:  # type: ignore[no-untyped-def]
    world: World = build_world(core, admin, clock)
    seed_week(world.core.db)
    insert_case(world.core.db, grid="GH-02", community="GH", created_at=local(18), category="elderly_disabled")
    builder = DigestBuilder(taxonomy=world.core.taxonomy, zone=ZoneInfo("Asia/Shanghai"))
    with world.core.db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        figures = builder.figures(session, gh, Period("week", date(2026, 11, 16), date(2026, 11, 23), builder.zone))
    # Warnings are errors in this suite: a missing glyph ("Glyph ... missing from font") fails here.
    png = render_chart(figures, builder)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    family = cjk_font()
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    assert path.endswith(("NotoSansCJKsc-Regular.otf", "SimHei.ttf"))
    font = font_manager.get_font(path)
    labels = (
        "".join(builder.category_name(code) for code in figures.counts.by_category) + "诉求类别本期上期各网格负面占比"
    )
    assert all(font.get_char_index(ord(ch)) != 0 for ch in labels)


def test_chart_counts_whole_cases_and_its_legend_covers_no_bar(core, admin, clock) -> None:  # type: ignore[no-untyped-def]
    # Read as a leader would: with one or two cases the axis said "0.5 件", and the legend sat on a bar.
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from schedules.charts import chart_style, draw_chart

    world: World = build_world(core, admin, clock)
    insert_case(world.core.db, grid="GH-01", community="GH", created_at=local(17), category="property")
    insert_case(world.core.db, grid="GH-01", community="GH", created_at=local(18), category="property")
    insert_case(world.core.db, grid="GH-02", community="GH", created_at=local(18), category="elderly_disabled")
    # The shortest category this week was the longest last week: its grey bar runs to the right edge.
    for day in (10, 11, 12):
        insert_case(world.core.db, grid="GH-02", community="GH", created_at=local(day), category="elderly_disabled")
    builder = DigestBuilder(taxonomy=world.core.taxonomy, zone=ZoneInfo("Asia/Shanghai"))
    with world.core.db.session() as session:
        gh = next(s for s in scopes(session) if s.code == "GH")
        figures = builder.figures(session, gh, Period("week", date(2026, 11, 16), date(2026, 11, 23), builder.zone))
    with chart_style():
        fig = draw_chart(figures, builder)
        try:
            fig.canvas.draw()
            categories, grids, trend = fig.axes[:3]
            for ticks in (categories.get_xticks(), grids.get_xticks(), trend.get_yticks()):
                assert all(float(t).is_integer() for t in ticks), ticks
            legend = categories.get_legend()
            assert legend is not None
            box = legend.get_window_extent()
            bars = [p.get_window_extent() for p in categories.patches if isinstance(p, Rectangle) and p.get_width()]
            assert bars and not any(box.overlaps(bar) for bar in bars)
        finally:
            plt.close(fig)

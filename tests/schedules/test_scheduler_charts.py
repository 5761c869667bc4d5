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

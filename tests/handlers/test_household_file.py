"""The household file (issue 13): /household, households show, and the register and household exports."""

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from bot.cli import app
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import Minqing
from tests.support.factories import World, build_world

runner = CliRunner()


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    """The factories' street with a history at GH 1幢1单元301: two cases (one rated), a visit, two members."""
    world = build_world(core, admin, clock)
    first = world.send("1幢1单元301家里卫生间漏水到楼下了", user="res_1_1_301").case_codes[0]
    world.send(f"/resolve {first} 已联系物业更换水管", user="officer_gh1")
    world.press(f"rate:{first}:satisfied", user="res_1_1_301")
    world.send("楼道里堆了很多杂物，担心有消防隐患", user="res_1_1_301")
    world.send("/visit 1幢1单元301 上门看望独居老人，身体不错", user="officer_gh1")
    world.send("/bind GH 1幢1单元301 1111", user="spouse")
    return world


def test_staff_read_the_household_file_in_chat(world: World) -> None:
    result = world.send("/household 1幢1单元301", user="officer_gh1")

    text = result.messages[0].text
    assert not result.refused
    assert "【户档案】" in text and "1幢1单元301" in text and "住户11301" in text and "13800001111" in text
    assert "已绑定成员 2 人" in text and "手机号验证" in text
    assert "诉求 2 件（评价 1 件，其中满意 1 件）" in text and "已换" not in text
    assert "已联系物业更换水管" in text and "评价：满意" in text
    assert "走访 1 次" in text and "上门看望独居老人" in text


def test_the_household_file_is_staff_only_and_within_reach(world: World) -> None:
    resident = world.send("/household 1幢1单元301", user="res_1_1_301")
    other_grid = world.send("/household 1幢1单元301", user="officer_gh2")
    in_group = world.send("/household 1幢1单元301", user="officer_gh1", chat="-100111", group=True)

    assert resident.refused and other_grid.refused and in_group.refused
    assert "没有找到" in other_grid.messages[0].text
    assert "13800001111" not in in_group.messages[0].text


def test_households_show_prints_the_file(world: World, sqlite_url: str) -> None:
    result = runner.invoke(app, ["households", "show", "GH 1幢1单元301", "--db", sqlite_url, "--json"])
    human = runner.invoke(app, ["households", "show", "1幢1单元301", "--db", sqlite_url])
    missing = runner.invoke(app, ["households", "show", "9幢9单元909", "--db", sqlite_url])

    shown = json.loads(result.stdout)
    assert shown["address"] == "1幢1单元301" and shown["community_code"] == "GH"
    assert [m["name"] for m in shown["members"]] == ["用户res_1_1_301", "用户spouse"]
    assert shown["cases"][0]["status"] == "已关闭" and shown["cases"][0]["rating"] == "满意"
    assert shown["visits"][0]["officer"] == "officer_gh1的名字"
    assert "【户档案】" in human.stdout
    assert missing.exit_code == 2 and "没有找到住址" in missing.stderr


def test_the_community_register_has_a_sheet_per_grid(world: World, sqlite_url: str, tmp_path: Path) -> None:
    out = tmp_path / "GH一居一册.xlsx"

    result = runner.invoke(app, ["households", "export", "--community", "GH", "--out", str(out), "--db", sqlite_url])

    assert result.exit_code == 0, result.stderr
    book = load_workbook(out)
    assert book.sheetnames == ["GH-01", "GH-02"]
    sheet = book["GH-01"]
    header = [c.value for c in sheet[1]]
    assert header[:7] == ["楼栋", "单元", "房号", "户主", "电话", "标签", "绑定成员"] and "最近走访" in header
    rows = {(r[0], r[1], r[2]): r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert len(rows) == 12 and book["GH-02"].max_row == 7  # 12 and 6 households
    ours = dict(zip(header, rows[("1", "1", "301")], strict=True))
    assert ours["电话"] == "13800001111" and ours["绑定成员"] == 2
    assert (ours["诉求数"], ours["未办结"], ours["已评价"], ours["满意"], ours["走访次数"]) == (2, 1, 1, 1, 1)
    assert ours["最近走访"] is not None and ours["最近走访"].year == 2026
    cell = sheet.cell(row=2, column=5)
    assert cell.number_format == "@" and isinstance(cell.value, str), "phones are text, not numbers"
    assert sheet.cell(row=2, column=8).number_format == "0" and sheet.freeze_panes == "A2"


def test_one_household_as_xlsx(world: World, sqlite_url: str, tmp_path: Path) -> None:
    out = tmp_path / "户档案.xlsx"

    result = runner.invoke(
        app, ["households", "export", "--household", "GH 1幢1单元301", "--out", str(out), "--db", sqlite_url]
    )

    assert result.exit_code == 0, result.stderr
    book = load_workbook(out)
    assert book.sheetnames == ["户档案", "诉求", "走访"]
    facts = {r[0]: r[1] for r in book["户档案"].iter_rows(values_only=True)}
    assert facts["住址"] == "1幢1单元301" and facts["诉求数"] == 2 and facts["满意"] == 1
    cases = list(book["诉求"].iter_rows(values_only=True))
    assert cases[0] == ("登记日期", "编号", "类别", "状态", "办理结果", "评价", "内容")
    assert cases[1][4] == "已联系物业更换水管" and cases[1][5] == "满意" and cases[1][0].year == 2026
    visits = list(book["走访"].iter_rows(min_row=2, values_only=True))
    assert visits[0][2] == "上门看望独居老人，身体不错"


def test_one_household_as_pdf_renders_chinese(world: World, sqlite_url: str, tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    out = tmp_path / "户档案.pdf"

    result = runner.invoke(
        app, ["households", "export", "--household", "1幢1单元301", "--out", str(out), "--db", sqlite_url]
    )

    assert result.exit_code == 0, result.stderr
    pdf = pdfium.PdfDocument(str(out))
    try:
        page = pdf[0]
        text = page.get_textpage().get_text_range()
        image = page.render(scale=1.5).to_pil()
    finally:
        pdf.close()
    # The text layer holds real Chinese (the embedded font maps glyphs back to characters).
    assert "一户一档" in text and "已联系物业更换水管" in text and "上门看望独居老人" in text
    image.save(tmp_path / "page1.png")
    # Ink on the page: a page of blanks would be all white (a reviewer looks at page1.png too).
    grey = image.convert("L")
    dark = sum(grey.histogram()[:128])
    assert dark > 0.005 * grey.width * grey.height


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--community", "GH", "--household", "1幢1单元301"], "二选一"),
        ([], "二选一"),
        (["--community", "GH", "--out-pdf"], None),
        (["--community", "ZZ"], "没有编号为 ZZ 的社区"),
    ],
)
def test_export_refusals(world: World, sqlite_url: str, tmp_path: Path, args: list[str], expected: str | None) -> None:
    if expected is None:
        result = runner.invoke(
            app, ["households", "export", "--community", "GH", "--out", str(tmp_path / "x.pdf"), "--db", sqlite_url]
        )
        assert result.exit_code == 2 and ".xlsx" in result.stderr
        return
    result = runner.invoke(app, ["households", "export", *args, "--out", str(tmp_path / "x.xlsx"), "--db", sqlite_url])
    assert result.exit_code == 2 and expected in result.stderr
    assert not (tmp_path / "x.xlsx").exists()

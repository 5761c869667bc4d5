"""Household exports (issue 13): the community register (一居一册) as .xlsx, one household's file
(一户一档) as .xlsx or PDF. Chinese column names, real number and date cells, phones kept as text."""

from datetime import datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from handlers import catalogue
from handlers.household_file import HouseholdFile, Register

_BOLD = Font(bold=True)
_DATE = "yyyy-mm-dd"
_FORBIDDEN_IN_SHEET_NAMES = str.maketrans({c: "-" for c in "[]:*?/\\"})


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    # Excel cells hold naive local times.
    return moment.astimezone(zone).replace(tzinfo=None) if moment is not None else None


def _header(sheet: Worksheet, names: tuple[str, ...], widths: tuple[int, ...], row: int = 1) -> None:
    for column, (name, width) in enumerate(zip(names, widths, strict=True), 1):
        cell = sheet.cell(row=row, column=column, value=name)
        cell.font = _BOLD
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = sheet.cell(row=row + 1, column=1)


def _text(sheet: Worksheet, row: int, column: int, value: str) -> None:
    cell = sheet.cell(row=row, column=column, value=value)
    cell.number_format = "@"  # phones and room numbers stay text (no 1.38E+10, no lost zeros)


def write_register(register: Register, path: Path, zone: ZoneInfo) -> int:
    """One sheet per grid, one row per household; returns the number of households written."""
    book = Workbook()
    if book.active is not None:
        book.remove(book.active)
    written = 0
    widths = (6, 6, 8, 10, 15, 18, 9, 8, 8, 8, 6, 9, 12)
    for grid_code, rows in sorted(register.grids.items()):
        sheet = book.create_sheet(title=grid_code.translate(_FORBIDDEN_IN_SHEET_NAMES)[:31] or "网格")
        _header(sheet, catalogue.REGISTER_COLUMNS, widths)
        for line, row in enumerate(rows, 2):
            h = row.household
            for column, value in enumerate((h.building, h.unit, h.room, h.head_name, h.phone), 1):
                _text(sheet, line, column, value)
            sheet.cell(row=line, column=6, value="、".join(t for t in h.tags.split(";") if t))
            counts = (row.members, row.cases, row.open_cases, row.rated, row.satisfied, row.visits)
            for column, count in enumerate(counts, 7):
                sheet.cell(row=line, column=column, value=count).number_format = "0"
            last = sheet.cell(row=line, column=13, value=_local(row.last_visit, zone))
            last.number_format = _DATE
            written += 1
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(widths))}{max(2, len(rows) + 1)}"
    if not book.sheetnames:
        book.create_sheet(title="无住户")
    book.properties.title = f"{register.community_name}一居一册"
    book.save(path)
    return written


def write_household_xlsx(file: HouseholdFile, path: Path, zone: ZoneInfo) -> None:
    """Sheets 户档案 (the household), 诉求 (every case with its outcome) and 走访 (visits)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "户档案"
    facts = (
        ("社区", file.community_name), ("网格", file.grid_code), ("住址", file.address),
        ("户主", file.head_name), ("电话", file.phone), ("标签", "、".join(file.tags)),
        ("已绑定成员", "、".join(m.name or "未署名" for m in file.members)),
        ("诉求数", len(file.cases)), ("已评价", file.rated), ("满意", file.satisfied), ("走访次数", len(file.visits)),
    )  # fmt: skip
    sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width = 12, 40
    for line, (name, value) in enumerate(facts, 1):
        sheet.cell(row=line, column=1, value=name).font = _BOLD
        if isinstance(value, int):
            sheet.cell(row=line, column=2, value=value).number_format = "0"
        else:
            _text(sheet, line, 2, str(value))
    cases = book.create_sheet("诉求")
    _header(cases, catalogue.HOUSEHOLD_CASE_COLUMNS, (12, 16, 12, 10, 30, 10, 50))
    for line, case in enumerate(file.cases, 2):
        cases.cell(row=line, column=1, value=_local(case.filed_at, zone)).number_format = _DATE
        for column, value in enumerate(
            (case.code, case.category, case.status, case.outcome, case.rating, case.text), 2
        ):
            cases.cell(row=line, column=column, value=value).alignment = Alignment(wrap_text=column >= 5)
    visits = book.create_sheet("走访")
    _header(visits, catalogue.HOUSEHOLD_VISIT_COLUMNS, (12, 12, 60))
    for line, visit in enumerate(file.visits, 2):
        visits.cell(row=line, column=1, value=_local(visit.at, zone)).number_format = _DATE
        visits.cell(row=line, column=2, value=visit.officer)
        visits.cell(row=line, column=3, value=visit.note).alignment = Alignment(wrap_text=True)
    book.properties.title = f"{file.community_name}{file.address}一户一档"
    book.save(path)


def cjk_font_path() -> Path:
    """mplfonts' SimHei (TrueType, so ReportLab can embed it; the OpenType CJK fonts are CFF)."""
    return Path(str(resources.files("mplfonts") / "fonts" / "SimHei.ttf"))


def write_household_pdf(file: HouseholdFile, path: Path, zone: ZoneInfo) -> None:
    """The household's file on A4: facts, then the cases and the visits as tables (CJK line breaking)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if "MinqingCJK" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("MinqingCJK", str(cjk_font_path())))
    body = ParagraphStyle("body", fontName="MinqingCJK", fontSize=9, leading=13, wordWrap="CJK")
    title = ParagraphStyle("title", parent=body, fontSize=16, leading=22, spaceAfter=6)
    heading = ParagraphStyle("heading", parent=body, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), style)

    def day(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d")

    def table(header: tuple[str, ...], rows: list[list[str]], widths: list[float]) -> Table:
        grid = Table([[p(h) for h in header], *[[p(c) for c in r] for r in rows]], colWidths=widths, repeatRows=1)
        grid.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8EEF7")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return grid

    members = "、".join(m.name or "未署名" for m in file.members) or "无"
    story = [
        p(f"一户一档 · {file.community_name} {file.address}", title),
        p(f"网格：{file.grid_code}　户主：{file.head_name or '—'}　电话：{file.phone or '—'}"),
        p(f"标签：{'、'.join(file.tags) or '无'}　已绑定成员：{members}"),
        p(f"诉求 {len(file.cases)} 件（评价 {file.rated} 件，满意 {file.satisfied} 件）　走访 {len(file.visits)} 次"),
        Spacer(1, 4 * mm),
        p("诉求与办理结果", heading),
    ]
    case_rows = [[day(c.filed_at), c.code, c.category, c.status, c.outcome, c.rating, c.text] for c in file.cases]
    widths = [22 * mm, 28 * mm, 17 * mm, 15 * mm, 38 * mm, 12 * mm, 48 * mm]
    story.append(table(catalogue.HOUSEHOLD_CASE_COLUMNS, case_rows, widths) if case_rows else p("暂无诉求。"))
    story.append(p("走访记录", heading))
    visit_rows = [[day(v.at), v.officer, v.note] for v in file.visits]
    widths = [22 * mm, 25 * mm, 133 * mm]
    story.append(table(catalogue.HOUSEHOLD_VISIT_COLUMNS, visit_rows, widths) if visit_rows else p("暂无走访记录。"))
    document = SimpleDocTemplate(
        str(path), pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=15 * mm,
        title=f"{file.community_name}{file.address}一户一档", author="民情通",
    )  # fmt: skip
    document.build(story)

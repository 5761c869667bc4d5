"""Household files as street offices really keep them (issue 13): encodings, headers, phone numbers.

``read_household_file`` turns a CSV (UTF-8 with or without BOM, GBK/GB18030 as Excel saves it in
China) or an .xlsx workbook into rows keyed by the canonical column names, accepting Chinese or
English headers; ``check_phone`` accepts mainland mobile and landline numbers. Everything a person
reads here is Chinese, because it is the street office that reads it.
"""

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

#: Canonical column → the headers offices use for it (compared after NFKC, lower-case, no spaces).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "community": ("community", "社区", "社区编号", "社区代码", "居委会", "小区"),
    "grid": ("grid", "网格", "网格编号", "网格代码", "所属网格"),
    "building": ("building", "楼栋", "楼号", "楼幢", "幢", "栋", "幢号", "栋号"),
    "unit": ("unit", "单元", "单元号"),
    "room": ("room", "房号", "房间号", "室", "室号", "门牌号", "户号"),
    "head_name": ("head_name", "户主", "户主姓名", "姓名", "head"),
    "phone": ("phone", "电话", "联系电话", "手机", "手机号", "手机号码", "电话号码"),
    "tags": ("tags", "标签", "人员标签", "户标签", "人员类别", "备注标签"),
}
COLUMN_NAMES = {
    "community": "社区",
    "grid": "网格",
    "building": "楼栋",
    "unit": "单元",
    "room": "房号",
    "head_name": "户主",
    "phone": "电话",
    "tags": "标签",
}
REQUIRED = ("community", "grid", "building", "room")
_ALIAS_TO_COLUMN = {alias: column for column, aliases in HEADER_ALIASES.items() for alias in aliases}

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Area code (010, 02x, 0xxx) and a 7- or 8-digit number; an extension may follow.
_LANDLINE = re.compile(r"^(0(?:10|2\d|[3-9]\d{2}))(\d{7,8})(?:转(\d{1,6}))?$")


class HouseholdFileError(ValueError):
    """The file as a whole cannot be read; the message (Chinese) says why and what to do."""


@dataclass(slots=True)
class HouseholdFile:
    rows: list[dict[str, object]]
    #: How the file was read, e.g. "UTF-8", "UTF-8（带BOM）", "GB18030", "Excel 工作簿".
    source: str
    #: Header cells that match no known column (named so they are not dropped silently).
    ignored_columns: list[str] = field(default_factory=list)


def _header_key(cell: object) -> str:
    text = unicodedata.normalize("NFKC", "" if cell is None else str(cell))
    return re.sub(r"[\s_\-*（）()：:]+", "", text).lower().lstrip("\ufeff")


def canonical_header(cells: list[object]) -> tuple[list[str], list[str]]:
    """Canonical names for each header cell ("" for unknown ones) and the unknown cells' text."""
    names: list[str] = []
    ignored: list[str] = []
    aliases = {_header_key(alias): column for alias, column in _ALIAS_TO_COLUMN.items()}
    for cell in cells:
        column = aliases.get(_header_key(cell), "")
        if column in names:
            column = ""  # a second column with the same meaning: keep the first
        if not column and cell is not None and str(cell).strip():
            ignored.append(str(cell).strip())
        names.append(column)
    missing = [COLUMN_NAMES[c] for c in REQUIRED if c not in names]
    if missing:
        accepted = "；".join(f"{COLUMN_NAMES[c]}（{'、'.join(HEADER_ALIASES[c][:4])}）" for c in REQUIRED)
        raise HouseholdFileError(f"表头缺少必填列：{'、'.join(missing)}。第一行须是表头，必填列可写作：{accepted}")
    return names, ignored


def decode_csv(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and how it was decoded.

    Strict UTF-8 first: GBK text almost never decodes as UTF-8, so a file that does is UTF-8. Else
    GB18030, the superset of GBK/GB2312 that Excel and WPS use for "CSV" on Chinese Windows.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "UTF-8（带BOM）"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GB18030/GBK"
    except UnicodeDecodeError as error:
        raise HouseholdFileError(
            f"文件编码无法识别（第 {error.start} 字节附近），请在 Excel 中另存为“CSV UTF-8”或 .xlsx 后再导入。"
        ) from error


def read_household_file(path: Path) -> HouseholdFile:
    """Rows keyed by canonical column names, from a CSV or .xlsx household register."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise HouseholdFileError("不支持旧版 .xls 格式，请在 Excel 中另存为 .xlsx 或 CSV 后再导入。")
    if suffix in {".xlsx", ".xlsm"}:
        cells, source = _xlsx_cells(path), "Excel 工作簿"
    else:
        text, source = decode_csv(path.read_bytes())
        cells = [list(row) for row in csv.reader(io.StringIO(text, newline=""))]
    cells = [row for row in cells if any(v is not None and str(v).strip() for v in row)] if cells else []
    if not cells:
        raise HouseholdFileError("文件是空的：第一行应是表头，下面每行一户。")
    names, ignored = canonical_header(cells[0])
    rows = [{name: value for name, value in zip(names, row, strict=False) if name} for row in cells[1:]]
    return HouseholdFile(rows=rows, source=source, ignored_columns=ignored)


def _xlsx_cells(path: Path) -> list[list[object]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several types for a file that is not a workbook
        raise HouseholdFileError(
            f"无法打开这个 Excel 文件（{error.__class__.__name__}），请确认是 .xlsx 格式。"
        ) from error
    try:
        sheet = workbook.active
        return [list(row) for row in sheet.iter_rows(values_only=True)] if sheet is not None else []
    finally:
        workbook.close()


def check_phone(raw: str) -> tuple[str | None, str]:
    """A mainland phone number in stored form (mobile 11 digits, landline ``0571-88886666``), or None and why.

    Accepts spaces, dashes, brackets, a +86/0086 prefix and full-width digits; several numbers in one
    cell (separated by ``/``, ``;`` or ``，``) keep the first valid one.
    """
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return "", ""
    for candidate in re.split(r"[/;,，、]", text):
        digits = re.sub(r"[\s\-()（）]", "", candidate).replace("ext", "转").replace("EXT", "转")
        digits = re.sub(r"^(?:\+86|0086|86(?=1\d{10}$))", "", digits)
        if _MOBILE.match(digits):
            return digits, ""
        landline = _LANDLINE.match(digits)
        if landline:
            area, number, extension = landline.groups()
            return f"{area}-{number}" + (f"转{extension}" if extension else ""), ""
    return None, f"电话号码格式不对：{text[:20]}（应为11位手机号，或带区号的固定电话，如 0571-88886666）"

"""The admin's setup commands (issue 13): household import and lists, street, officers, groups, cases.

Registered on the sub-commands of ``bot.cli``. ``--json`` keeps the command-line contract's English
keys on stdout; what people read uses Chinese labels, and every table fits an 80-column terminal.
"""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from bot.cli_common import DbOption, JsonOption, err
from bot.cli_common import print_json as _print_json
from bot.cli_common import settings_for as _settings

T = TypeVar("T")

street_app = typer.Typer(help="The street (街道) itself.", no_args_is_help=True)


def _database(db: str | None) -> Any:
    from bot.wiring import open_database

    return open_database(_settings(db))


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(message, markup=False, highlight=False)
    return typer.Exit(code)


def _read(db: str | None, reader: Callable[[Any], T]) -> T:
    """``reader`` over the database named by ``--db``, which is closed again afterwards."""
    database = _database(db)
    try:
        return reader(database)
    finally:
        database.dispose()


def _json_lines(rows: Iterable[Any]) -> None:
    for row in rows:
        _print_json(row)


def _table(*columns: str, title: str | None = None) -> Table:
    """A table that wraps long cells instead of cutting them, within the console's width."""
    table = Table(title=title, show_lines=False, expand=False, pad_edge=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def _out() -> Console:
    # At most 80 columns, even on a wide terminal, so a table pasted into a report stays readable.
    console = Console()
    return Console(width=min(console.width, 80))


# ------------------------------------------------------------------------------------------ households


def households_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV (UTF-8 or GBK) or .xlsx.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Import households: headers 社区,网格,楼栋,单元,房号,户主,电话,标签 (or community, grid, building,
    unit, room, head_name, phone, tags); re-importing updates each household in place."""
    from handlers.admin import Admin
    from handlers.onboarding import HouseholdFileError, read_household_file

    try:
        table = read_household_file(file)
    except HouseholdFileError as error:
        raise _fail(f"无法导入 {file.name}：{error}") from error
    if not table.rows:
        raise _fail(f"{file.name} 只有表头，没有住户行。")
    progress = (None for _ in track(range(len(table.rows)), description="正在导入住户", console=err, disable=json_out))
    database = _database(db)
    try:
        report = Admin(database).import_households(
            table.rows, now=datetime.now(UTC), progress=progress, dry_run=dry_run
        )
    finally:
        database.dispose()
    summary = {
        "imported": report.imported,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": [{"line": r.line, "reason": r.reason} for r in report.rejected],
        "communities_created": report.communities_created,
        "grids_created": report.grids_created,
        "ignored_columns": table.ignored_columns,
        "source": table.source,
        "dry_run": dry_run,
    }
    if json_out:
        _print_json(summary)
        return
    _print_import(summary, rows=len(table.rows))


def _print_import(summary: dict[str, Any], *, rows: int) -> None:
    out = _out()
    head = "演练（没有写入数据库）" if summary["dry_run"] else "导入完成"
    out.print(
        f"{head}：共 {rows} 行（{summary['source']}）· 新增 {summary['imported']} 户 · 更新 {summary['updated']} 户 · "
        f"未变 {summary['unchanged']} 户 · 退回 {len(summary['rejected'])} 行",
        markup=False,
    )
    if summary["communities_created"] or summary["grids_created"]:
        out.print(
            f"新建社区：{'、'.join(summary['communities_created']) or '无'} · "
            f"新建网格：{'、'.join(summary['grids_created']) or '无'}",
            markup=False,
        )
    if summary["ignored_columns"]:
        out.print(f"以下列不认识，已忽略：{'、'.join(summary['ignored_columns'])}", markup=False)
    if summary["rejected"]:
        table = _table("行号", "退回原因", title="退回的行（改正后重新导入即可，其余行不受影响）")
        for row in summary["rejected"]:
            table.add_row(str(row["line"]), row["reason"])
        out.print(table)


def households_list(
    community: Annotated[str | None, typer.Option("--community", help="Only this community's code.")] = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """List households (JSON lines with --json; staff-only data: names and phones)."""
    from handlers.admin_views import list_households

    rows = _read(db, lambda database: list_households(database, community=community))
    if json_out:
        _json_lines(rows)
        return
    table = _table("社区", "网格", "住址", "户主", "电话", "标签", "成员", title=f"住户（{len(rows)} 户）")
    for row in rows:
        unit = f"{row['unit']}单元" if row["unit"] else ""
        address = f"{row['building']}幢{unit}{row['room']}"
        table.add_row(
            str(row["community"]), str(row["grid"]), address, str(row["head_name"]), str(row["phone"]),
            str(row["tags"]).replace(";", "、"), str(row["members"]),
        )  # fmt: skip
    _out().print(table)


def _file_as_json(file: Any) -> dict[str, Any]:
    from dataclasses import asdict

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return dict(plain(asdict(file)))


def households_show(
    address: Annotated[str, typer.Argument(help="The address, e.g. 3幢2单元301 (prefix the community if needed).")],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show a household's file (一户一档): members, tags, every case with its outcome, visits."""
    from analysis.taxonomy import load_taxonomy
    from handlers.errors import UserFacingError
    from handlers.household_file import as_text, file_for_address

    settings = _settings(db)
    database = _database(db)
    try:
        file = file_for_address(database, address, load_taxonomy(settings.taxonomy_path))
    except UserFacingError as error:
        raise _fail(error.message) from error
    finally:
        database.dispose()
    if json_out:
        _print_json(_file_as_json(file))
        return
    _out().print(as_text(file, ZoneInfo(settings.timezone), max_cases=1000), markup=False, highlight=False)


def households_export(
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="FILE.xlsx, or FILE.pdf for one household.")],
    community: Annotated[str | None, typer.Option("--community", help="The community register (一居一册).")] = None,
    household: Annotated[str | None, typer.Option("--household", help="One household's file (一户一档).")] = None,
    db: DbOption = None,
) -> None:
    """Export the community register (a sheet per grid, a row per household with counts) or one household's
    file with its history."""
    from analysis.taxonomy import load_taxonomy
    from bot import exports
    from handlers.errors import UserFacingError
    from handlers.household_file import community_register, file_for_address

    if (community is None) == (household is None):
        raise _fail("请二选一：--community 社区编号（一居一册）或 --household 住址（一户一档）。")
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".pdf") or (community is not None and suffix != ".xlsx"):
        raise _fail("一居一册导出为 .xlsx；一户一档导出为 .xlsx 或 .pdf。")
    if not out.parent.is_dir():
        raise _fail(f"目录不存在：{out.parent}")
    settings = _settings(db)
    zone = ZoneInfo(settings.timezone)
    database = _database(db)
    try:
        if community is not None:
            register = community_register(database, community)
            written = exports.write_register(register, out, zone)
            err.print(f"已导出 {register.community_name} 一居一册：{len(register.grids)} 个网格、{written} 户 → {out}")
            return
        file = file_for_address(database, household or "", load_taxonomy(settings.taxonomy_path))
        if suffix == ".pdf":
            exports.write_household_pdf(file, out, zone)
        else:
            exports.write_household_xlsx(file, out, zone)
        err.print(f"已导出 {file.community_name}{file.address} 一户一档（{len(file.cases)} 件诉求）→ {out}")
    except UserFacingError as error:
        raise _fail(error.message) from error
    finally:
        database.dispose()


# ------------------------------------------------------------------------------------------ street, officers, groups


@street_app.command("set")
def street_set(
    code: Annotated[str, typer.Option("--code", help="The street's code (officers' --scope), e.g. WT.")],
    name: Annotated[str, typer.Option("--name", help="The street's name, e.g. 梧桐街道.")],
    db: DbOption = None,
) -> None:
    """Name the street (a new database's street is ST01 "街道" until you do)."""
    from handlers.admin_views import SetupError, set_street

    database = _database(db)
    try:
        street, action = set_street(database, code=code, name=name)
    except SetupError as error:
        raise _fail(str(error)) from error
    finally:
        database.dispose()
    said = {"renamed": "已更名", "recoded": "已更改编号和名称", "created": "已新建"}[action]
    err.print(f"街道{said}：{street.code} {street.name}", markup=False)


def officers_list(db: DbOption = None, json_out: JsonOption = False) -> None:
    """List officers with their role, scope and whether they have joined (JSON lines with --json)."""
    from handlers.admin_views import list_officers
    from handlers.catalogue import ROLE_NAMES

    rows = _read(db, lambda database: list_officers(database))
    if json_out:
        _json_lines(rows)
        return
    table = _table("编号", "姓名", "角色", "范围", "状态", title=f"工作人员（{len(rows)} 名）")
    for row in rows:
        state = "已加入" if row["joined"] else ("待用邀请码" if row["invite_pending"] else "未加入")
        state = state if row["active"] else "已停用"
        table.add_row(str(row["id"]), str(row["name"]), ROLE_NAMES.get(str(row["role"]), str(row["role"])),
                      str(row["scope"]), state)  # fmt: skip
    _out().print(table)


def groups_list(db: DbOption = None, json_out: JsonOption = False) -> None:
    """List the chat groups linked to communities (JSON lines with --json)."""
    from handlers.admin_views import list_groups

    rows = _read(db, lambda database: list_groups(database))
    if json_out:
        _json_lines(rows)
        return
    table = _table("平台", "群号", "社区", "群名", title=f"已关联的群（{len(rows)} 个）")
    for row in rows:
        table.add_row(str(row["platform"]), str(row["chat_id"]), str(row["community"]), str(row["title"]))
    _out().print(table)


# ------------------------------------------------------------------------------------------ cases


def _status_code(wanted: str) -> str:
    """A status code from its code or Chinese name; refuses anything else, listing the valid ones."""
    from handlers.catalogue import STATUS_NAMES

    key = wanted.strip().lower()
    for code, name in STATUS_NAMES.items():
        if key in (code, name):
            return code
    valid = "、".join(f"{code}（{name}）" for code, name in STATUS_NAMES.items())
    raise _fail(f"没有状态“{wanted}”。可选：{valid}")


def cases_list(
    status: Annotated[str | None, typer.Option("--status", help="Only cases in this status (code or 中文名).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many, newest first.")] = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """List cases (JSON lines with --json)."""
    from analysis.taxonomy import load_taxonomy
    from handlers.admin import Admin
    from handlers.catalogue import STATUS_NAMES

    code = _status_code(status) if status is not None else None
    rows = _read(db, lambda database: Admin(database).list_cases(status=code, limit=limit))
    if json_out:
        _json_lines(rows)
        return
    taxonomy = load_taxonomy(_settings(db).taxonomy_path)
    names = {c.code: c.name for c in taxonomy.categories}
    urgency = {u.code: u.name for u in taxonomy.urgencies}
    table = _table("编号", "状态", "类别", "紧急", "网格", "承办人", "内容", title=f"诉求（{len(rows)} 件）")
    table.columns[0].no_wrap = True  # the code is what people copy: never cut or fold it
    table.columns[0].min_width = 14
    for row in rows:
        table.add_row(
            str(row["code"]), STATUS_NAMES.get(str(row["status"]), str(row["status"])),
            names.get(str(row["category"]), str(row["category"])), urgency.get(str(row["urgency"]), ""),
            str(row["grid"] or "—"), str(row["assignee"] or "—"), str(row["text"])[:30],
        )  # fmt: skip
    _out().print(table)


def cases_show(
    code: Annotated[str, typer.Argument(help="The case code, e.g. MQ-2026-000123.")],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show one case with its whole history of events."""
    from handlers.admin_views import show_case

    database = _database(db)
    try:
        case = show_case(database, code)
    finally:
        database.dispose()
    if case is None:
        raise _fail(f"没有编号为 {code} 的诉求。")
    if json_out:
        _print_json(case)
        return
    _print_case(case, ZoneInfo(_settings(db).timezone), _settings(db).taxonomy_path)


def _print_case(case: dict[str, Any], zone: ZoneInfo, taxonomy_path: Path | None) -> None:
    from analysis.taxonomy import load_taxonomy
    from handlers.catalogue import CASE_EVENT_NAMES, RATING_NAMES, STATUS_NAMES

    taxonomy = load_taxonomy(taxonomy_path)

    def local(moment: str) -> str:
        return datetime.fromisoformat(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M")

    out = _out()
    category = next((c.name for c in taxonomy.categories if c.code == case["category"]), case["category"])
    out.print(f"诉求 {case['code']} · {STATUS_NAMES.get(case['status'], case['status'])} · {category}", markup=False)
    out.print(
        f"网格 {case['grid'] or '—'} · 住户 {case['household'] or '未关联'} · 承办人 {case['assignee'] or '—'} · "
        f"登记于 {local(case['created_at'])} · 首次回复时限 {local(case['first_reply_due'])}"
        + (f" · 评价 {RATING_NAMES.get(case['rating'], case['rating'])}" if case["rating"] else ""),
        markup=False,
    )
    out.print(f"内容：{case['text']}", markup=False, highlight=False)
    table = _table("时间", "事件", "状态", "经办人", "说明", title="办理记录")
    for event in case["events"]:
        moved = STATUS_NAMES.get(event["to_status"] or "", "") if event["to_status"] != event["from_status"] else ""
        table.add_row(
            local(event["at"]), CASE_EVENT_NAMES.get(event["kind"], event["kind"]), moved,
            event["officer"] or "—", event["detail"] or "",
        )  # fmt: skip
    out.print(table)


def demo_labels() -> dict[str, dict[str, str]]:
    """Chinese names for the codes the demo's summary tables are keyed by."""
    from analysis.taxonomy import load_taxonomy
    from handlers import catalogue

    taxonomy = load_taxonomy(_settings(None).taxonomy_path)
    return {
        "cases_by_category": {c.code: c.name for c in taxonomy.categories},
        "cases_by_status": catalogue.STATUS_NAMES,
        "cases_by_urgency": {u.code: u.name for u in taxonomy.urgencies},
        "messages_by_kind": catalogue.MESSAGE_KIND_NAMES,
        "digest_kind": catalogue.DIGEST_KIND_NAMES,
    }


def register(*, app: typer.Typer, households: typer.Typer, officers: typer.Typer, groups: typer.Typer,
             cases: typer.Typer) -> None:  # fmt: skip
    """Add these commands to the CLI's sub-commands."""
    app.add_typer(street_app, name="street")
    households.command("import")(households_import)
    households.command("list")(households_list)
    households.command("show")(households_show)
    households.command("export")(households_export)
    officers.command("list")(officers_list)
    groups.command("list")(groups_list)
    cases.command("list")(cases_list)
    cases.command("show")(cases_show)

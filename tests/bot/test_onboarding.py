"""Day-one onboarding (issue 13): real office files, the admin's lists, and one-line configuration errors."""

import json
from pathlib import Path

import pytest
from openpyxl import Workbook
from rich.cells import cell_len
from typer.testing import CliRunner

from analysis.analyzer import Analyzer
from bot.cli import app
from bot.dbcheck import _server_problem
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.onboarding import check_phone
from handlers.service import Minqing
from storage.db import Database
from tests.support.factories import T0, World, build_world

runner = CliRunner()
ZH_HEADER = "社区,网格,楼栋,单元,房号,户主,电话,标签\n"
EN_HEADER = "community,grid,building,unit,room,head_name,phone,tags\n"
ROWS = "GH,GH-01,1幢,1单元,101室,张三,138 0000 1111,独居老人;低保户\nGH,GH-02,3,2,502,䶮李四,0571-88886666,\n"


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'street.db'}"
    assert invoke("db", "upgrade", "--db", url)[0] == 0
    return url


def households(db: str, *extra: str) -> list[dict[str, object]]:
    code, out, _ = invoke("households", "list", "--db", db, "--json", *extra)
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def import_file(db: str, path: Path, *extra: str) -> dict[str, object]:
    code, out, err = invoke("households", "import", str(path), "--db", db, "--json", *extra)
    assert code == 0, err
    return dict(json.loads(out))


@pytest.mark.parametrize(
    ("encoding", "source"),
    [("gbk", "GB18030/GBK"), ("gb18030", "GB18030/GBK"), ("utf-8-sig", "UTF-8（带BOM）"), ("utf-8", "UTF-8")],
)
def test_import_reads_what_excel_saves(db: str, tmp_path: Path, encoding: str, source: str) -> None:
    rows = ROWS if encoding != "gbk" else ROWS.replace("䶮", "")  # 䶮 exists only in GB18030
    path = tmp_path / "households.csv"
    path.write_bytes((ZH_HEADER + rows).encode(encoding))

    report = import_file(db, path)

    assert report["imported"] == 2 and report["rejected"] == [] and report["source"] == source
    listed = households(db)
    assert listed[0] | {"members": 0} == {
        "community": "GH", "grid": "GH-01", "building": "1", "unit": "1", "room": "101", "head_name": "张三",
        "phone": "13800001111", "tags": "独居老人;低保户", "members": 0,
    }  # fmt: skip
    assert listed[1]["phone"] == "0571-88886666"
    assert listed[1]["head_name"] == ("䶮李四" if encoding != "gbk" else "李四")


def test_import_reads_xlsx_with_chinese_headers_and_numeric_cells(db: str, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["社区编号", "所属网格", "楼号", "单元", "房间号", "户主姓名", "联系电话", "人员类别", "备注"])
    sheet.append(["WT", "WT-01", 3, 2, 301, "钱七", 13900002222, "残疾人", "门口有坡道"])
    sheet.append([None, None, None, None, None, None, None, None, None])
    sheet.append(["WT", "WT-01", 3, 2, 302.0, "孙八", None, None, None])
    path = tmp_path / "households.xlsx"
    book.save(path)

    report = import_file(db, path)

    assert report["imported"] == 2 and report["ignored_columns"] == ["备注"]
    assert [(h["room"], h["phone"]) for h in households(db)] == [("301", "13900002222"), ("302", "")]


def test_every_rejected_row_is_reported_with_its_line_and_reason(db: str, tmp_path: Path) -> None:
    path = tmp_path / "households.csv"
    path.write_text(
        EN_HEADER
        + "GH,GH-01,1,1,101,张三,13800001111,\n"  # line 2: fine
        + "GH,GH-01,,1,102,缺楼栋,,\n"  # 3
        + "GH,GH-01,1,1,甲,房号不对,,\n"  # 4
        + "GH,GH-01,1,1,103,七位电话,8888888,\n"  # 5
        + "GH,GH-01,1,1,104,十一位但不是手机,12345678901,\n"  # 6
        + "WT,GH-01,1,1,105,网格属于别的社区,,\n"  # 7
        + "GH,GH-01,1,1,101,重复,,\n"  # 8
        + f"{'X' * 40},X-01,1,1,106,编号太长,,\n",  # 9
        encoding="utf-8",
    )

    report = import_file(db, path)

    reasons = {r["line"]: r["reason"] for r in report["rejected"]}  # type: ignore[attr-defined]
    assert report["imported"] == 1 and sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert "缺少必填项：楼栋" in reasons[3]
    assert "住址无法识别" in reasons[4]
    assert "电话号码格式不对：8888888" in reasons[5] and "电话号码格式不对" in reasons[6]
    assert reasons[7] == "网格 GH-01 属于社区 GH，不属于 WT"
    assert reasons[8] == "与第 2 行住址重复"
    assert "过长" in reasons[9]


def test_the_human_summary_is_chinese_and_lists_each_rejected_row(db: str, tmp_path: Path) -> None:
    path = tmp_path / "households.csv"
    path.write_text(ZH_HEADER + ROWS + "GH,GH-01,1,1,109,王五,1234567,\n", encoding="utf-8")

    code, out, _ = invoke("households", "import", str(path), "--db", db, env={"COLUMNS": "80"})

    assert code == 0
    assert "新增 2 户" in out and "退回 1 行" in out and "行号" in out and "1234567" in out
    assert max(cell_len(line) for line in out.splitlines()) <= 80


def test_missing_required_headers_are_one_clear_refusal(db: str, tmp_path: Path) -> None:
    path = tmp_path / "households.csv"
    path.write_text("社区,网格,单元,户主\nGH,GH-01,1,张三\n", encoding="utf-8")

    code, out, err = invoke("households", "import", str(path), "--db", db)

    assert code == 2 and out == ""
    assert "表头缺少必填列：楼栋、房号" in err and "Traceback" not in err
    assert households(db) == []


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [("old.xls", b"\xd0\xcf\x11\xe0", "不支持旧版 .xls"), ("bad.csv", b"\xff\xfe\xff\xff\x00", "编码无法识别")],
)
def test_unreadable_files_are_refused_in_chinese(
    db: str, tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    code, _, err = invoke("households", "import", str(path), "--db", db)

    assert code == 2 and expected in err


def test_dry_run_reports_and_writes_nothing(db: str, tmp_path: Path) -> None:
    path = tmp_path / "households.csv"
    path.write_text(ZH_HEADER + ROWS, encoding="utf-8")

    report = import_file(db, path, "--dry-run")

    assert report["dry_run"] is True and report["imported"] == 2 and report["grids_created"] == ["GH-01", "GH-02"]
    assert households(db) == []
    code, out, _ = invoke("households", "import", str(path), "--db", db, "--dry-run")
    assert code == 0 and "演练（没有写入数据库）" in out


def test_reimport_updates_in_place(db: str, tmp_path: Path) -> None:
    path = tmp_path / "households.csv"
    path.write_text(ZH_HEADER + ROWS, encoding="utf-8")
    import_file(db, path)
    path.write_text(ZH_HEADER + ROWS.replace("138 0000 1111", "13911112222"), encoding="utf-8")

    report = import_file(db, path)

    assert (report["imported"], report["updated"], report["unchanged"]) == (0, 1, 1)
    listed = households(db)
    assert len(listed) == 2 and listed[0]["phone"] == "13911112222"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("13800001111", "13800001111"),
        ("+86 138-0000-1111", "13800001111"),
        ("１３８００００１１１１", "13800001111"),
        ("010-12345678", "010-12345678"),
        ("(0571) 8888 6666", "0571-88886666"),
        ("0571-8888666转12", "0571-8888666转12"),
        ("13800001111/0571-88886666", "13800001111"),
        ("", ""),
        ("8888888", None),
        ("12345678901", None),
        ("1380000111", None),
        ("021-123456", None),
        ("电话待补", None),
    ],
)
def test_mainland_phone_formats(raw: str, stored: str | None) -> None:
    assert check_phone(raw)[0] == stored


def test_street_set_names_the_street_and_officers_follow(db: str, tmp_path: Path) -> None:
    path = tmp_path / "households.csv"
    path.write_text(ZH_HEADER + ROWS, encoding="utf-8")
    import_file(db, path)
    assert invoke("officers", "add", "--name", "老李", "--role", "street_leader", "--scope", "ST01", "--db", db)[0] == 0

    code, _, err = invoke("street", "set", "--code", "WT", "--name", "梧桐街道", "--db", db)

    assert code == 0 and "WT 梧桐街道" in err
    code, out, _ = invoke("officers", "list", "--db", db, "--json")
    assert [json.loads(line)["scope"] for line in out.splitlines()] == ["WT"]
    # A community imported later joins the renamed street instead of a new default one.
    path.write_text(ZH_HEADER + "HH,HH-01,1,1,101,赵九,,\n", encoding="utf-8")
    import_file(db, path)
    assert invoke("officers", "add", "--name", "小周", "--role", "admin", "--scope", "WT", "--db", db)[0] == 0
    assert invoke("street", "set", "--code", "", "--name", "x", "--db", db)[0] == 2


def test_lists_show_the_setup(core: Minqing, admin: Admin, clock: FixedClock, sqlite_url: str) -> None:
    build_world(core, admin, clock)

    officers = [json.loads(line) for line in invoke("officers", "list", "--db", sqlite_url, "--json")[1].splitlines()]
    groups = [json.loads(line) for line in invoke("groups", "list", "--db", sqlite_url, "--json")[1].splitlines()]
    gh = households(sqlite_url, "--community", "GH")

    assert {o["name"] for o in officers} >= {"officer_gh1的名字", "leader_street的名字"}
    assert all(o["joined"] and o["active"] for o in officers)
    assert {(g["platform"], g["community"]) for g in groups} == {("telegram", "GH"), ("telegram", "WT")}
    assert {h["community"] for h in gh} == {"GH"} and len(gh) == 18
    members = {(h["building"], h["unit"], h["room"]): h["members"] for h in gh}
    assert members[("1", "1", "301")] == 1 and members[("1", "1", "101")] == 0
    assert set(gh[0]) >= {"community", "grid", "building", "unit", "room", "head_name", "phone", "tags"}


def test_cases_show_prints_the_case_and_its_history(
    core: Minqing, admin: Admin, clock: FixedClock, sqlite_url: str
) -> None:
    world = build_world(core, admin, clock)
    code = world.send("1幢1单元301楼道灯坏了", user="res_1_1_301").case_codes[0]
    world.send(f"/reply {code} 明天上午来修", user="officer_gh1")
    world.send(f"/resolve {code} 已换新灯", user="officer_gh1")

    exit_code, out, _ = invoke("cases", "show", code.lower(), "--db", sqlite_url, "--json")
    shown = json.loads(out)
    human = invoke("cases", "show", code, "--db", sqlite_url, env={"COLUMNS": "80"})[1]

    assert exit_code == 0 and shown["code"] == code and shown["household"] == "1-1-301"
    assert [e["kind"] for e in shown["events"]] == ["filed", "replied", "resolved"]
    assert shown["events"][1]["officer"] == "officer_gh1的名字" and shown["events"][1]["detail"] == "明天上午来修"
    assert "办理记录" in human and "已办结" in human and "明天上午来修" in human
    assert max(cell_len(line) for line in human.splitlines()) <= 80
    missing = invoke("cases", "show", "MQ-2026-999999", "--db", sqlite_url)
    assert missing[0] == 2 and "没有编号为 MQ-2026-999999 的诉求" in missing[2]


def test_cases_list_refuses_unknown_status_and_fits_80_columns(
    core: Minqing, admin: Admin, clock: FixedClock, sqlite_url: str
) -> None:
    world = build_world(core, admin, clock)
    code = world.send("3幢2单元502门口的垃圾三天没人清理了，味道很大，希望尽快处理", user="res_3_2_502").case_codes[0]

    bogus = invoke("cases", "list", "--status", "bogus", "--db", sqlite_url)
    by_chinese = invoke("cases", "list", "--status", "已分派", "--db", sqlite_url, "--json")
    table = invoke("cases", "list", "--db", sqlite_url, env={"COLUMNS": "80"})[1]

    assert bogus[0] == 2 and bogus[1] == ""
    assert "没有状态“bogus”" in bogus[2] and "received（已受理）" in bogus[2] and "rejected（不予受理）" in bogus[2]
    assert by_chinese[0] == 0 and [json.loads(line)["code"] for line in by_chinese[1].splitlines()] == [code]
    assert code in table, "the case code is never cut"
    assert "环境卫生" in table or "物业服务" in table, "categories by their Chinese name"
    assert max(cell_len(line) for line in table.splitlines()) <= 80


def test_a_mistyped_sqlite_path_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    no_dir = tmp_path / "nowhere" / "street.db"

    code, out, err = invoke("cases", "list", "--db", f"sqlite:///{missing}")
    code_dir, _, err_dir = invoke("households", "list", "--db", f"sqlite:///{no_dir}")

    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "SQLite 数据库文件不存在" in err and "minqing db upgrade" in err
    assert not missing.exists()
    assert code_dir == 2 and "目录不存在" in err_dir and not no_dir.parent.exists()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "households.db"
    path.write_text("社区,网格\n", encoding="utf-8")

    code, _, err = invoke("cases", "list", "--db", f"sqlite:///{path}")

    assert code == 2 and "不是 SQLite 数据库" in err


def test_a_postgresql_server_that_is_down_is_one_line() -> None:
    # Port 9 (discard) has no PostgreSQL on any test machine: the connection is refused.
    code, out, err = invoke("cases", "list", "--db", "postgresql://postgres@127.0.0.1:9/test")

    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "错误：连不上 PostgreSQL 服务器 127.0.0.1:9/test：服务器没有启动，或地址、端口不对"
    ]


def test_a_missing_postgresql_database_is_one_line(pg_server_url: str) -> None:
    import sqlalchemy as sa

    url = sa.make_url(pg_server_url).set(database="minqing_no_such_db").render_as_string(hide_password=False)

    code, _, err = invoke("cases", "list", "--db", url)

    assert code == 2 and len(err.strip().splitlines()) == 1 and "没有这个数据库" in err


@pytest.mark.parametrize(
    ("driver_message", "expected"),
    [
        ('connection failed: FATAL:  password authentication failed for user "minqing"', "密码不对"),
        ('connection failed: FATAL:  role "nobody" does not exist', "没有用户"),
        ('connection failed: could not translate host name "db.example" to address', "找不到"),
        ("something unexpected\nwith detail", "something unexpected"),
    ],
)
def test_server_problems_are_named(driver_message: str, expected: str) -> None:
    said = _server_problem(driver_message, "db:5432/minqing", "minqing")

    assert expected in said and "\n" not in said


def test_the_readme_walkthrough_works_as_written(tmp_path: Path, analyzer: Analyzer) -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Setting up a street") : readme.index("## Chat commands")]
    sample = re.search(r"```csv\n(.*?)```", section, re.DOTALL)
    assert sample is not None
    text = "\n".join(line.removeprefix("   ") for line in sample.group(1).splitlines()).rstrip() + "\n"
    shipped = Path(__file__).resolve().parents[2] / "examples" / "households-sample.csv"
    assert shipped.read_text(encoding="utf-8") == text, "README sample and examples/ file agree"
    url = f"sqlite:///{tmp_path / 'street.db'}"
    path = tmp_path / "households.csv"
    path.write_bytes(text.encode("gbk"))  # as Excel on Chinese Windows would save it

    assert invoke("db", "upgrade", "--db", url)[0] == 0
    assert invoke("street", "set", "--code", "WT", "--name", "梧桐街道", "--db", url)[0] == 0
    assert import_file(url, path, "--dry-run")["imported"] == 7 and households(url) == []
    report = import_file(url, path)
    assert report["imported"] == 7 and report["rejected"] == []
    assert [h["phone"] for h in households(url, "--community", "WT")] == ["13600136004", "13500135005"]
    code, out, _ = invoke(
        "officers", "add", "--name", "王芳", "--role", "grid_officer", "--scope", "GH-01", "--db", url, "--json"
    )
    assert code == 0
    assert invoke("officers", "add", "--name", "赵敏", "--role", "street_leader", "--scope", "WT", "--db", url)[0] == 0
    database = Database.from_url(url)
    try:
        clock = FixedClock(T0)
        world = World(Minqing(db=database, analyzer=analyzer, clock=clock), Admin(database), clock)
        assert "欢迎" in world.send(f"/join {json.loads(out)['invite_code']}", user="wangfang").messages[0].text
        assert "绑定成功" in world.send("/bind 1幢1单元101 8001", user="chen").messages[0].text
        asked = world.send("/bind 1幢1单元102", user="lin")
        assert any(m.chat_id == "wangfang" and m.buttons for m in asked.messages)
    finally:
        database.dispose()

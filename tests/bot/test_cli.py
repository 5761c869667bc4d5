"""The admin command line, run in-process with typer's runner against a real SQLite file."""

import csv
import json
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import func, select
from typer.testing import CliRunner

from bot.cli import app
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import Minqing
from storage.db import Database
from storage.models import CaseEvent
from tests.support.factories import build_world

runner = CliRunner()
HEADER = "community,grid,building,unit,room,head_name,phone,tags\n"


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A new SQLite database, created the one way a database is created: ``minqing db upgrade``."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    return url


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_households_import_csv_reports_rejected_rows(db: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "households.csv"
    csv_file.write_text(
        HEADER
        + "GH,GH-01,1,1,101,张三,13800001111,独居老人;低保户\n"
        + "GH,GH-01,1幢,1单元,102室,李四,,\n"
        + "GH,GH-01,,1,103,王五,,\n"  # no building
        + "GH,GH-01,1,1,101,重复,,\n"  # duplicate address
        + "GH,GH-01,1,1,104,赵六,not-a-phone,\n",
        encoding="utf-8",
    )

    code, out = invoke("households", "import", str(csv_file), "--db", db, "--json")

    assert code == 0
    report = json.loads(out)
    assert report["imported"] == 2
    assert [r["line"] for r in report["rejected"]] == [4, 5, 6]
    assert "楼栋" in report["rejected"][0]["reason"]
    assert report["communities_created"] == ["GH"] and report["grids_created"] == ["GH-01"]


def test_households_import_xlsx(db: str, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["Community", "Grid", "Building", "Unit", "Room", "Head_Name", "Phone", "Tags"])
    sheet.append(["WT", "WT-01", 3, 2, 301, "钱七", 13900002222, None])
    sheet.append(["WT", "WT-01", 3, 2, 302, "孙八", None, "残疾人"])
    path = tmp_path / "households.xlsx"
    book.save(path)

    code, out = invoke("households", "import", str(path), "--db", db, "--json")

    assert code == 0 and json.loads(out)["imported"] == 2
    code, again = invoke("households", "import", str(path), "--db", db, "--json")
    # The same file again changes nothing: every household is found in place and left as it is.
    assert json.loads(again)["unchanged"] == 2 and json.loads(again)["imported"] == 0


def test_officers_add_prints_a_one_time_invite_as_json(db: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "h.csv"
    csv_file.write_text(HEADER + "GH,GH-01,1,1,101,张三,,\n", encoding="utf-8")
    invoke("households", "import", str(csv_file), "--db", db)

    code, out = invoke(
        "officers", "add", "--name", "小王", "--role", "grid_officer", "--scope", "GH-01", "--db", db, "--json"
    )

    assert code == 0
    invite = json.loads(out)["invite_code"]
    assert len(invite) == 10 and invite.isalnum()


@pytest.mark.parametrize(("role", "scope"), [("grid_officer", "NOPE"), ("wizard", "GH-01"), ("community_leader", "ZZ")])
def test_officers_add_refuses_unknown_role_or_scope(db: str, role: str, scope: str) -> None:
    code, out = invoke("officers", "add", "--name", "小王", "--role", role, "--scope", scope, "--db", db, "--json")

    assert code == 2 and out == ""


def test_groups_link_and_cases_list_json(db: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "h.csv"
    csv_file.write_text(HEADER + "GH,GH-01,1,1,101,张三,,\n", encoding="utf-8")
    invoke("households", "import", str(csv_file), "--db", db)
    assert (
        invoke("groups", "link", "--platform", "telegram", "--chat-id", "-100", "--community", "GH", "--db", db)[0] == 0
    )
    assert (
        invoke("groups", "link", "--platform", "telegram", "--chat-id", "-100", "--community", "XX", "--db", db)[0] == 2
    )

    code, out = invoke("cases", "list", "--db", db, "--json")

    assert code == 0 and out == ""  # no cases yet: no lines


def test_classify_reads_stdin_and_writes_json_lines() -> None:
    result = runner.invoke(app, ["classify", "--json"], input="3幢2单元301楼上漏水\n\n小区门口着火了！\n")

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    assert set(lines[0]) >= {
        "text",
        "category",
        "intent",
        "urgency",
        "polarity",
        "intensity",
        "confidence",
        "keywords",
        "address",
    }
    assert lines[0]["address"] == "3幢2单元301"
    assert lines[1]["urgency"] == "critical"


def test_demo_json_routes_cases_to_every_grid(tmp_path: Path) -> None:
    code, out = invoke("demo", "--json", "--db", f"sqlite:///{tmp_path / 'demo.db'}")

    assert code == 0
    report = json.loads(out)
    assert report["cases"] >= 300
    assert {f"{c}-{n:02d}" for c in ("GH", "WT") for n in (1, 2, 3)} <= set(report["cases_by_grid"])
    # Cases an officer filed from a visit note are answered in the officer's chat, not acknowledged.
    assert report["messages_by_kind"]["ack"] == report["cases"] - report["visit_cases"]
    assert report["visits"] > 0 and report["visit_cases"] > 0 and report["visit_lists"] > 0
    assert report["register"]["sheets"] == 3 and report["register"]["households"] == 420
    # The monthly random samples (1 August, 1 September, 1 October) asked residents, and most answered.
    assert 0 < report["surveys_answered"] < report["surveys_asked"]
    # Every demo resident proved their home: nine in ten by phone digits, one in ten by officer approval.
    assert report["residents_bound"] == 300
    # Officers corrected the cases the model misfiled, and each correction is on the case's record.
    assert report["categories_corrected"] > 0
    database = Database.from_url(f"sqlite:///{tmp_path / 'demo.db'}")
    with database.transaction() as session:
        recategorised = session.exec(select(func.count()).where(CaseEvent.kind == "recategorised")).one()
    # 吹哨报到 (issue 15): the demo street has units and runs the loop; nothing internal reaches a group.
    from tests.support.units import internal_words_in_groups

    leaked = internal_words_in_groups(database)
    database.dispose()
    assert recategorised == report["categories_corrected"]
    assert report["units"] >= 5 and len(report["whistled_by_unit"]) >= 3
    loop = report["loop_events"]
    for step in ("whistled", "accepted", "returned", "unit_done", "verified", "note", "supervised", "unrated_closed"):
        assert loop.get(step, 0) > 0, step
    assert leaked == []


def test_officer_corrections_retrain_the_model(
    sqlite_url: str, core: Minqing, admin: Admin, clock: FixedClock, tmp_path: Path
) -> None:
    """The learning loop: officers correct a local word's category, export, retrain, classify."""
    world = build_world(core, admin, clock)
    # 夜猫子 is what residents here call the night hawkers: a word no seed post uses.
    posts = [
        "夜猫子又在桥头支起来了",
        "桥头夜猫子闹到一点",
        "夜猫子天天占着路口",
        "能不能管管夜猫子",
        "夜猫子的油烟一直飘上来",
        "今晚夜猫子又来了",
        "小区后门夜猫子越来越多",
        "夜猫子收摊后满地垃圾",
    ]
    corrected = 0
    for text in posts:
        code = world.send(text, user="res_1_1_301").case_codes[0]
        if world.case(code).category != "city_order":
            assert not world.send(f"/category {code} 违建与市容", user="officer_gh1").refused
            corrected += 1
    export = tmp_path / "history.csv"
    assert invoke("cases", "export", "--out", str(export), "--db", sqlite_url)[0] == 0
    with export.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # Only corrected cases are confirmed here (none was resolved); each is exported once.
    assert corrected >= 4 and len(rows) == corrected
    assert {r["category"] for r in rows} == {"city_order"} and {r["corrected"] for r in rows} == {"yes"}

    model = tmp_path / "street.mqm"
    assert invoke("model", "train", "--data", str(export), "--with-seed", "--out", str(model))[0] == 0
    probe = "夜猫子\n"
    before = json.loads(runner.invoke(app, ["classify", "--json"], input=probe).stdout)
    after = json.loads(runner.invoke(app, ["classify", "--json", "--model", str(model)], input=probe).stdout)

    assert after["category"] == "city_order" and before["category"] != "city_order"

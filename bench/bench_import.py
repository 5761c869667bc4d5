"""Households/s through ``minqing households import``'s path: read the file, validate, write.

Run: ``uv run python -m bench.bench_import [--rows N]``. Made-up households (the demo's generator,
repeated over more buildings), written as a GBK CSV (what Excel saves on Chinese Windows) and as
.xlsx; each is read with ``read_household_file`` and imported into a fresh SQLite database, then
imported again (every row found in place and unchanged) and once as a dry run.
"""

import argparse
import csv
import io
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import Workbook

from handlers.admin import Admin
from handlers.onboarding import read_household_file
from storage.db import Database
from storage.migrate import upgrade

HEADER = ["社区", "网格", "楼栋", "单元", "房号", "户主", "电话", "标签"]


def rows(count: int) -> list[list[str]]:
    rng = random.Random(13)
    surnames, given = "王李张刘陈杨黄赵吴周徐孙", "伟芳娜敏静丽强磊军洋勇艳"
    found = []
    for i in range(count):
        building, rest = divmod(i, 120)
        unit, room = divmod(rest, 20)
        tags = rng.choice(["", "", "", "独居老人", "低保户;残疾人"])
        name = rng.choice(surnames) + rng.choice(given)
        phone = f"13{rng.randrange(10**8, 10**9)}"
        found.append([f"C{building // 50}", f"C{building // 50}-{building % 5:02d}", str(building + 1),
                      str(unit + 1), str(101 + room), name, phone, tags])  # fmt: skip
    return found


def timed(label: str, count: int, run: object) -> None:
    started = time.perf_counter()
    result = run()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    print(f"| {label} | {count:,} | {seconds:.2f} | {count / seconds:,.0f} | {result} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    data = rows(args.rows)
    with tempfile.TemporaryDirectory() as folder:
        gbk = Path(folder) / "households.csv"
        buffer = io.StringIO()
        csv.writer(buffer).writerows([HEADER, *data])
        gbk.write_bytes(buffer.getvalue().encode("gbk"))
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        for row in [HEADER, *data]:
            sheet.append(row)
        xlsx = Path(folder) / "households.xlsx"
        book.save(xlsx)
        print("| step | rows | seconds | rows/s | result |\n| --- | --- | --- | --- | --- |")
        timed("read GBK CSV", args.rows, lambda: read_household_file(gbk).source)
        timed("read .xlsx", args.rows, lambda: read_household_file(xlsx).source)
        table = read_household_file(gbk)
        url = f"sqlite:///{Path(folder) / 'street.db'}"
        upgrade(url)
        db = Database.from_url(url)
        admin = Admin(db)
        now = datetime.now(UTC)

        def summary(dry_run: bool = False) -> str:
            report = admin.import_households(table.rows, now=now, dry_run=dry_run)
            return f"new {report.imported}, updated {report.updated}, unchanged {report.unchanged}"

        timed("dry run (SQLite)", args.rows, lambda: summary(dry_run=True))
        timed("first import (SQLite)", args.rows, summary)
        timed("re-import, unchanged (SQLite)", args.rows, summary)
        db.dispose()


if __name__ == "__main__":
    main()

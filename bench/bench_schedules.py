"""Benchmark the scheduled jobs on a synthetic year of a large street (not part of the test suite).

    uv run python bench/bench_schedules.py                      # SQLite and PostgreSQL, 1,000,000 cases
    uv run python bench/bench_schedules.py --backend sqlite --cases 200000

Generates 1,000,000 cases over 200 grids (20 communities) received between 1 Oct 2025 and 30 Sep
2026, bulk-loaded (executemany on SQLite, COPY on PostgreSQL), of which 1,000 are open past their
first-reply deadline at the moment of measuring (1 Oct 2026 09:00 Shanghai). Reports:

* the quarterly digest of the street (2026 Q3) beside one plain ``GROUP BY category`` scan of the
  same period in the same run (ratio; target <= 3x): steady (days packed by the nightly job, the
  previous quarters' digests stored), with late changes (one case on each of the last
  ``--late-days`` days changed after packing), without stored digests, and the very first digest
  (nothing packed yet: both quarters are packed from the cases);
* the overdue check: the first run (which writes the alerts) and the every-minute run after it
  (target <= 50 ms).

PostgreSQL: ``--pg-url`` (default ``MINQING_TEST_PG_URL`` or postgres@127.0.0.1:5432); a scratch
database is created and dropped.
"""

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col

from analysis.taxonomy import load_taxonomy
from handlers.clock import FixedClock
from handlers.digests import DigestBuilder, Digests, Period
from handlers.jurisdiction import Scope, scopes
from handlers.overdue import OverdueChecker
from storage.db import Database
from storage.digest_days import DayCache
from storage.migrate import upgrade
from storage.models import Case

ZONE = ZoneInfo("Asia/Shanghai")
YEAR_START = datetime(2025, 10, 1, tzinfo=ZONE)
NOW = datetime(2026, 10, 1, 9, tzinfo=ZONE)
QUARTER = Period("quarter", datetime(2026, 7, 1).date(), datetime(2026, 10, 1).date(), ZONE)
PG_ADMIN_URL = os.environ.get("MINQING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
POST_COLUMNS = (
    "id",
    "platform",
    "chat_id",
    "message_id",
    "user_id",
    "is_group",
    "text",
    "attachments",
    "posted_at",
    "created_at",
)
CASE_COLUMNS = (
    "id", "code", "post_id", "household_id", "community_id", "grid_id", "assignee_id", "category", "intent",
    "urgency", "polarity", "intensity", "confidence", "keywords", "address", "status", "first_reply_due",
    "resolution_due", "first_replied_at", "resolved_at", "closed_at", "rating", "created_at", "updated_at",
)  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ data


def street(db: Database, grids: int) -> tuple[list[tuple[int, int]], dict[int, list[int]], dict[int, int]]:
    """One street, 20 communities, ``grids`` grids, an officer and a chief per grid, 50 households a grid."""
    per_community = max(1, grids // 20)
    grid_rows: list[tuple[int, int]] = []
    households: dict[int, list[int]] = {}
    officers: dict[int, int] = {}
    with db.engine.begin() as conn:
        street_id = conn.execute(
            sa.text("INSERT INTO street (code, name) VALUES ('ST', '大街道') RETURNING id")
        ).scalar_one()
        for c in range(grids // per_community):
            community_id = conn.execute(
                sa.text("INSERT INTO community (code, name, street_id) VALUES (:c, :n, :s) RETURNING id"),
                {"c": f"C{c:02d}", "n": f"第{c + 1}社区", "s": street_id},
            ).scalar_one()
            for g in range(per_community):
                grid_id = conn.execute(
                    sa.text("INSERT INTO grid (code, name, community_id) VALUES (:c, '', :m) RETURNING id"),
                    {"c": f"C{c:02d}-{g:02d}", "m": community_id},
                ).scalar_one()
                grid_rows.append((grid_id, community_id))
                ids = []
                for h in range(50):
                    ids.append(
                        conn.execute(
                            sa.text(
                                "INSERT INTO household (community_id, grid_id, building, unit, room, head_name, phone,"
                                " tags, created_at) VALUES (:m, :g, :b, '1', :r, '', '', '', :t) RETURNING id"
                            ),
                            {
                                "m": community_id,
                                "g": grid_id,
                                "b": str(g * 5 + h // 10 + 1),
                                "r": f"{h % 10 + 1}01",
                                "t": YEAR_START,
                            },
                        ).scalar_one()
                    )
                households[grid_id] = ids
                for role in ("grid_officer", "grid_chief"):
                    officer = conn.execute(
                        sa.text(
                            "INSERT INTO officer (name, role, scope_code, grid_id, community_id, active, created_at)"
                            " VALUES (:n, :r, :s, :g, :m, TRUE, :t) RETURNING id"
                        ),
                        {
                            "n": f"网格员{grid_id}",
                            "r": role,
                            "s": f"G{grid_id}",
                            "g": grid_id,
                            "m": community_id,
                            "t": YEAR_START,
                        },
                    ).scalar_one()
                    if role == "grid_officer":
                        officers[grid_id] = officer
    return grid_rows, households, officers


def synthetic_cases(
    count: int, grids: list[tuple[int, int]], households: dict[int, list[int]], officers: dict[int, int], overdue: int
) -> Iterator[tuple[tuple[object, ...], tuple[object, ...]]]:
    """(post row, case row) pairs: a year of cases, almost all closed, ``overdue`` open past due at NOW."""
    taxonomy = load_taxonomy()
    rng = random.Random(5)
    categories = [c.code for c in taxonomy.categories]
    words = {c.code: list(c.keywords[:12]) for c in taxonomy.categories}
    intents = [i.code for i in taxonomy.intents]
    urgencies = ["critical", "high", "normal", "normal", "normal", "low"]
    span = (NOW - timedelta(days=1) - YEAR_START).total_seconds()
    now_utc = NOW.astimezone(UTC)
    open_tail = 3 * overdue  # the newest cases: a third of them overdue, the rest open but not yet due
    for i in range(1, count + 1):
        if i > count - open_tail:
            created = now_utc - timedelta(hours=rng.uniform(1, 60))
        else:
            created = YEAR_START.astimezone(UTC) + timedelta(seconds=span * (i / count))
        grid_id, community_id = grids[rng.randrange(len(grids))]
        category = rng.choice(categories)
        urgency = rng.choice(urgencies)
        first_due = created + timedelta(hours=24)
        resolution_due = created + timedelta(hours=168)
        if i > count - open_tail:
            late = (count - i) % 3 == 0
            first_due = now_utc - timedelta(minutes=rng.randint(1, 600)) if late else now_utc + timedelta(hours=5)
            resolution_due = now_utc + timedelta(days=3)
            replied = resolved = None
            status, rating = "assigned", None
        else:
            replied = created + timedelta(minutes=rng.randint(10, 3000))
            resolved = created + timedelta(hours=rng.uniform(2, 240))
            status = "closed"
            rating = rng.choice(["satisfied", "satisfied", "basically", "unsatisfied", None])
        keywords = ",".join(rng.sample(words[category], k=min(3, len(words[category]))))
        post = (i, "telegram", "-100", str(i), "u", True, f"诉求{i}", "", created, created)
        case = (
            i, f"MQ-2026-{i:07d}", i, rng.choice(households[grid_id]) if rng.random() < 0.8 else None,
            community_id, grid_id, officers[grid_id], category, rng.choice(intents), urgency,
            rng.choice(["negative", "negative", "neutral", "positive"]), round(rng.random(), 2), 0.8, keywords,
            f"{rng.randint(1, 60)}幢" if rng.random() < 0.5 else "", status, first_due, resolution_due, replied,
            resolved, resolved, rating, created, created,
        )  # fmt: skip
        yield post, case


def sqlite_time(value: object) -> object:
    # The format SQLAlchemy's SQLite DateTime stores (naive UTC), so comparisons match the app's.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def load(db: Database, rows: Iterator[tuple[tuple[object, ...], tuple[object, ...]]], count: int) -> None:
    started = time.perf_counter()
    batch = 50_000
    posts: list[tuple[object, ...]] = []
    cases: list[tuple[object, ...]] = []
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        post_sql = f"INSERT INTO post ({', '.join(POST_COLUMNS)}) VALUES ({', '.join('?' * len(POST_COLUMNS))})"
        case_sql = f'INSERT INTO "case" ({", ".join(CASE_COLUMNS)}) VALUES ({", ".join("?" * len(CASE_COLUMNS))})'

        def flush() -> None:
            if db.is_sqlite:
                cursor.execute("BEGIN")
                cursor.executemany(post_sql, [tuple(sqlite_time(v) for v in p) for p in posts])
                cursor.executemany(case_sql, [tuple(sqlite_time(v) for v in c) for c in cases])
                cursor.execute("COMMIT")
            else:
                with cursor.copy(f"COPY post ({', '.join(POST_COLUMNS)}) FROM STDIN") as copy:
                    for p in posts:
                        copy.write_row(p)
                with cursor.copy(f'COPY "case" ({", ".join(CASE_COLUMNS)}) FROM STDIN') as copy:
                    for c in cases:
                        copy.write_row(c)
                raw.commit()
            posts.clear()
            cases.clear()

        for n, (post, case) in enumerate(rows, 1):
            posts.append(post)
            cases.append(case)
            if len(posts) >= batch:
                flush()
                if n % 200_000 == 0:
                    log(f"  {n:,} / {count:,} cases loaded")
        if posts:
            flush()
        if db.is_sqlite:
            cursor.execute("ANALYZE")
        else:
            cursor.execute("SELECT setval(pg_get_serial_sequence('post', 'id'), (SELECT max(id) FROM post))")
            cursor.execute("SELECT setval(pg_get_serial_sequence('\"case\"', 'id'), (SELECT max(id) FROM \"case\"))")
            raw.commit()
            driver = raw.driver_connection
            driver.autocommit = True  # type: ignore[union-attr]  # VACUUM refuses to run in a transaction
            driver.execute("VACUUM ANALYZE")  # type: ignore[union-attr]
            driver.autocommit = False  # type: ignore[union-attr]
    finally:
        raw.close()
    log(f"  loaded {count:,} cases in {time.perf_counter() - started:.1f} s")


# ------------------------------------------------------------------------------------------ timing


def best_of(runs: int, action: Callable[[], object]) -> tuple[float, float]:
    """(minimum, median) wall time in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times)


def measure(db: Database, runs: int, late_days: int) -> dict[str, float]:
    taxonomy = load_taxonomy()
    builder = DigestBuilder(taxonomy=taxonomy, zone=ZONE)
    clock = FixedClock(NOW)
    digests = Digests(db=db, taxonomy=taxonomy, clock=clock, zone=ZONE)
    with db.session() as session:
        scope = next(s for s in scopes(session) if s.level == "street")
        community = next(s for s in scopes(session) if s.level == "community")
    plain = sa.text(
        'SELECT category, count(*) FROM "case" WHERE created_at >= :s AND created_at < :e GROUP BY category'
    )

    def plain_scan() -> None:
        with db.session() as session:
            session.execute(plain, {"s": _bind(db, QUARTER.start), "e": _bind(db, QUARTER.end)}).all()

    def build(target: Scope, cache: DayCache | None = None) -> DayCache:
        # A fresh cache each time: every build reads (and, where stale, packs) its days itself.
        cache = cache or DayCache(ZONE, now=NOW)
        with db.session() as session:
            builder.render(builder.figures(session, target, QUARTER, cache=cache))
        return cache

    results: dict[str, float] = {}
    plain_scan()  # warm the cache for both sides alike
    results["plain_scan_ms"], _ = best_of(runs, plain_scan)
    # First digest after installing: no packed days, no stored digests (both quarters packed).
    started = time.perf_counter()
    first = build(scope)
    results["digest_first_ms"] = (time.perf_counter() - started) * 1000
    results["days_packed_first"] = len(first.rebuilt)
    results["days_stored"] = digests.store_days(first)
    # Days packed, but no stored digests: the previous quarter's counts come from packed days too.
    results["digest_cold_ms"], _ = best_of(runs, lambda: build(scope))
    # Steady operation: the previous quarters' digests are stored and supply the comparison counts.
    earlier = QUARTER
    for _ in range(4):
        earlier = earlier.previous()
        digests.produce_one(scope, earlier)
    results["digest_warm_ms"], _ = best_of(runs, lambda: build(scope))
    # Late changes: one case on each of the quarter's last days changed after the nightly refresh,
    # so those days are packed again inside the timed build (and not stored, so every run does it).
    changed = late_changes(db, late_days)
    results["late_days"] = late_days
    late = [build(scope) for _ in range(runs)]
    results["days_packed_late"] = len(late[0].rebuilt)
    results["days_patched_late"] = len(late[0].patched)
    results["digest_late_ms"], _ = best_of(runs, lambda: build(scope))
    results["late_cases_changed"] = changed
    results["plain_scan_again_ms"], _ = best_of(runs, plain_scan)
    results["community_digest_ms"], _ = best_of(runs, lambda: build(community))
    checker = OverdueChecker(db=db, taxonomy=taxonomy, clock=clock, zone=ZONE)
    started = time.perf_counter()
    alerts = checker.check()
    results["overdue_first_run_ms"] = (time.perf_counter() - started) * 1000
    results["overdue_alerts_written"] = len(alerts)
    results["overdue_steady_ms"], results["overdue_steady_median_ms"] = best_of(max(runs, 5), checker.check)
    with db.session() as session:
        results["overdue_cases"] = session.execute(
            sa.text(
                'SELECT count(*) FROM "case" WHERE first_replied_at IS NULL AND closed_at IS NULL'
                " AND first_reply_due <= :n"
            ),
            {"n": _bind(db, NOW)},
        ).scalar_one()
    plain_best = min(results["plain_scan_ms"], results["plain_scan_again_ms"])
    for name in ("first", "cold", "warm", "late"):
        results[f"ratio_{name}"] = results[f"digest_{name}_ms"] / plain_best
    return results


def late_changes(db: Database, days: int) -> int:
    """Rate one case on each of the quarter's last ``days`` days, an hour before the digest."""
    ids: list[int] = []
    with db.session() as session:
        for back in range(1, days + 1):
            day = QUARTER.end_day - timedelta(days=back)
            start = datetime.combine(day, datetime.min.time(), tzinfo=ZONE)
            found = session.execute(
                sa.select(col(Case.id))
                .where(col(Case.created_at) >= start, col(Case.created_at) < start + timedelta(days=1))
                .order_by(col(Case.created_at))
                .limit(1)
            ).scalar()
            if found is not None:
                ids.append(int(found))
    with db.transaction() as session:
        session.execute(
            sa.update(Case).where(col(Case.id).in_(ids)).values(rating="basically", updated_at=NOW - timedelta(hours=1))
        )
    return len(ids)


def _bind(db: Database, moment: datetime) -> object:
    return sqlite_time(moment) if db.is_sqlite else moment


@contextmanager
def backend(name: str, pg_url: str) -> Iterator[Database]:
    if name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="minqing-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            upgrade(url)
            db = Database.from_url(url)
            try:
                yield db
            finally:
                db.dispose()
        return
    scratch = f"minqing_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{scratch}"'))
    url = sa.make_url(pg_url).set(database=scratch).render_as_string(hide_password=False)
    upgrade(url)
    db = Database.from_url(url)
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        admin.dispose()


def cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=200)
    parser.add_argument("--overdue", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--late-days", type=int, default=7, help="days changed after the nightly refresh")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL)
    args = parser.parse_args()
    names = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}")
    print(
        f"data: {args.cases:,} cases over {args.grids} grids, 1 Oct 2025 - 30 Sep 2026;"
        f" {args.overdue:,} overdue at {NOW}"
    )
    for name in names:
        log(f"{name}: generating and loading ...")
        with backend(name, args.pg_url) as db:
            grids, households, officers = street(db, args.grids)
            load(db, synthetic_cases(args.cases, grids, households, officers, args.overdue), args.cases)
            results = measure(db, args.runs, args.late_days)
        report(name, results)


def report(name: str, r: dict[str, float]) -> None:
    plain = min(r["plain_scan_ms"], r["plain_scan_again_ms"])
    print(f"\n[{name}]")
    print(f"  plain GROUP BY category over 2026 Q3     : {plain:8.1f} ms")
    print(
        f"  street quarterly digest, steady          : {r['digest_warm_ms']:8.1f} ms"
        f"  ({r['ratio_warm']:.2f}x; target <= 3x)"
    )
    print(
        f"  ... with {int(r['late_days'])} days changed since packed    : {r['digest_late_ms']:8.1f} ms"
        f"  ({r['ratio_late']:.2f}x; {int(r['days_patched_late'])} days patched,"
        f" {int(r['days_packed_late'])} packed again)"
    )
    print(f"  ... no stored digests (previous quarter) : {r['digest_cold_ms']:8.1f} ms  ({r['ratio_cold']:.2f}x)")
    print(
        f"  first digest, nothing packed yet         : {r['digest_first_ms']:8.1f} ms"
        f"  ({r['ratio_first']:.2f}x; {int(r['days_packed_first'])} days packed, {int(r['days_stored'])} stored)"
    )
    print(f"  one community's quarterly digest         : {r['community_digest_ms']:8.1f} ms")
    alerts, overdue = int(r["overdue_alerts_written"]), int(r["overdue_cases"])
    print(
        f"  overdue check, first run                 : {r['overdue_first_run_ms']:8.1f} ms"
        f"  ({alerts} alerts, {overdue} overdue)"
    )
    steady, median = r["overdue_steady_ms"], r["overdue_steady_median_ms"]
    print(f"  overdue check, every minute after        : {steady:8.1f} ms  (median {median:.1f} ms; target <= 50 ms)")


if __name__ == "__main__":
    main()

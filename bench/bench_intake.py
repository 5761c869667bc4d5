"""Posts/s through the full intake path (classify + persist + ack) beside bare jieba.lcut.

Run: ``uv run python -m bench.bench_intake [--posts N] [--pg URL]``. Uses the titles of
../shared/data/real_posts_unlabelled.csv when present, else the demo posts.
"""

import argparse
import csv
import os
import platform
import random
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from analysis.analyzer import Analyzer
from analysis.default_model import load_classifier
from analysis.taxonomy import load_taxonomy
from analysis.tokenizer import get_tokenizer
from bot.demo import demo_posts, household_rows
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.messages import IncomingMessage
from handlers.service import Minqing
from storage.db import Database
from storage.migrate import upgrade

REAL_POSTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_posts_unlabelled.csv"


def load_posts(limit: int) -> tuple[list[str], str]:
    if REAL_POSTS.exists():
        csv.field_size_limit(1 << 24)
        with REAL_POSTS.open(encoding="utf-8") as handle:
            titles = [row["title"].strip() for row in csv.DictReader(handle) if row.get("title", "").strip()]
        source = f"{REAL_POSTS.name} titles"
    else:
        titles = [row["text"] for row in demo_posts()]
        source = "demo posts (shared data absent)"
    while len(titles) < limit:
        titles += titles
    return titles[:limit], source


def jieba_rate(posts: list[str]) -> float:
    tokenizer = get_tokenizer()
    started = time.perf_counter()
    for text in posts:
        tokenizer.lcut(text)
    return len(posts) / (time.perf_counter() - started)


def intake_rate(url: str, posts: list[str], analyzer: Analyzer) -> float:
    upgrade(url)
    db = Database.from_url(url)
    clock = FixedClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    Admin(db).import_households(household_rows(random.Random(1)), now=clock.now())
    core = Minqing(db=db, analyzer=analyzer, clock=clock)
    started = time.perf_counter()
    for index, text in enumerate(posts):
        core.handle(
            IncomingMessage(
                platform="bench",
                chat_id=f"u{index % 500}",
                user_id=f"u{index % 500}",
                message_id=str(index),
                text=text,
                sent_at=clock.now(),
            )
        )
    rate = len(posts) / (time.perf_counter() - started)
    db.dispose()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument(
        "--pg", default=os.environ.get("MINQING_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    posts, source = load_posts(args.posts)
    taxonomy = load_taxonomy()
    analyzer = Analyzer(classifier=load_classifier(taxonomy, None), taxonomy=taxonomy)  # as `minqing run` wires it
    jieba_rate(posts[:200])  # warm up
    bare = jieba_rate(posts)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"posts: {len(posts)} from {source}")
    print(f"bare jieba.lcut: {bare:,.0f} posts/s")
    with tempfile.TemporaryDirectory() as folder:
        rate = intake_rate(f"sqlite:///{folder}/bench.db", posts, analyzer)
    print(f"full intake on SQLite: {rate:,.0f} posts/s  (ratio to bare jieba {rate / bare:.2f}; target >= 0.33)")
    name = f"minqing_bench_{os.getpid()}"
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        print(f"PostgreSQL skipped: {error.__class__.__name__}")
    else:
        url = sa.make_url(args.pg).set(database=name).render_as_string(hide_password=False)
        try:
            rate = intake_rate(url, posts, analyzer)
            print(f"full intake on PostgreSQL: {rate:,.0f} posts/s  (ratio to bare jieba {rate / bare:.2f})")
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

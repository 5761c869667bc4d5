"""Full analysis throughput beside bare ``jieba.lcut``, plus start-up time and memory with the model.

Two analysis figures: ``analyze`` one post at a time (a message as it arrives) and ``analyze_many``
over all posts (digests, imports, evaluation), which runs each stage over a chunk of posts.

Run: ``uv run python -m bench.bench_analysis [--rounds N] [--json]``. Reads the titles of
../shared/data/real_posts_unlabelled.csv when present (else the demo posts, and says so).
Start-up is measured in a fresh process: import, jieba initialised, default model loaded from the
cache, one post analysed; the default model is built once first so start-up measures a cached load.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REAL_POSTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_posts_unlabelled.csv"

_STARTUP = """
import time
t = time.perf_counter()
from analysis.analyzer import Analyzer
from analysis.default_model import load_classifier
from analysis.taxonomy import load_taxonomy
from analysis.tokenizer import initialise
initialise()
taxonomy = load_taxonomy()
analyzer = Analyzer(classifier=load_classifier(taxonomy), taxonomy=taxonomy)
analyzer.analyze("3栋楼道里有人给电动车充电，太危险了")
elapsed = time.perf_counter() - t
# VmHWM, not ru_maxrss: the latter survives exec and would report the parent's peak.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(elapsed, peak)
"""


def _titles() -> tuple[list[str], str]:
    import csv

    if REAL_POSTS.exists():
        with REAL_POSTS.open(encoding="utf-8") as handle:
            return [row["title"] for row in csv.DictReader(handle) if row["title"].strip()], "real titles"
    from bot.demo import demo_posts

    return [row["text"] for row in demo_posts()], "demo posts (../shared/data absent)"


#: Throughput is timed in this process's CPU time: on a machine shared with other sessions, wall time
#: mostly measures their load (it moved the same code's ratio between 0.45 and 0.84 in one hour).
_clock = time.process_time


def _rate(function: object, posts: list[str], rounds: int) -> float:
    assert callable(function)
    best = 0.0
    for _ in range(rounds):
        started = _clock()
        for post in posts:
            function(post)
        best = max(best, len(posts) / (_clock() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many passes over the posts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    import jieba

    from analysis.analyzer import Analyzer
    from analysis.default_model import load_classifier
    from analysis.taxonomy import load_taxonomy
    from analysis.tokenizer import initialise

    jieba.setLogLevel(40)
    jieba.initialize()
    initialise()
    taxonomy = load_taxonomy()
    analyzer = Analyzer(classifier=load_classifier(taxonomy), taxonomy=taxonomy)  # builds the cache if needed
    posts, source = _titles()
    _rate(jieba.lcut, posts[:300], 1)  # warm every path
    _rate(analyzer.analyze, posts[:300], 1)
    analyzer.analyze_many(posts[:300])
    # Interleave rounds so machine noise hits every path alike.
    jieba_rate = analysis_rate = batch_rate = 0.0
    for _ in range(args.rounds):
        jieba_rate = max(jieba_rate, _rate(jieba.lcut, posts, 1))
        analysis_rate = max(analysis_rate, _rate(analyzer.analyze, posts, 1))
        started = _clock()
        analyzer.analyze_many(posts)
        batch_rate = max(batch_rate, len(posts) / (_clock() - started))

    env = dict(os.environ)
    startup_runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", _STARTUP], capture_output=True, text=True, check=True, env=env
        ).stdout.split()
        startup_runs.append((float(out[0]), int(out[1])))
    startup = min(s for s, _ in startup_runs)
    rss_mb = max(r for _, r in startup_runs) / 1024
    result = {
        "posts": len(posts),
        "source": source,
        "jieba_lcut_posts_per_s": round(jieba_rate),
        "analysis_posts_per_s": round(analysis_rate),
        "ratio": round(analysis_rate / jieba_rate, 3),
        "batch_posts_per_s": round(batch_rate),
        "batch_ratio": round(batch_rate / jieba_rate, 3),
        "startup_s": round(startup, 2),
        "rss_mb": round(rss_mb, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    if args.json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        return
    for key, value in result.items():
        sys.stdout.write(f"{key:>24}: {value}\n")


if __name__ == "__main__":
    main()

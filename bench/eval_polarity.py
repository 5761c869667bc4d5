"""Polarity as the resident's stance: the shipped analysis against hand labels, beside the lexicon alone.

Two sets: the team's 480 demo posts (``bot/data/demo_posts.csv``, labelled when they were written) and
the ``test`` slice of real titles (``bench/data/real_title_polarity.csv``: msg_id and polarity only,
joined at run time with ../shared/data/real_posts_unlabelled.csv, labelled blind to the model and
scored once: held out). Prints accuracy, the confusion counts and, for comparison, what the
HowNet/DUTIR lexicons alone (the previous polarity) would say.

Run: ``uv run python -m bench.eval_polarity [--json]``.
"""

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

from bench.eval_real_titles import REAL_POSTS, read_labels, read_titles

ROOT = Path(__file__).resolve().parent
POLARITY = ROOT / "data" / "real_title_polarity.csv"
DEMO = ROOT.parent / "bot" / "data" / "demo_posts.csv"


def _score(texts: list[str], gold: list[str]) -> dict[str, object]:
    from analysis.analyzer import Analyzer, clean_text
    from analysis.default_model import load_classifier
    from analysis.sentiment import analyse_sentiment
    from analysis.taxonomy import load_taxonomy
    from analysis.tokenizer import tokenize

    taxonomy = load_taxonomy()
    analyzer = Analyzer(classifier=load_classifier(taxonomy), taxonomy=taxonomy)
    predicted = [a.polarity for a in analyzer.analyze_many(texts)]
    lexicon = [analyse_sentiment(clean_text(t), tokenize(clean_text(t))).polarity for t in texts]
    confusion = Counter(f"{g}->{p}" for g, p in zip(gold, predicted, strict=True) if g != p)
    return {
        "n": len(gold),
        "accuracy": round(sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold), 3),
        "lexicon_only_accuracy": round(sum(g == p for g, p in zip(gold, lexicon, strict=True)) / len(gold), 3),
        "gold": dict(Counter(gold)),
        "errors": dict(confusion.most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with DEMO.open(encoding="utf-8") as handle:
        demo = list(csv.DictReader(handle))
    results: dict[str, object] = {"demo_posts": _score([r["text"] for r in demo], [r["polarity"] for r in demo])}
    if REAL_POSTS.exists():
        titles = read_titles()
        rows = read_labels(POLARITY)
        results["real_titles_test"] = _score([titles[r["msg_id"]] for r in rows], [r["polarity"] for r in rows])
    else:
        results["real_titles_test"] = f"skipped: {REAL_POSTS} not found"
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return
    for name, result in results.items():
        print(f"{name}: {result}")


if __name__ == "__main__":
    main()

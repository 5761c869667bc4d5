"""How often the shipped default model puts real short posts in the right category.

Joins our hand labels (``bench/data/real_title_labels.csv``: msg_id, slice, category, alt, urgency,
title_clear; no text) with the titles of ../shared/data/real_posts_unlabelled.csv and prints, per
slice: exact accuracy, accuracy counting a second acceptable label ("either"), accuracy on the
unambiguous rows (title alone decides, no second label), critical recall, and the commonest
confusions. ``dev`` was looked at while the seed corpus grew; ``test`` and ``test2`` are held out
(``test2`` was labelled later, by another session, and has never been read for errors).

``--history dev[,test]`` simulates a street's own history: the default recipe retrained on the seed corpus
plus those slices' titles and labels (as ``minqing model train --with-seed`` would on ``minqing cases
export``; intent is not hand-labelled, so those rows say complaint), scored on the other slices.
``--guesses`` adds the shipped model's own labels for the 3,450 titles before the labelled rows, as
``minqing cases export --all`` adds a street's unconfirmed cases (self-training on the street's own posts).

Run: ``uv run python -m bench.eval_real_titles [--slice dev|test|test2|all] [--history dev[,test]]
[--guesses] [--show N] [--json]``.
"""

import argparse
import csv
import io
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
LABELS = ROOT / "data" / "real_title_labels.csv"
REAL_POSTS = ROOT.parents[1] / "shared" / "data" / "real_posts_unlabelled.csv"
SLICES = ("dev", "test", "test2")
#: Titles before this row are no slice's: ``--guesses`` treats them as a street's unconfirmed cases.
FIRST_LABELLED_ROW = 3450


def read_labels(path: Path = LABELS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def read_titles(path: Path = REAL_POSTS) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {row["msg_id"]: row["title"] for row in csv.DictReader(handle)}


@dataclass(frozen=True)
class TitleScore:
    n: int
    exact: float
    either: float
    unambiguous_n: int
    unambiguous: float
    critical_found: str
    top_confusions: list[tuple[str, int]]


def _share(hits: int, total: int) -> float:
    return round(hits / total, 3) if total else 0.0


def score(labels: list[dict[str, str]], predicted: list[tuple[str, str]]) -> TitleScore:
    """Figures for one slice; ``predicted`` holds (category, urgency) per label row."""
    n = len(labels)
    exact = sum(cat == row["category"] for row, (cat, _) in zip(labels, predicted, strict=True))
    either = sum(cat in {row["category"], row["alt"]} for row, (cat, _) in zip(labels, predicted, strict=True))
    clear = [(row, cat) for row, (cat, _) in zip(labels, predicted, strict=True) if row["title_clear"] == "yes"]
    clear = [(row, cat) for row, cat in clear if not row["alt"]]
    critical = [urg for row, (_, urg) in zip(labels, predicted, strict=True) if row["urgency"] == "critical"]
    confusions = Counter(
        f"{row['category']}->{cat}" for row, (cat, _) in zip(labels, predicted, strict=True) if cat != row["category"]
    )
    return TitleScore(
        n=n,
        exact=_share(exact, n),
        either=_share(either, n),
        unambiguous_n=len(clear),
        unambiguous=_share(sum(row["category"] == cat for row, cat in clear), len(clear)),
        critical_found=f"{sum(u == 'critical' for u in critical)}/{len(critical)}",
        top_confusions=confusions.most_common(8),
    )


def _slices(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(","))
    unknown = [name for name in names if name not in SLICES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown slice(s) {', '.join(unknown)}; choose from {', '.join(SLICES)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slice", choices=(*SLICES, "all"), default="all")
    parser.add_argument("--history", type=_slices, help="retrain with these slices (comma-separated) as history")
    parser.add_argument("--guesses", action="store_true", help="retrain with the model's own labels of earlier titles")
    parser.add_argument("--show", type=int, default=0, help="print this many wrong titles per slice")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not REAL_POSTS.exists():
        sys.exit(f"{REAL_POSTS} is absent: this check needs ../shared/data (dev machines and CI only)")

    from analysis.analyzer import Analyzer
    from analysis.classifier import TextClassifier, TrainedClassifier
    from analysis.default_model import FAMILIES, build_default_model, load_classifier, read_corpus
    from analysis.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    titles = read_titles()
    labels = read_labels()
    slices: tuple[str, ...] = SLICES if args.slice == "all" else (args.slice,)
    classifier: TextClassifier
    classifier = load_classifier(taxonomy)
    if args.history or args.guesses:
        history = io.StringIO()
        writer = csv.writer(history)
        writer.writerow(("text", *FAMILIES))
        for row in labels:
            if row["slice"] in (args.history or ()):
                writer.writerow((titles[row["msg_id"]], row["category"], "complaint", row["urgency"]))
        if args.guesses:
            labelled = {row["msg_id"] for row in labels}
            earlier = [t for i, t in list(titles.items())[:FIRST_LABELLED_ROW] if i not in labelled and t.strip()]
            guesses = Analyzer(classifier=classifier, taxonomy=taxonomy).analyze_many(earlier)
            writer.writerows((g.text, g.category, g.intent, g.urgency) for g in guesses)
        extra = read_corpus(history.getvalue(), label_cols=FAMILIES)
        classifier = TrainedClassifier(build_default_model(extra=extra), taxonomy)
        slices = tuple(name for name in slices if name not in (args.history or ()))
    analyzer = Analyzer(classifier=classifier, taxonomy=taxonomy)
    report: dict[str, dict[str, object]] = {}
    for name in slices:
        rows = [row for row in labels if row["slice"] == name]
        results = analyzer.analyze_many([titles[row["msg_id"]] for row in rows])
        report[name] = asdict(score(rows, [(r.category, r.urgency) for r in results]))
        if args.show and not args.json:
            wrong = [(row, r) for row, r in zip(rows, results, strict=True) if r.category != row["category"]]
            for row, result in wrong[: args.show]:
                gold = f"{row['category']:>16} {row['alt'] or '-':>16}"
                sys.stdout.write(f"{gold} -> {result.category:<16} {result.text}\n")
    if args.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        return
    for name, figures in report.items():
        sys.stdout.write(f"[{name}]\n")
        for key, value in figures.items():
            sys.stdout.write(f"{key:>16}: {value}\n")


if __name__ == "__main__":
    main()

"""Sure-or-ask on the hand-labelled real titles: how often the analysis asks, and how right it is when it does not.

For each slice of ``bench/data/real_title_labels.csv`` (see ``bench.eval_real_titles``): the share of
posts that ask an officer to confirm (``needs_confirmation``: confidence below
``analysis.analyzer.CONFIRM_BELOW``, or the catch-all category), the accuracy of those that do not
(a second acceptable label counts), and how often the right category is among the three offered.
``--thresholds`` prints the same for other thresholds (how ``CONFIRM_BELOW`` was chosen, on ``dev``).

Run: ``uv run python -m bench.eval_sure_or_ask [--thresholds] [--json]``.
"""

import argparse
import json

from bench.eval_real_titles import REAL_POSTS, SLICES, read_labels, read_titles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not REAL_POSTS.exists():
        print(f"skipped: {REAL_POSTS} not found")
        return
    from analysis.analyzer import CONFIRM_BELOW, Analyzer
    from analysis.default_model import load_classifier
    from analysis.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    analyzer = Analyzer(classifier=load_classifier(taxonomy), taxonomy=taxonomy)
    titles, labels = read_titles(), read_labels()
    results: dict[str, dict[str, object]] = {}
    for name in SLICES:
        rows = [row for row in labels if row["slice"] == name]
        found = analyzer.analyze_many(titles[row["msg_id"]] for row in rows)
        right = [a.category in (row["category"], row["alt"]) for a, row in zip(found, rows, strict=True)]
        offered = [
            any(code in (row["category"], row["alt"]) for code, _ in a.alternatives)
            for a, row in zip(found, rows, strict=True)
        ]
        sure = [r for r, a in zip(right, found, strict=True) if not a.needs_confirmation]
        result: dict[str, object] = {
            "n": len(rows),
            "asks": round(1 - len(sure) / len(rows), 3),
            "accuracy_when_sure": round(sum(sure) / len(sure), 3) if sure else None,
            "right_among_three": round(sum(offered) / len(rows), 3),
            "accuracy_all": round(sum(right) / len(rows), 3),
        }
        if args.thresholds:
            grid = {}
            for threshold in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
                kept = [
                    r
                    for r, a in zip(right, found, strict=True)
                    if a.confidence >= threshold and a.category != taxonomy.default_category
                ]
                grid[str(threshold)] = (round(1 - len(kept) / len(rows), 3), round(sum(kept) / max(1, len(kept)), 3))
            result["asks_and_accuracy_by_threshold"] = grid
        results[name] = result
    if args.json:
        print(json.dumps({"confirm_below": CONFIRM_BELOW, **results}))
        return
    print(f"confirm_below = {CONFIRM_BELOW}")
    for name, result in results.items():
        print(f"{name}: {result}")


if __name__ == "__main__":
    main()

"""The life-safety and chatter layers on an emergency set and a chatter set.

``bench/data/evalsets`` was written by a team member from the taxonomy alone (see the README beside it)
and scored once as held-out; since issue 12's second round it is a development set, used freely while
building the rules, as is ``bench/data/devsets`` (posts the builders wrote). ``bench/data/evalsets2`` is
a fresh set written blind to the rules and scored once, when they were final: only its figures are
held-out. Prints:

- critical recall: emergencies (``critical=1``) the analysis calls ``critical``;
- false critical: non-emergencies (``critical=0``) it calls ``critical``;
- chatter recall: chatter (``chatter=1``) that triage would not file in a group (matter confidence
  below the default ``triage_threshold``, 0.6);
- matter recall: real matters (``chatter=0``) it would file.

Run: ``uv run python -m bench.eval_safety_chatter [DIR] [--show N] [--json]``; ``DIR`` holds an
``emergency.csv`` (``text,critical``) and a ``chatter.csv`` (``text,chatter``): the development set
``bench/data/evalsets`` by default, or ``bench/data/devsets`` (posts written while building the layers),
or a held-out set such as ``bench/data/evalsets2``.
"""

import argparse
import csv
import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "evalsets"
#: The group-chat filing threshold the bot ships with (``Settings.triage_threshold``).
TRIAGE_THRESHOLD = 0.6


def _rows(directory: Path, name: str) -> list[dict[str, str]]:
    with (directory / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _share(hits: int, total: int) -> float:
    return round(hits / total, 3) if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DATA, help="directory of the two CSV files")
    parser.add_argument("--show", type=int, default=0, help="print up to N misses of each kind")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from analysis.analyzer import Analyzer
    from analysis.default_model import load_classifier
    from analysis.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    analyzer = Analyzer(classifier=load_classifier(taxonomy), taxonomy=taxonomy)
    emergency, chatter = _rows(args.data, "emergency.csv"), _rows(args.data, "chatter.csv")
    urgent = analyzer.analyze_many(row["text"] for row in emergency)
    triaged = analyzer.analyze_many(row["text"] for row in chatter)
    critical = [a.urgency == "critical" for a in urgent]
    filed = [a.matter_confidence >= TRIAGE_THRESHOLD for a in triaged]
    positives = [c for c, row in zip(critical, emergency, strict=True) if row["critical"] == "1"]
    negatives = [c for c, row in zip(critical, emergency, strict=True) if row["critical"] == "0"]
    chat = [f for f, row in zip(filed, chatter, strict=True) if row["chatter"] == "1"]
    matters = [f for f, row in zip(filed, chatter, strict=True) if row["chatter"] == "0"]
    result = {
        "critical_recall": _share(sum(positives), len(positives)),
        "critical_found": f"{sum(positives)}/{len(positives)}",
        "false_critical_rate": _share(sum(negatives), len(negatives)),
        "false_critical": f"{sum(negatives)}/{len(negatives)}",
        "chatter_recall": _share(len(chat) - sum(chat), len(chat)),
        "chatter_found": f"{len(chat) - sum(chat)}/{len(chat)}",
        "matter_recall": _share(sum(matters), len(matters)),
        "matters_filed": f"{sum(matters)}/{len(matters)}",
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    if args.show:
        misses = [
            ("missed emergency", row["text"], a.urgency)
            for row, a, c in zip(emergency, urgent, critical, strict=True)
            if row["critical"] == "1" and not c
        ][: args.show]
        misses += [
            ("false critical", row["text"], a.intent)
            for row, a, c in zip(emergency, urgent, critical, strict=True)
            if row["critical"] == "0" and c
        ][: args.show]
        misses += [
            ("chatter filed", row["text"], a.intent)
            for row, a, f in zip(chatter, triaged, filed, strict=True)
            if row["chatter"] == "1" and f
        ][: args.show]
        misses += [
            ("matter lost", row["text"], a.intent)
            for row, a, f in zip(chatter, triaged, filed, strict=True)
            if row["chatter"] == "0" and not f
        ][: args.show]
        for kind, text, why in misses:
            print(f"{kind}: {text.replace(chr(10), ' / ')} ({why})")


if __name__ == "__main__":
    main()

"""`minqing model train|eval` and the model side of `minqing classify`."""

import time
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_common import print_json as _print_json

model_app = typer.Typer(help="Train and score text classification models.", no_args_is_help=True)

TextCol = Annotated[str, typer.Option("--text-col", help="Column holding the post text.")]
LabelCol = Annotated[
    list[str] | None,
    typer.Option("--label-col", help="Label column; repeat for several families (default: label)."),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


@model_app.command("train")
def model_train(
    data: Annotated[Path, typer.Option("--data", exists=True, dir_okay=False, help="Labelled CSV with a header.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the model file.")],
    text_col: TextCol = "text",
    label_col: LabelCol = None,
    with_seed: Annotated[
        bool,
        typer.Option(
            "--with-seed",
            help="Train the shipped default model's recipe on the seed corpus plus this file "
            "(labels category, intent, urgency; e.g. from `minqing cases export`).",
        ),
    ] = False,
) -> None:
    """Train a model on a labelled CSV and save it (safe format, no pickle)."""
    from analysis.default_model import FAMILIES, build_default_model, read_corpus
    from analysis.training import train_model

    families = list(FAMILIES) if with_seed else (label_col or ["label"])
    try:
        corpus = read_corpus(data, text_col=text_col, label_cols=families)
        started = time.perf_counter()
        if with_seed:
            model = build_default_model(extra=corpus, meta={"source": f"seed_corpus.csv+{data.name}"})
        else:
            model = train_model(corpus, meta={"source": data.name})
    except ValueError as error:
        raise _fail(f"cannot train: {error}") from error
    model.save(out)
    seconds = time.perf_counter() - started
    typer.echo(f"trained on {len(corpus.texts)} posts ({', '.join(families)}) in {seconds:.1f}s -> {out}", err=True)


@model_app.command("eval")
def model_eval(
    train: Annotated[Path, typer.Option("--train", exists=True, dir_okay=False, help="Labelled training CSV.")],
    test: Annotated[Path | None, typer.Option("--test", exists=True, dir_okay=False, help="Labelled test CSV.")] = None,
    folds: Annotated[
        int, typer.Option("--folds", min=0, help="Cross-validate on --train with this many folds instead.")
    ] = 0,
    text_col: TextCol = "text",
    label_col: LabelCol = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Shuffle the folds with this seed.")] = None,
) -> None:
    """Train on one CSV and score another (or k-fold cross-validate one): macro-F1, accuracy, per label."""
    from analysis.default_model import read_corpus
    from analysis.tokenizer import tokenize
    from analysis.training import SEED, cross_validate, evaluate, train_model

    if (test is None) == (folds < 2):
        raise _fail("give either --test CSV or --folds K (K >= 2)")
    families = label_col or ["label"]
    results: dict[str, dict[str, object]] = {}
    try:
        train_corpus = read_corpus(train, text_col=text_col, label_cols=families)
        if test is None:
            for family in families:
                results[family] = cross_validate(
                    train_corpus, family, folds, seed=SEED if seed is None else seed
                ).as_dict()
        else:
            test_corpus = read_corpus(test, text_col=text_col, label_cols=families)
            model = train_model(train_corpus)
            for family in families:
                # Timed with tokenisation: posts/s as a deployment would see them.
                results[family] = evaluate(model, test_corpus, family, tokenize=tokenize).as_dict()
    except ValueError as error:
        raise _fail(f"cannot evaluate: {error}") from error
    mode: dict[str, object] = (
        {"folds": folds, "seed": SEED if seed is None else seed} if test is None else {"test": str(test)}
    )
    payload: dict[str, object] = dict(results[families[0]]) | mode | {"train": str(train)}
    if len(families) > 1:
        payload["families"] = results
    if json_out:
        _print_json(payload)
        return
    for family, result in results.items():
        typer.echo(
            f"{family}: macro-F1 {result['macro_f1']}, accuracy {result['accuracy']}, n={result['n_test']}, "
            f"{result['posts_per_s']} posts/s"
        )

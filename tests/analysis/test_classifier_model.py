"""Training, persistence and evaluation of the linear model (small models, trained in the test)."""

import csv
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analysis.default_model import read_corpus
from analysis.model import LinearModel, ModelError
from analysis.training import Corpus, TrainingConfig, cross_validate, evaluate, train_model
from bot.cli import app

# Three topics, a few short posts each, written for this test.
ROWS = [
    ("电梯又坏了物业不管", "property"),
    ("物业费太贵服务太差", "property"),
    ("物业保安在岗亭睡觉", "property"),
    ("电梯按钮失灵好几天", "property"),
    ("物业经理电话打不通", "property"),
    ("楼上装修电钻太吵了", "noise"),
    ("广场舞音响吵到半夜", "noise"),
    ("酒吧音乐太吵睡不着", "noise"),
    ("工地晚上打桩很吵", "noise"),
    ("隔壁半夜唱歌吵死了", "noise"),
    ("垃圾桶满了没人清", "environment"),
    ("河道发黑发臭", "environment"),
    ("绿化带里全是垃圾", "environment"),
    ("垃圾房臭得不行", "environment"),
    ("油烟熏得没法开窗", "environment"),
]


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return read_corpus(_write_csv(tmp_path_factory.mktemp("c") / "train.csv", ROWS))


def test_training_is_deterministic(corpus: Corpus, tmp_path: Path) -> None:
    first, second = train_model(corpus), train_model(corpus)
    assert np.array_equal(first.weights, second.weights) and np.array_equal(first.bias, second.bias)
    assert first.heads == second.heads
    first.save(tmp_path / "a.mqm")
    second.save(tmp_path / "b.mqm")
    assert (tmp_path / "a.mqm").read_bytes() == (tmp_path / "b.mqm").read_bytes()


def test_saved_model_round_trips(corpus: Corpus, tmp_path: Path) -> None:
    model = train_model(corpus)
    model.save(tmp_path / "m.mqm")
    loaded = LinearModel.load(tmp_path / "m.mqm")
    text, tokens = "楼下装修太吵", ["楼下", "装修", "太吵"]
    assert loaded.predict(text, tokens)["label"] == model.predict(text, tokens)["label"]
    assert loaded.predict(text, tokens)["label"].label == "noise"


def _rewrite(source: Path, target: Path, replace: dict[str, bytes]) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, replace.get(name, old.read(name)))


def test_tampered_weights_are_refused(corpus: Corpus, tmp_path: Path) -> None:
    train_model(corpus).save(tmp_path / "m.mqm")
    with zipfile.ZipFile(tmp_path / "m.mqm") as archive:
        blob = bytearray(archive.read("weights.npy"))
    blob[-1] ^= 0xFF
    _rewrite(tmp_path / "m.mqm", tmp_path / "bad.mqm", {"weights.npy": bytes(blob)})
    with pytest.raises(ModelError, match="digest"):
        LinearModel.load(tmp_path / "bad.mqm")


def test_pickled_payload_is_refused_even_with_a_matching_digest(corpus: Corpus, tmp_path: Path) -> None:
    import hashlib
    import io

    train_model(corpus).save(tmp_path / "m.mqm")
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    evil = buffer.getvalue()
    with zipfile.ZipFile(tmp_path / "m.mqm") as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest["sha256"]["idf"] = hashlib.sha256(evil).hexdigest()
    _rewrite(
        tmp_path / "m.mqm",
        tmp_path / "evil.mqm",
        {"idf.npy": evil, "manifest.json": json.dumps(manifest).encode()},
    )
    with pytest.raises(ModelError, match="safely"):
        LinearModel.load(tmp_path / "evil.mqm")


def test_extra_member_and_garbage_files_are_refused(corpus: Corpus, tmp_path: Path) -> None:
    train_model(corpus).save(tmp_path / "m.mqm")
    with zipfile.ZipFile(tmp_path / "m.mqm", "a") as archive:
        archive.writestr("payload.pkl", b"cos\nsystem\n")
    with pytest.raises(ModelError, match="unexpected"):
        LinearModel.load(tmp_path / "m.mqm")
    (tmp_path / "junk.mqm").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable"):
        LinearModel.load(tmp_path / "junk.mqm")


def test_confidences_are_calibrated_probabilities(corpus: Corpus) -> None:
    model = train_model(corpus, TrainingConfig(calibration_folds=3))
    head = model.head("label")
    assert head is not None and head.temperature != 1.0  # fitted, not the default
    prediction = model.predict("垃圾没人清", ["垃圾", "没人", "清"])["label"]
    assert abs(sum(prediction.probabilities.values()) - 1.0) < 1e-6
    assert prediction.confidence == max(prediction.probabilities.values())


def test_cross_validation_scores_every_post_once(corpus: Corpus) -> None:
    result = cross_validate(corpus, "label", folds=3)
    assert result.n_test == len(ROWS)
    assert 0.0 <= result.macro_f1 <= 1.0 and set(result.per_label) == {"property", "noise", "environment"}


def test_evaluate_on_own_training_data_is_near_perfect(corpus: Corpus) -> None:
    result = evaluate(train_model(corpus), corpus, "label")
    assert result.accuracy >= 0.9 and result.posts_per_s > 0


def test_cli_train_then_classify_and_eval(tmp_path: Path) -> None:
    rows = [(t, label, "complaint", "normal") for t, label in ROWS]
    data = tmp_path / "train.csv"
    with data.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category", "intent", "urgency"])
        writer.writerows(rows)
    runner = CliRunner()
    out = tmp_path / "model.mqm"
    trained = runner.invoke(app, ["model", "train", "--data", str(data), "--label-col", "category", "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    assert LinearModel.load(out).families == ("category",)

    scored = runner.invoke(
        app,
        ["model", "eval", "--train", str(data), "--test", str(data), "--label-col", "category", "--json"],
    )
    assert scored.exit_code == 0, scored.output
    payload = json.loads(scored.stdout)
    assert {"macro_f1", "accuracy", "n_test", "per_label", "posts_per_s"} <= set(payload)
    assert payload["n_test"] == len(ROWS)

    folds = runner.invoke(app, ["model", "eval", "--train", str(data), "--folds", "3", "--label-col", "category"])
    assert folds.exit_code == 0 and "macro-F1" in folds.stdout


def test_cli_eval_names_a_missing_column(tmp_path: Path) -> None:
    data = _write_csv(tmp_path / "t.csv", ROWS)
    result = CliRunner().invoke(app, ["model", "eval", "--train", str(data), "--folds", "3", "--label-col", "nope"])
    assert result.exit_code == 2 and "nope" in result.output


def test_cli_classify_refuses_a_model_that_does_not_fit_the_taxonomy(corpus: Corpus, tmp_path: Path) -> None:
    train_model(corpus).save(tmp_path / "m.mqm")  # family "label" lacks intent and urgency
    result = CliRunner().invoke(app, ["classify", "--model", str(tmp_path / "m.mqm")], input="电梯坏了\n")
    assert result.exit_code == 2


# A few longer posts, so the lead block (first characters) differs from the whole text.
LONG_ROWS = [
    ("电梯坏了三天没人修。" + "我们反映了很多次，物业一直说在联系厂家，老人上下楼很困难。" * 3, "property"),
    ("楼上每天半夜装修电钻响。" + "孩子第二天要上学，整晚睡不好，希望社区管一管这个噪音问题。" * 3, "noise"),
    ("小区垃圾桶满了没人清运。" + "夏天味道很大，苍蝇蚊子很多，路过都要捂着鼻子走，太脏了。" * 3, "environment"),
]


def test_lead_block_is_trained_and_survives_saving(tmp_path: Path) -> None:
    corpus = read_corpus(_write_csv(tmp_path / "t.csv", ROWS + LONG_ROWS))
    model = train_model(corpus, TrainingConfig(lead_chars=12, calibration_folds=0))
    assert model.lead and model.lead_chars == 12
    model.save(tmp_path / "m.mqm")
    loaded = LinearModel.load(tmp_path / "m.mqm")
    text, tokens = LONG_ROWS[1][0], corpus.tokens[len(ROWS) + 1]
    assert loaded.lead == model.lead and loaded.lead_chars == 12
    assert np.allclose(loaded.scores(text, tokens), model.scores(text, tokens))


@pytest.mark.parametrize("learner", ["ridge", "svm"])
def test_both_learners_train_deterministically(corpus: Corpus, learner: str) -> None:
    config = TrainingConfig(learner=learner)
    first, second = train_model(corpus, config), train_model(corpus, config)
    assert np.array_equal(first.weights, second.weights) and first.heads == second.heads
    assert first.predict("楼下装修太吵", ["楼下", "装修", "太吵"])["label"].label == "noise"


def test_unknown_learner_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="learner"):
        TrainingConfig(learner="forest")


def test_token_memo_gives_the_same_features_as_the_text(tmp_path: Path) -> None:
    from analysis.features import FeatureIndex, feature_text
    from analysis.tokenizer import tokenize

    corpus = read_corpus(_write_csv(tmp_path / "t.csv", ROWS + LONG_ROWS))
    model = train_model(corpus, TrainingConfig(lead_chars=12, calibration_folds=0))
    index = FeatureIndex(model.words, model.chars, model.lead, model.idf.tolist(), 2, model.lead_chars)
    odd = ["３栋 ２单元 楼道灯坏了!!", "Hello 电梯 World", "电梯电梯电梯坏了坏了"]
    posts = [text for text, _ in ROWS + LONG_ROWS] + odd
    for text in posts:
        tokens = " ".join(tokenize(text)).split()
        memo = index._by_token(feature_text(text), tokens)
        assert memo is not None, text
        direct = index._direct(feature_text(text), tokens)
        # The same terms, repeats included, in every block (words, characters, lead).
        assert [sorted(block) for block in memo] == [sorted(block) for block in direct], text
        assert len(memo) == 3 and all(memo), text
    # Greek capital sigma lower-cases by context, so token by token differs from the whole text:
    # the memo notices and the text decides.
    greek = "ΣΑΣ 电梯"
    tokens = " ".join(tokenize(greek)).split()
    assert index._by_token(feature_text(greek), tokens) is None
    assert index.hits(greek, tokens) == index._direct(feature_text(greek), tokens)


def test_tokens_of_another_text_fall_back_to_the_text(corpus: Corpus) -> None:
    from analysis.features import feature_text

    model = train_model(corpus)
    index = model._features
    assert index._by_token(feature_text("垃圾没人清"), ["楼下", "装修"]) is None
    assert index._by_token(feature_text("垃圾 没人"), ["垃圾 没人"]) is None  # whitespace inside a token
    assert model.predict("垃圾没人清", [])["label"].evidence > 0  # characters still count without tokens


def test_huge_scores_still_give_probabilities(corpus: Corpus) -> None:
    model = train_model(corpus)
    huge = LinearModel(
        words=model.words,
        chars=model.chars,
        idf=model.idf,
        weights=model.weights * 1e4,
        bias=model.bias,
        heads=tuple(replace(h, temperature=0.01) for h in model.heads),
        max_ngram=model.max_ngram,
    )
    prediction = huge.predict("楼下装修太吵", ["楼下", "装修", "太吵"])["label"]
    assert prediction.label == "noise" and np.isfinite(prediction.confidence)
    assert abs(sum(prediction.probabilities.values()) - 1.0) < 1e-6


def test_model_file_of_the_previous_format_is_refused(corpus: Corpus, tmp_path: Path) -> None:
    train_model(corpus).save(tmp_path / "m.mqm")
    with zipfile.ZipFile(tmp_path / "m.mqm") as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest["format_version"] = 1
    _rewrite(tmp_path / "m.mqm", tmp_path / "old.mqm", {"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(ModelError, match="retrain"):
        LinearModel.load(tmp_path / "old.mqm")


def test_batched_numerators_match_one_post_at_a_time(corpus: Corpus) -> None:
    model = train_model(corpus)
    texts = ["垃圾没人清", "", "😀😀", "楼下装修太吵，半夜还在砸墙", *corpus.texts[:20]]
    tokens = [read_corpus(f"text,label\n{t},x\n").tokens[0] if t else [] for t in texts]
    batched, evidence = model.numerators_many(texts, tokens)
    assert evidence[1] == 0 and evidence[0] > 0  # an empty post has no features, yet still gets a row
    for text, words, row, known in zip(texts, tokens, batched, evidence, strict=True):
        single, single_known = model.numerators(text, words)
        assert known == single_known
        assert np.allclose(row, single, rtol=1e-12, atol=0.0)
    # Empty posts first, last and in a run between posts with features (the batch sums runs of rows).
    shuffled = ["", "", texts[0], "😀😀", "", texts[3], texts[4], ""]
    shuffled_tokens = [tokens[texts.index(t)] if t else [] for t in shuffled]
    rows, counts = model.numerators_many(shuffled, shuffled_tokens)
    for text, words, row, evidence_count in zip(shuffled, shuffled_tokens, rows, counts, strict=True):
        single, single_known = model.numerators(text, words)
        assert evidence_count == single_known
        assert np.allclose(row, single, rtol=1e-12, atol=0.0)
    empty, no_evidence = model.numerators_many([], [])
    assert empty.shape == (0, model.weights.shape[1]) and len(no_evidence) == 0

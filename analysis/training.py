"""Train, cross-validate and score ``LinearModel``s (scikit-learn is imported only here, lazily).

Training is deterministic: the vocabulary is sorted, folds are shuffled with a fixed seed and the
solver's seed is fixed, so the same data gives byte-identical weights.
"""

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis.features import FeatureIndex, char_ngrams, feature_text, feature_words
from analysis.model import Head, LinearModel

SEED = 20261124
_TEMPERATURES = tuple(float(t) for t in np.round(np.geomspace(0.05, 5.0, 60), 4))


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """Training settings; the defaults are what 5-fold cross-validation on real letters chose (README)."""

    #: "ridge" (RidgeClassifier, one-vs-rest least squares) or "svm" (LinearSVC).
    learner: str = "ridge"
    #: Character n-grams up to this size (1-2 scored best in cross-validation on real messages).
    max_ngram: int = 2
    #: LinearSVC regularisation; larger fits the training data harder.
    c: float = 1.0
    #: Ridge regularisation; smaller fits the training data harder.
    alpha: float = 1.0
    #: A term must occur in this many posts to become a feature.
    min_df: int = 1
    #: Character n-grams of this many leading characters form a block of their own (0: off).
    lead_chars: int = 60
    #: The character block's scale against the word and lead blocks (each is unit length before it).
    char_weight: float = 1.4

    def __post_init__(self) -> None:
        if self.learner not in {"ridge", "svm"}:
            raise ValueError(f"unknown learner {self.learner!r}; use 'ridge' or 'svm'")
        if self.char_weight <= 0 or self.c <= 0 or self.alpha <= 0 or not 1 <= self.max_ngram <= 5:
            raise ValueError("char_weight, c and alpha must be positive and max_ngram 1 to 5")

    #: Held-out folds used to fit each family's softmax temperature.
    calibration_folds: int = 3


@dataclass(frozen=True, slots=True)
class Corpus:
    """Posts with their jieba tokens and one label column per family."""

    texts: tuple[str, ...]
    tokens: tuple[list[str], ...]
    labels: dict[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.tokens) or any(len(v) != len(self.texts) for v in self.labels.values()):
            raise ValueError("texts, tokens and labels must have the same length")

    def only(self, family: str) -> "Corpus":
        return Corpus(texts=self.texts, tokens=self.tokens, labels={family: self.labels[family]})

    def subset(self, rows: Sequence[int]) -> "Corpus":
        return Corpus(
            texts=tuple(self.texts[i] for i in rows),
            tokens=tuple(self.tokens[i] for i in rows),
            labels={family: tuple(values[i] for i in rows) for family, values in self.labels.items()},
        )


@dataclass(frozen=True, slots=True)
class LabelScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    macro_f1: float
    accuracy: float
    n_test: int
    per_label: dict[str, LabelScore]
    posts_per_s: float
    #: Expected calibration error of the top-class confidence (10 bins); lower is better.
    ece: float

    def as_dict(self) -> dict[str, object]:
        return {
            "macro_f1": round(self.macro_f1, 4),
            "accuracy": round(self.accuracy, 4),
            "n_test": self.n_test,
            "per_label": {
                label: {"precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4)}
                | {"support": s.support}
                for label, s in sorted(self.per_label.items())
            },
            "posts_per_s": round(self.posts_per_s, 1),
            "ece": round(self.ece, 4),
        }


class _Vectoriser:
    """Vocabulary and IDF fitted on training posts; turns posts into sparse TF-IDF rows."""

    def __init__(self, corpus: Corpus, config: TrainingConfig) -> None:
        word_df: Counter[str] = Counter()
        char_df: Counter[str] = Counter()
        lead_df: Counter[str] = Counter()
        for text, tokens in zip(corpus.texts, corpus.tokens, strict=True):
            word_df.update(set(feature_words(tokens)))
            folded = feature_text(text)
            char_df.update(set(char_ngrams(folded, config.max_ngram)))
            if config.lead_chars > 0:
                lead_df.update(set(char_ngrams(folded[: config.lead_chars], config.max_ngram)))
        self.words = tuple(sorted(w for w, n in word_df.items() if n >= config.min_df))
        self.chars = tuple(sorted(c for c, n in char_df.items() if n >= config.min_df))
        self.lead = tuple(sorted(c for c, n in lead_df.items() if n >= config.min_df))
        n = len(corpus.texts)
        df = [word_df[w] for w in self.words] + [char_df[c] for c in self.chars] + [lead_df[c] for c in self.lead]
        self.idf = np.array([math.log((1 + n) / (1 + d)) + 1.0 for d in df], dtype=np.float32)
        self.max_ngram = config.max_ngram
        self.lead_chars = config.lead_chars if self.lead else 0
        # The float32 IDF, as a saved model holds it, so training sees exactly the runtime features.
        self.index = FeatureIndex(self.words, self.chars, self.lead, self.idf.tolist(), self.max_ngram, self.lead_chars)
        self.block_scale = np.ones(len(df), dtype=np.float64)
        self.block_scale[len(self.words) : len(self.words) + len(self.chars)] = config.char_weight

    @property
    def n_features(self) -> int:
        return len(self.words) + len(self.chars) + len(self.lead)

    def transform(self, corpus: Corpus) -> object:
        from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

        # The character block is scaled here, for the learner's regularisation; ``train_model`` folds
        # the same factor into the saved weights, so inference needs no scaling.
        scale = self.block_scale.tolist()
        idf = self.idf.tolist()
        indptr, indices, data = [0], [], []
        for text, tokens in zip(corpus.texts, corpus.tokens, strict=True):
            index, coefficients = self.index.vector(text, tokens)
            for i, coefficient in sorted(zip(index, coefficients, strict=True)):
                indices.append(i)
                data.append(coefficient * idf[i] * scale[i])
            indptr.append(len(indices))
        matrix: object = csr_matrix(
            (np.array(data, dtype=np.float64), np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int64)),
            shape=(len(corpus.texts), self.n_features),
        )
        return matrix


def _fit_linear(
    matrix: object, labels: Sequence[str], config: TrainingConfig
) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64]]:
    """One-vs-rest ridge or LinearSVC; returns classes, weights (n_features, n_classes) and bias."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"need at least two labels to train, got {classes}")
    learner: object
    if config.learner == "ridge":
        from sklearn.linear_model import RidgeClassifier  # type: ignore[import-untyped]

        # sparse_cg is what "auto" picks for sparse input with an intercept; named so it cannot drift.
        learner = RidgeClassifier(alpha=config.alpha, class_weight="balanced", solver="sparse_cg", random_state=SEED)
    else:
        from sklearn.svm import LinearSVC  # type: ignore[import-untyped]

        learner = LinearSVC(C=config.c, class_weight="balanced", random_state=SEED, max_iter=5000)
    learner.fit(matrix, np.array(labels))  # type: ignore[attr-defined]
    coef = np.asarray(learner.coef_, dtype=np.float64)  # type: ignore[attr-defined]
    intercept = np.asarray(learner.intercept_, dtype=np.float64)  # type: ignore[attr-defined]
    if len(classes) == 2:  # sklearn keeps one column for two classes; spread it as +-s/2 for the softmax
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return classes, coef.T, intercept


def _decision(matrix: object, weights: NDArray[np.float64], bias: NDArray[np.float64]) -> NDArray[np.float64]:
    scores: NDArray[np.float64] = np.asarray(matrix @ weights) + bias  # type: ignore[operator]
    return scores


def _fit_temperature(scores: NDArray[np.float64], gold: NDArray[np.intp]) -> float:
    """The softmax temperature that minimises held-out negative log-likelihood."""
    best, best_loss = 1.0, math.inf
    rows = np.arange(len(gold))
    for temperature in _TEMPERATURES:
        scaled = scores / temperature
        scaled -= scaled.max(axis=1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        loss = float(-log_probs[rows, gold].mean())
        if loss < best_loss - 1e-12:
            best, best_loss = temperature, loss
    return best


def _folds(labels: Sequence[str], n_folds: int, seed: int = SEED) -> list[tuple[list[int], list[int]]]:
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(train.tolist(), test.tolist()) for train, test in splitter.split(np.zeros(len(labels)), np.array(labels))]


def _temperature(matrix: object, labels: Sequence[str], config: TrainingConfig) -> float:
    """Fit the softmax temperature on out-of-fold scores.

    The folds share the full corpus's vocabulary and IDF (only the classifier is refitted): that leaks
    a little, but temperature is one number per family and this keeps training to a few seconds.
    """
    smallest = min(Counter(labels).values())
    n_folds = min(config.calibration_folds, smallest)
    if n_folds < 2:
        return 1.0
    classes = sorted(set(labels))
    all_scores: list[NDArray[np.float64]] = []
    all_gold: list[NDArray[np.intp]] = []
    for train_rows, test_rows in _folds(labels, n_folds):
        fold_classes, weights, bias = _fit_linear(_rows(matrix, train_rows), [labels[i] for i in train_rows], config)
        scores = _decision(_rows(matrix, test_rows), weights, bias)
        # A class missing from this fold's training part gets a very low score.
        full = np.full((len(test_rows), len(classes)), -10.0)
        for j, label in enumerate(fold_classes):
            full[:, classes.index(label)] = scores[:, j]
        all_scores.append(full)
        all_gold.append(np.array([classes.index(labels[i]) for i in test_rows], dtype=np.intp))
    return _fit_temperature(np.vstack(all_scores), np.concatenate(all_gold))


def _rows(matrix: object, rows: Sequence[int]) -> object:
    selected: object = matrix[np.array(rows, dtype=np.intp)]  # type: ignore[index]
    return selected


def train_model(
    corpus: Corpus, config: TrainingConfig | None = None, meta: Mapping[str, str] | None = None
) -> LinearModel:
    """Fit one head per label family over shared features, each with its calibrated temperature."""
    config = config or TrainingConfig()
    if not corpus.texts:
        raise ValueError("no training posts")
    vectoriser = _Vectoriser(corpus, config)
    matrix = vectoriser.transform(corpus)
    heads: list[Head] = []
    weight_blocks: list[NDArray[np.float64]] = []
    bias_blocks: list[NDArray[np.float64]] = []
    column = 0
    for family, all_labels in corpus.labels.items():
        # A post without a label in this family (say, a taxonomy keyword teaching only its category)
        # still shapes the vocabulary but not this family's head.
        rows = [i for i, label in enumerate(all_labels) if label]
        part = matrix if len(rows) == len(all_labels) else _rows(matrix, rows)
        labels = [all_labels[i] for i in rows]
        classes, weights, bias = _fit_linear(part, labels, config)
        temperature = _temperature(part, labels, config) if config.calibration_folds >= 2 else 1.0
        heads.append(Head(family=family, classes=tuple(classes), start=column, temperature=temperature))
        weight_blocks.append(weights)
        bias_blocks.append(bias)
        column += len(classes)
    return LinearModel(
        words=vectoriser.words,
        chars=vectoriser.chars,
        lead=vectoriser.lead,
        lead_chars=vectoriser.lead_chars,
        idf=vectoriser.idf,
        weights=(np.hstack(weight_blocks) * vectoriser.block_scale[:, np.newaxis]).astype(np.float32),
        bias=np.concatenate(bias_blocks).astype(np.float32),
        heads=tuple(heads),
        max_ngram=config.max_ngram,
        meta={"n_train": str(len(corpus.texts)), **(meta or {})},
    )


def score(gold: Sequence[str], predicted: Sequence[str], confidences: Sequence[float], seconds: float) -> Evaluation:
    """Macro-F1, accuracy, per-label precision/recall/F1 and calibration error."""
    labels = sorted(set(gold) | set(predicted))
    per_label: dict[str, LabelScore] = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
        predicted_n = sum(1 for p in predicted if p == label)
        support = sum(1 for g in gold if g == label)
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = LabelScore(precision, recall, f1, support)
    gold_labels = [label for label in labels if per_label[label].support]
    macro = sum(per_label[label].f1 for label in gold_labels) / len(gold_labels) if gold_labels else 0.0
    correct = [g == p for g, p in zip(gold, predicted, strict=True)]
    accuracy = sum(correct) / len(gold) if gold else 0.0
    return Evaluation(
        macro_f1=macro,
        accuracy=accuracy,
        n_test=len(gold),
        per_label=per_label,
        posts_per_s=len(gold) / seconds if seconds > 0 else 0.0,
        ece=_ece(confidences, correct),
    )


def _ece(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    total = len(confidences)
    if not total:
        return 0.0
    error = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if low < c <= high or (b == 0 and c == 0.0)]
        if members:
            mean_conf = sum(confidences[i] for i in members) / len(members)
            hit_rate = sum(1 for i in members if correct[i]) / len(members)
            error += len(members) / total * abs(mean_conf - hit_rate)
    return error


def evaluate(
    model: LinearModel, corpus: Corpus, family: str, tokenize: Callable[[str], list[str]] | None = None
) -> Evaluation:
    """Score ``model``'s ``family`` head on ``corpus``; with ``tokenize`` the timing includes jieba."""
    gold = corpus.labels[family]
    predicted: list[str] = []
    confidences: list[float] = []
    started = time.perf_counter()
    for text, tokens in zip(corpus.texts, corpus.tokens, strict=True):
        words = tokenize(text) if tokenize is not None else tokens
        prediction = model.predict(text, words)[family]
        predicted.append(prediction.label)
        confidences.append(prediction.confidence)
    return score(gold, predicted, confidences, time.perf_counter() - started)


def cross_validate(
    corpus: Corpus, family: str, folds: int = 5, config: TrainingConfig | None = None, seed: int = SEED
) -> Evaluation:
    """Stratified k-fold: every post is scored once, by a model that never saw it.

    ``seed`` shuffles the folds; another seed shows how much of a difference is the split's luck.
    """
    labels = corpus.labels[family]
    gold: list[str] = []
    predicted: list[str] = []
    confidences: list[float] = []
    seconds = 0.0
    for train_rows, test_rows in _folds(labels, folds, seed):
        model = train_model(corpus.subset(train_rows).only(family), config)
        held = corpus.subset(test_rows)
        started = time.perf_counter()
        for text, tokens in zip(held.texts, held.tokens, strict=True):
            prediction = model.predict(text, tokens)[family]
            predicted.append(prediction.label)
            confidences.append(prediction.confidence)
        seconds += time.perf_counter() - started
        gold.extend(held.labels[family])
    return score(gold, predicted, confidences, seconds)

"""The shipped default model: trained from the team's seed corpus at first use, then cached.

The cache file's name carries a digest of the corpus, the features and the training settings, so a
new corpus or code version builds a fresh model instead of loading a stale one. Building takes a few
seconds (mostly importing scikit-learn); loading the cached file takes milliseconds.
"""

import csv
import hashlib
import io
import json
import logging
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from analysis.classifier import KeywordClassifier, TextClassifier, TrainedClassifier, stance_prior
from analysis.features import FEATURE_VERSION
from analysis.model import FORMAT_VERSION, LinearModel, ModelError
from analysis.taxonomy import Taxonomy, load_taxonomy
from analysis.tokenizer import cache_dir, tokenize
from analysis.training import Corpus, TrainingConfig, train_model

log = logging.getLogger(__name__)

#: The label families of the shipped model, in the seed corpus's column names (a street's history,
#: ``minqing cases export``, carries these).
FAMILIES = ("category", "intent", "urgency")
#: The seed corpus also labels the resident's stance, for the polarity head.
SEED_FAMILIES = (*FAMILIES, "polarity")
# Seed posts are a line or two: a lead block would only repeat their character block. The learner and
# block weights stay those the seed corpus was tuned with (real letters chose ridge; see README).
DEFAULT_CONFIG = TrainingConfig(learner="svm", lead_chars=0, char_weight=1.0)
_lock = threading.Lock()


def seed_corpus_text() -> str:
    return resources.files("analysis").joinpath("data/seed_corpus.csv").read_text(encoding="utf-8")


def seed_vocabulary() -> list[tuple[str, str]]:
    """The packaged (word, category) pairs; lines starting with # are comments."""
    text = resources.files("analysis").joinpath("data/seed_vocabulary.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return [(row["word"].strip(), row["category"].strip()) for row in rows if row["word"].strip()]


def read_corpus(
    source: Path | str, *, text_col: str = "text", label_cols: Sequence[str] = ("label",), drop_empty: bool = True
) -> Corpus:
    """A labelled CSV (a path, or CSV text) as a ``Corpus``, tokenised with the shared jieba."""
    raw = source.read_text(encoding="utf-8-sig") if isinstance(source, Path) else source
    reader = csv.DictReader(io.StringIO(raw))
    fields = reader.fieldnames or []
    missing = [c for c in (text_col, *label_cols) if c not in fields]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}; the file has {', '.join(fields)}")
    texts: list[str] = []
    labels: dict[str, list[str]] = {c: [] for c in label_cols}
    for row in reader:
        text = (row.get(text_col) or "").strip()
        values = [(row.get(c) or "").strip() for c in label_cols]
        if drop_empty and (not text or not all(values)):
            continue
        texts.append(text)
        for column, value in zip(label_cols, values, strict=True):
            labels[column].append(value)
    return Corpus(
        texts=tuple(texts),
        tokens=tuple(tokenize(t) for t in texts),
        labels={c: tuple(v) for c, v in labels.items()},
    )


def _digest() -> str:
    taxonomy = resources.files("analysis").joinpath("data/taxonomy.toml").read_bytes()
    vocabulary = resources.files("analysis").joinpath("data/seed_vocabulary.csv").read_bytes()
    recipe = f"{FEATURE_VERSION}|{FORMAT_VERSION}|{DEFAULT_CONFIG!r}|{SEED_FAMILIES}|stance-v1|".encode()
    recipe += seed_corpus_text().encode()
    recipe += vocabulary + taxonomy
    return hashlib.sha256(recipe).hexdigest()[:16]


def default_model_path() -> Path:
    return cache_dir() / "models" / f"default-{_digest()}.mqm"


def _with_vocabulary(corpus: Corpus, taxonomy: Taxonomy, vocabulary: Sequence[tuple[str, str]]) -> Corpus:
    """The corpus plus each category keyword of the taxonomy and each seed-vocabulary word as a
    one-word post of its category.

    The seed posts cannot mention every word residents and offices use; the word lists can, so the
    model learns them as category evidence (they carry no intent or urgency label). Words of a
    category the taxonomy does not have are left out.
    """
    texts, tokens = list(corpus.texts), list(corpus.tokens)
    labels = {family: list(values) for family, values in corpus.labels.items()}
    codes = {category.code for category in taxonomy.categories}
    words = [(word, category.code) for category in taxonomy.categories for word in category.keywords]
    words += [(word, code) for word, code in vocabulary if code in codes]
    for word, code in words:
        texts.append(word)
        tokens.append([word])
        for family in labels:
            labels[family].append(code if family == "category" else "")
    return Corpus(texts=tuple(texts), tokens=tuple(tokens), labels={f: tuple(v) for f, v in labels.items()})


def build_default_model(extra: Corpus | None = None, meta: dict[str, str] | None = None) -> LinearModel:
    """Train the default model from the packaged seed corpus, vocabulary and taxonomy keywords (deterministic).

    ``extra`` adds a deployment's own labelled posts (``minqing cases export``) to the seed posts, so
    a street office's model learns its residents' words and its officers' corrections.
    """
    seed = read_corpus(seed_corpus_text(), label_cols=SEED_FAMILIES)
    # P(polarity | intent) from our own labels: how the classifier lets intent inform polarity.
    prior = stance_prior(seed.labels["intent"], seed.labels["polarity"])
    if extra is not None:
        blank = ("",) * len(extra.texts)  # a street's history has no polarity labels
        seed = Corpus(
            texts=seed.texts + extra.texts,
            tokens=seed.tokens + extra.tokens,
            labels={family: seed.labels[family] + extra.labels.get(family, blank) for family in SEED_FAMILIES},
        )
    corpus = _with_vocabulary(seed, load_taxonomy(), seed_vocabulary())
    info = meta or {"source": "seed_corpus.csv", "digest": _digest()}
    return train_model(corpus, DEFAULT_CONFIG, meta={**info, "stance_prior": json.dumps(prior, sort_keys=True)})


def load_default_model() -> LinearModel:
    """The cached default model, built and cached first if needed."""
    path = default_model_path()
    with _lock:
        if path.exists():
            try:
                return LinearModel.load(path)
            except ModelError as error:
                log.warning("cached default model unusable, rebuilding: %s", error)
        model = build_default_model()
        try:
            model.save(path)
        except OSError as error:  # a read-only cache only costs a rebuild next time
            log.warning("could not cache the default model at %s: %s", path, error)
        return model


def load_classifier(taxonomy: Taxonomy, model_path: Path | None = None) -> TextClassifier:
    """The trained classifier for ``taxonomy``: the admin's model file, else the shipped default.

    A model file the admin named must load and fit the taxonomy (a clear error otherwise). The
    default falls back to the keyword classifier, with a warning, when it cannot be built or when a
    deployment's own taxonomy uses other codes than the seed corpus.
    """
    if model_path is not None:
        classifier = TrainedClassifier(LinearModel.load(model_path), taxonomy)
        if not classifier.covers_taxonomy:
            raise ModelError(f"{model_path}: its labels do not match the taxonomy's categories/intents/urgencies")
        return classifier
    try:
        classifier = TrainedClassifier(load_default_model(), taxonomy)
    except (ImportError, OSError, ValueError) as error:
        log.warning("default model unavailable, using keyword rules only: %s", error)
        return KeywordClassifier(taxonomy)
    if not classifier.covers_taxonomy:
        log.warning("the taxonomy's codes differ from the seed corpus; using keyword rules only")
        return KeywordClassifier(taxonomy)
    return classifier

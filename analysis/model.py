"""A trained linear text model: inference and safe persistence, without scikit-learn at run time.

Every label family (category, intent, urgency, or a deployment's own ``label``) is a block of columns
in one weight matrix over the shared features, so a post costs one feature pass and one small matrix
product. Scores become probabilities through a softmax with a per-family temperature fitted on
held-out folds (temperature scaling), which is what makes the confidences calibrated.

The file format is a zip of ``manifest.json`` and plain ``.npy`` arrays, read with
``allow_pickle=False``: loading can never run code. The manifest records each array's SHA-256 and
the loader checks names, dtypes, shapes and digests, so a tampered or truncated file is refused.
(skops would be the other safe choice, but importing it pulls in all of scikit-learn: 3.6 s here,
beyond the start-up budget.)
"""

import hashlib
import io
import itertools
import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from analysis.features import FEATURE_VERSION, FeatureIndex

FORMAT = "minqing-linear-model"
FORMAT_VERSION = 2
_ARRAYS = ("words", "chars", "lead", "idf", "weights", "bias")
_MAX_MEMBER_BYTES = 512 * 1024 * 1024


class ModelError(ValueError):
    """A model file is missing, unreadable, tampered with or does not fit this code."""


@dataclass(frozen=True, slots=True)
class Head:
    """One label family: its classes and where their columns start in the weight matrix."""

    family: str
    classes: tuple[str, ...]
    start: int
    temperature: float = 1.0

    @property
    def stop(self) -> int:
        return self.start + len(self.classes)


@dataclass(frozen=True, slots=True)
class Prediction:
    """One family's label with its probability; the full distribution is built only when asked for."""

    label: str
    confidence: float
    classes: tuple[str, ...]
    #: Unnormalised class weights (exp of the scaled scores) in ``classes`` order, and their sum.
    weights: tuple[float, ...] | list[float]
    total: float
    #: How many known features the post had; 0 means the model only saw its bias (empty, emoji, foreign).
    evidence: int = 0

    @property
    def probabilities(self) -> dict[str, float]:
        total = self.total
        return {label: weight / total for label, weight in zip(self.classes, self.weights, strict=True)}

    def probability(self, label: str) -> float:
        """The probability of ``label`` (0 for a label this family does not have)."""
        try:
            return self.weights[self.classes.index(label)] / self.total
        except ValueError:
            return 0.0


@dataclass(slots=True)
class LinearModel:
    """Vocabulary, IDF and stacked linear heads; ``predict`` labels one post for every family."""

    words: tuple[str, ...]
    chars: tuple[str, ...]
    idf: NDArray[np.float32]
    weights: NDArray[np.float32]  # (n_features, n_outputs)
    bias: NDArray[np.float32]  # (n_outputs,)
    heads: tuple[Head, ...]
    max_ngram: int
    #: Character n-grams of the first ``lead_chars`` characters, a block of their own (may be empty).
    lead: tuple[str, ...] = ()
    lead_chars: int = 0
    meta: dict[str, str] = field(default_factory=dict)
    _features: FeatureIndex = field(init=False, repr=False)
    #: Weights with each row times its IDF and each column over its family's temperature, plus the
    #: bias (so scaled) as one more row: a post's scaled scores are one gather and one product.
    _scaled: NDArray[np.float64] = field(init=False, repr=False)
    _bias_row: int = field(init=False, repr=False)
    _inverse_temperature: NDArray[np.float64] = field(init=False, repr=False)
    _may_overflow: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._features = FeatureIndex(
            self.words, self.chars, self.lead, self.idf.tolist(), self.max_ngram, self.lead_chars
        )
        self._inverse_temperature = np.concatenate(
            [np.full(len(h.classes), 1.0 / h.temperature, dtype=np.float64) for h in self.heads]
        )
        self._scaled = np.vstack([self.weights * self.idf[:, np.newaxis], self.bias[np.newaxis, :]]).astype(np.float64)
        self._scaled *= self._inverse_temperature
        self._bias_row = len(self.weights)
        # Each block of a post's features has unit length, so no score can exceed the sum of the
        # blocks' column norms plus the bias (Cauchy-Schwarz). Clip only if that bound allows overflow.
        edges = np.cumsum([0, len(self.words), len(self.chars), len(self.lead)])
        bound = np.abs(self.bias).astype(np.float64)
        for start, stop in itertools.pairwise(edges.tolist()):
            bound += np.linalg.norm(self.weights[start:stop].astype(np.float64), axis=0)
        self._may_overflow = bool(np.max(bound * self._inverse_temperature, initial=0.0) >= 700.0)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(head.family for head in self.heads)

    def head(self, family: str) -> Head | None:
        for head in self.heads:
            if head.family == family:
                return head
        return None

    def scores(self, text: str, tokens: list[str]) -> NDArray[np.float32]:
        """Raw linear scores for every output column."""
        scaled, _ = self._scaled_scores(text, tokens)
        return (scaled / self._inverse_temperature).astype(np.float32)

    def _scaled_scores(self, text: str, tokens: list[str]) -> tuple[NDArray[np.float64], int]:
        """Temperature-scaled scores and the number of known features."""
        index, coefficients = self._features.vector(text, tokens)
        # Sum the few dozen active rows of the dense weight matrix and the bias row: one gather and
        # one small product (no sparse matrices: building one costs more than this whole product).
        evidence = len(index)
        index.append(self._bias_row)
        coefficients.append(1.0)
        scaled: NDArray[np.float64] = np.asarray(coefficients) @ self._scaled[index]
        return scaled, evidence

    def numerators(self, text: str, tokens: list[str]) -> tuple[list[float], int]:
        """Every family's softmax numerators, side by side as the heads lay them out, and the evidence.

        A family's probabilities are its slice of the list over the slice's sum; ``predict`` does
        that for every family, a caller that needs only a few numbers can do less.
        """
        scaled, evidence = self._scaled_scores(text, tokens)
        return self._exp(scaled).tolist(), evidence

    def numerators_many(
        self, texts: Sequence[str], tokens: Sequence[list[str]]
    ) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        """``numerators`` for many posts, as arrays (posts x outputs; evidence): one gather, product and exp."""
        post, feature, coefficient = self._features.vectors(texts, tokens)
        evidence = np.bincount(post, minlength=len(texts))
        scaled = np.repeat(self._scaled[self._bias_row][np.newaxis, :], len(texts), axis=0)
        if len(feature):
            rows = self._scaled[feature]
            rows *= coefficient[:, np.newaxis]
            # Rows are ordered by post; the posts with features each own one run of them.
            has_features = evidence > 0
            starts = np.searchsorted(post, np.flatnonzero(has_features))
            scaled[has_features] += np.add.reduceat(rows, starts, axis=0)
        return self._exp(scaled), evidence

    def _exp(self, scaled: NDArray[np.float64]) -> NDArray[np.float64]:
        # In float64, exp is finite and non-zero below 700 (see ``_may_overflow``).
        if self._may_overflow:
            np.clip(scaled, -700.0, 700.0, out=scaled)
        return np.exp(scaled)

    def predict(self, text: str, tokens: list[str]) -> dict[str, Prediction]:
        weights, evidence = self.numerators(text, tokens)
        result: dict[str, Prediction] = {}
        for head in self.heads:
            family = weights[head.start : head.stop]
            top = max(family)
            total = sum(family)
            result[head.family] = Prediction(
                head.classes[family.index(top)], top / total, head.classes, family, total, evidence
            )
        return result

    def save(self, path: Path) -> None:
        """Write atomically: a reader never sees half a file, two writers never mix theirs."""
        arrays: dict[str, NDArray[np.generic]] = {
            "words": np.array(self.words, dtype=np.str_),
            "chars": np.array(self.chars, dtype=np.str_),
            "lead": np.array(self.lead, dtype=np.str_),
            "idf": self.idf,
            "weights": self.weights,
            "bias": self.bias,
        }
        blobs = {name: _npy_bytes(array) for name, array in arrays.items()}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "feature_version": FEATURE_VERSION,
            "max_ngram": self.max_ngram,
            "lead_chars": self.lead_chars,
            "heads": [
                {"family": h.family, "classes": list(h.classes), "start": h.start, "temperature": h.temperature}
                for h in self.heads
            ],
            "sha256": {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()},
            "meta": self.meta,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
                for name, blob in blobs.items():
                    archive.writestr(f"{name}.npy", blob)
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> "LinearModel":
        """Read a model file, refusing anything that is not exactly what ``save`` writes."""
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                expected = {"manifest.json", *(f"{name}.npy" for name in _ARRAYS)}
                if names != expected:
                    raise ModelError(f"{path}: unexpected contents {sorted(names ^ expected)}")
                for info in archive.infolist():
                    if info.file_size > _MAX_MEMBER_BYTES:
                        raise ModelError(f"{path}: {info.filename} is implausibly large")
                manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
                blobs = {name: archive.read(f"{name}.npy") for name in _ARRAYS}
        except (OSError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError, KeyError) as exc:
            raise ModelError(f"{path}: not a readable model file ({exc.__class__.__name__}: {exc})") from exc
        return _from_parts(path, manifest, blobs)


def _from_parts(path: Path, manifest: object, blobs: dict[str, bytes]) -> LinearModel:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{path}: not a {FORMAT} file")
    if manifest.get("format_version") != FORMAT_VERSION or manifest.get("feature_version") != FEATURE_VERSION:
        raise ModelError(f"{path}: made for another version of the features; retrain it")
    digests = manifest.get("sha256")
    if not isinstance(digests, dict):
        raise ModelError(f"{path}: manifest has no digests")
    for name, blob in blobs.items():
        if digests.get(name) != hashlib.sha256(blob).hexdigest():
            raise ModelError(f"{path}: {name} does not match its digest; the file was altered")
    try:
        arrays = {name: np.load(io.BytesIO(blob), allow_pickle=False) for name, blob in blobs.items()}
    except ValueError as exc:  # object arrays need pickle, which is refused
        raise ModelError(f"{path}: array could not be read safely: {exc}") from exc
    words, chars, lead = arrays["words"], arrays["chars"], arrays["lead"]
    idf, weights, bias = arrays["idf"], arrays["weights"], arrays["bias"]
    if any(vocabulary.dtype.kind != "U" or vocabulary.ndim != 1 for vocabulary in (words, chars, lead)):
        raise ModelError(f"{path}: vocabulary arrays have the wrong type")
    n_features = len(words) + len(chars) + len(lead)
    if idf.dtype != np.float32 or weights.dtype != np.float32 or bias.dtype != np.float32:
        raise ModelError(f"{path}: weights must be float32")
    if idf.shape != (n_features,) or weights.ndim != 2 or weights.shape[0] != n_features:
        raise ModelError(f"{path}: array shapes do not agree")
    heads = _heads(path, manifest.get("heads"), weights.shape[1])
    if bias.shape != (weights.shape[1],):
        raise ModelError(f"{path}: bias does not match the weights")
    max_ngram = manifest.get("max_ngram")
    if not isinstance(max_ngram, int) or not 1 <= max_ngram <= 5:
        raise ModelError(f"{path}: bad max_ngram")
    lead_chars = manifest.get("lead_chars")
    if not isinstance(lead_chars, int) or not 0 <= lead_chars <= 10_000:
        raise ModelError(f"{path}: bad lead_chars")
    raw_meta = manifest.get("meta", {})
    meta = {str(k): str(v) for k, v in raw_meta.items()} if isinstance(raw_meta, dict) else {}
    return LinearModel(
        words=tuple(str(w) for w in words.tolist()),
        chars=tuple(str(c) for c in chars.tolist()),
        idf=idf,
        weights=weights,
        bias=bias,
        heads=heads,
        max_ngram=max_ngram,
        lead=tuple(str(g) for g in lead.tolist()),
        lead_chars=lead_chars,
        meta=meta,
    )


def _heads(path: Path, raw: object, n_outputs: int) -> tuple[Head, ...]:
    if not isinstance(raw, list) or not raw:
        raise ModelError(f"{path}: manifest lists no label families")
    heads: list[Head] = []
    column = 0
    for item in raw:
        if not isinstance(item, dict):
            raise ModelError(f"{path}: bad label family entry")
        family, classes = item.get("family"), item.get("classes")
        start, temperature = item.get("start"), item.get("temperature")
        if (
            not isinstance(family, str)
            or not isinstance(classes, list)
            or not all(isinstance(c, str) for c in classes)
            or len(classes) < 2
            or start != column
            or not isinstance(temperature, int | float)
            or not temperature > 0
        ):
            raise ModelError(f"{path}: bad label family entry {family!r}")
        heads.append(Head(family=family, classes=tuple(classes), start=column, temperature=float(temperature)))
        column += len(classes)
    if column != n_outputs:
        raise ModelError(f"{path}: label families do not cover the weight matrix")
    return tuple(heads)


def _npy_bytes(array: NDArray[np.generic]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()

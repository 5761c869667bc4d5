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
import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from analysis.features import FEATURE_VERSION, count_terms

FORMAT = "minqing-linear-model"
FORMAT_VERSION = 1
_ARRAYS = ("words", "chars", "idf", "weights", "bias")
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
    label: str
    confidence: float
    probabilities: dict[str, float]
    #: How many known features the post had; 0 means the model only saw its bias (empty, emoji, foreign).
    evidence: int = 0


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
    meta: dict[str, str] = field(default_factory=dict)
    _word_index: dict[str, int] = field(init=False, repr=False)
    _char_index: dict[str, int] = field(init=False, repr=False)
    _idf_list: list[float] = field(init=False, repr=False)
    _inverse_temperature: NDArray[np.float32] = field(init=False, repr=False)
    _starts: NDArray[np.intp] = field(init=False, repr=False)
    _sizes: NDArray[np.intp] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._word_index = {word: i for i, word in enumerate(self.words)}
        offset = len(self.words)
        self._char_index = {gram: offset + i for i, gram in enumerate(self.chars)}
        self._idf_list = self.idf.tolist()
        self._inverse_temperature = np.concatenate(
            [np.full(len(h.classes), 1.0 / h.temperature, dtype=np.float32) for h in self.heads]
        )
        self._starts = np.array([h.start for h in self.heads], dtype=np.intp)
        self._sizes = np.array([len(h.classes) for h in self.heads], dtype=np.intp)

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
        return self._scores(text, tokens)[0]

    def _scores(self, text: str, tokens: list[str]) -> tuple[NDArray[np.float32], int]:
        word_counts, char_counts = count_terms(text, tokens, self._word_index, self._char_index, self.max_ngram)
        index: list[int] = []
        values: list[float] = []
        idf = self._idf_list
        # Plain Python for the few dozen weights of a short post: numpy's per-call cost would dominate.
        for counts in (word_counts, char_counts):
            block = [(1.0 + math.log(count)) * idf[i] if count > 1 else idf[i] for i, count in counts.items()]
            norm = math.sqrt(sum(v * v for v in block)) or 1.0
            index.extend(counts)
            values.extend(v / norm for v in block)
        if not index:
            return self.bias, 0
        total: NDArray[np.float32] = np.asarray(values, dtype=np.float32) @ self.weights[index] + self.bias
        return total, len(index)

    def predict(self, text: str, tokens: list[str]) -> dict[str, Prediction]:
        # One softmax over all families at once: exp of the temperature-scaled scores (clipped so
        # exp cannot overflow), normalised by each family's own sum.
        scores, evidence = self._scores(text, tokens)
        scaled = np.clip(scores * self._inverse_temperature, -300.0, 300.0)
        exp = np.exp(scaled.astype(np.float64))
        probs: list[float] = (exp / np.repeat(np.add.reduceat(exp, self._starts), self._sizes)).tolist()
        result: dict[str, Prediction] = {}
        for head in self.heads:
            family = probs[head.start : head.stop]
            best = family.index(max(family))
            result[head.family] = Prediction(
                label=head.classes[best],
                confidence=family[best],
                probabilities=dict(zip(head.classes, family, strict=True)),
                evidence=evidence,
            )
        return result

    def save(self, path: Path) -> None:
        """Write atomically: a reader never sees half a file, two writers never mix theirs."""
        arrays: dict[str, NDArray[np.generic]] = {
            "words": np.array(self.words, dtype=np.str_),
            "chars": np.array(self.chars, dtype=np.str_),
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
    words, chars = arrays["words"], arrays["chars"]
    idf, weights, bias = arrays["idf"], arrays["weights"], arrays["bias"]
    if words.dtype.kind != "U" or chars.dtype.kind != "U" or words.ndim != 1 or chars.ndim != 1:
        raise ModelError(f"{path}: vocabulary arrays have the wrong type")
    n_features = len(words) + len(chars)
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

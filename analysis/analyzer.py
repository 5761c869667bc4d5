"""One call that turns a post into every label the rest of the system needs."""

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from analysis.address import Address, extract_address
from analysis.classifier import KeywordClassifier, TextClassifier
from analysis.sentiment import analyse_sentiment
from analysis.taxonomy import Taxonomy, load_taxonomy
from analysis.tokenizer import get_tokenizer

#: Posts longer than this are analysed on their head only; the full text is still stored.
MAX_ANALYSED_CHARS = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@cache
def _keyword_stop_words() -> frozenset[str]:
    text = resources.files("analysis").joinpath("data/stopwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@dataclass(frozen=True, slots=True)
class Analysis:
    text: str
    category: str
    intent: str
    urgency: str
    polarity: str
    intensity: float
    confidence: float
    matter_confidence: float
    keywords: tuple[str, ...]
    emotions: tuple[str, ...]
    address: Address | None

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "category": self.category,
            "intent": self.intent,
            "urgency": self.urgency,
            "polarity": self.polarity,
            "intensity": self.intensity,
            "confidence": self.confidence,
            "keywords": list(self.keywords),
            "emotions": list(self.emotions),
            "address": self.address.label() if self.address else None,
        }


def strip_controls(text: str) -> str:
    """Text without control characters, trimmed; punctuation and width untouched (for display)."""
    return _CONTROL.sub(" ", text).strip()


def clean_text(text: str) -> str:
    """NFKC-normalised text without control characters, trimmed (for analysis)."""
    return strip_controls(unicodedata.normalize("NFKC", text))


@cache
def _idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table (the one jieba.analyse uses), read directly: its loader leaks the file."""
    text = resources.files("jieba").joinpath("analyse/idf.txt").read_text(encoding="utf-8")
    table: dict[str, float] = {}
    for line in text.splitlines():
        word, _, value = line.rpartition(" ")
        if word:
            table[word] = float(value)
    values = sorted(table.values())
    return table, values[len(values) // 2]


_HAN = re.compile(r"[\u4e00-\u9fff]")


@lru_cache(maxsize=65536)
def _keyword_weight(token: str) -> float:
    """A token's IDF weight as a keyword, 0 when it cannot be one (cached: tokens recur constantly)."""
    if len(token) < 2 or token in _keyword_stop_words() or token.isdigit() or not _HAN.search(token):
        return 0.0
    idf, median = _idf()
    return idf.get(token, median)


def extract_keywords(tokens: list[str], limit: int = 5) -> tuple[str, ...]:
    """TF-IDF keywords of one post from jieba's IDF table, without domain stop words."""
    weights: dict[str, float] = {}
    for token in tokens:
        weight = _keyword_weight(token)
        if weight:
            weights[token] = weights.get(token, 0.0) + weight
    ranked = sorted(weights, key=lambda t: (-weights[t], t))
    return tuple(ranked[:limit])


class Analyzer:
    """Tokenise once, then classify, score sentiment, extract keywords and address."""

    def __init__(self, classifier: TextClassifier | None = None, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy or load_taxonomy()
        self.classifier = classifier or KeywordClassifier(self.taxonomy)
        self._tokenizer = get_tokenizer()

    @classmethod
    def default(cls, taxonomy_path: Path | None = None) -> "Analyzer":
        return cls(taxonomy=load_taxonomy(taxonomy_path))

    def analyze(self, text: str) -> Analysis:
        cleaned = clean_text(text)[:MAX_ANALYSED_CHARS]
        tokens = [t for t in self._tokenizer.lcut(cleaned) if t.strip()]
        labels = self.classifier.classify(cleaned, tokens)
        sentiment = analyse_sentiment(cleaned, tokens)
        return Analysis(
            text=cleaned,
            category=labels.category,
            intent=labels.intent,
            urgency=labels.urgency,
            polarity=sentiment.polarity,
            intensity=sentiment.intensity,
            confidence=labels.category_confidence,
            matter_confidence=labels.matter_confidence,
            keywords=extract_keywords(tokens),
            emotions=sentiment.emotions,
            address=extract_address(cleaned),
        )

"""One call that turns a post into every label the rest of the system needs."""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from analysis.address import Address, extract_address
from analysis.classifier import KeywordClassifier, Labels, TextClassifier
from analysis.sentiment import Sentiment, analyse_sentiment
from analysis.taxonomy import Taxonomy, load_taxonomy
from analysis.tokenizer import get_tokenizer

#: Posts longer than this are analysed on their head only; the full text is still stored.
MAX_ANALYSED_CHARS = 2000
#: Posts per stage in ``Analyzer.analyze_many``: enough to keep each stage's tables hot, little memory.
BATCH_SIZE = 256
#: Category confidence (calibrated) below which an officer is asked to confirm the category: the
#: smallest threshold at which the posts that do not ask were right 97 % of the time on the ``dev``
#: slice of real titles (``python -m bench.eval_sure_or_ask``).
CONFIRM_BELOW = 0.8
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
    #: The likeliest categories with their probabilities, best first (at most three).
    alternatives: tuple[tuple[str, float], ...] = ()
    #: The category is not sure enough to stand: an officer confirms it (待确认).
    needs_confirmation: bool = False

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
            "alternatives": [{"category": code, "p": p} for code, p in self.alternatives],
            "needs_confirmation": self.needs_confirmation,
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
#: jieba part-of-speech tags of words that never name a topic: numerals, pronouns, adverbs, adjectives,
#: time and direction words, conjunctions, prepositions, particles, interjections, onomatopoeia ...
_FUNCTION_TAGS = frozenset(
    [
        "m",
        "mq",
        "mg",
        "zg",
        "z",
        "a",
        "ad",
        "ag",
        "b",
        "d",
        "df",
        "dg",
        "t",
        "tg",
        "f",
        "r",
        "rr",
        "rg",
        "rz",
        "c",
        "p",
        "q",
        "u",
        "ud",
        "ug",
        "uj",
        "ul",
        "uv",
        "uz",
        "y",
        "e",
        "o",
        "k",
        "h",
        "x",
        "g",
    ]
)


@cache
def _function_words() -> frozenset[str]:
    """Words jieba's dictionary tags as function words (about 35,000; read once, with the IDF table)."""
    words = set()
    # Streamed line by line: the whole 350,000-line file as a list would add ~30 MB to peak memory.
    with resources.files("jieba").joinpath("dict.txt").open(encoding="utf-8") as lines:
        for line in lines:
            word, _, rest = line.rstrip("\n").partition(" ")
            if rest.rpartition(" ")[2] in _FUNCTION_TAGS:
                words.add(word)
    return frozenset(words)


def _keyword_weight(token: str) -> float:
    """A token's IDF weight as a keyword, 0 when it cannot be one.

    Content words only: not a domain stop word, not a word jieba tags as a function word, and, if
    jieba's dictionary does not know it (a word its HMM pass glued together, like 有个 or 人管), at
    least three characters long (a place or an organisation's name).
    """
    if len(token) < 2 or token in _keyword_stop_words() or token.isdigit() or not _HAN.search(token):
        return 0.0
    if token in _function_words() or (len(token) < 3 and not get_tokenizer().FREQ.get(token)):
        return 0.0
    idf, median = _idf()
    return idf.get(token, median)


# Tokens recur constantly: remember each one's weight. A plain dict read through map() costs far less
# per post than an LRU cache; it starts over past the bound rather than evicting one by one.
_keyword_weights: dict[str, float] = {}
_KEYWORD_MEMO_SIZE = 100_000


def extract_keywords(tokens: list[str], limit: int = 5) -> tuple[str, ...]:
    """TF-IDF keywords of one post from jieba's IDF table, without domain stop words."""
    memo = _keyword_weights
    weights: dict[str, float] = {}
    for token, known in zip(tokens, map(memo.get, tokens), strict=True):
        weight = known
        if weight is None:
            if len(memo) > _KEYWORD_MEMO_SIZE:
                memo.clear()
            weight = memo[token] = _keyword_weight(token)
        if weight:
            weights[token] = weights.get(token, 0.0) + weight
    if not weights:
        return ()
    # By weight, heaviest first, ties alphabetical (the sort is stable, also in reverse).
    ranked = sorted(sorted(weights), key=weights.__getitem__, reverse=True)
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

    def warm_up(self) -> None:
        """Load what the first post would otherwise load (lexicons, IDF table, model tables: ~0.3 s)."""
        self.analyze("3幢2单元301楼道灯坏了，第二次反映了！！")

    def analyze(self, text: str) -> Analysis:
        cleaned = clean_text(text)[:MAX_ANALYSED_CHARS]
        # jieba yields whitespace only as tokens of its own, so a join and split drops exactly those.
        tokens = " ".join(self._tokenizer.lcut(cleaned)).split()
        labels = self.classifier.classify(cleaned, tokens)
        return _analysis(
            cleaned,
            labels,
            analyse_sentiment(cleaned, tokens, _stance(labels)),
            extract_keywords(tokens),
            extract_address(cleaned),
            self.taxonomy.default_category,
        )

    def analyze_many(self, texts: Iterable[str]) -> list[Analysis]:
        """``analyze`` for many posts, stage by stage over chunks of them (same labels, faster).

        Each stage (jieba, the model, the lexicons, ...) keeps its tables hot in the CPU cache while
        it works through a chunk, rather than all of them evicting each other post by post.
        """
        results: list[Analysis] = []
        chunk: list[str] = []
        for text in texts:
            chunk.append(clean_text(text)[:MAX_ANALYSED_CHARS])
            if len(chunk) == BATCH_SIZE:
                results += self._analyze_cleaned(chunk)
                chunk = []
        if chunk:
            results += self._analyze_cleaned(chunk)
        return results

    def _analyze_cleaned(self, cleaned: list[str]) -> list[Analysis]:
        lcut = self._tokenizer.lcut
        # jieba yields whitespace only as tokens of its own, so a join and split drops exactly those.
        tokens = [" ".join(lcut(text)).split() for text in cleaned]
        labels = self.classifier.classify_many(cleaned, tokens)
        sentiments = [
            analyse_sentiment(text, words, _stance(label))
            for text, words, label in zip(cleaned, tokens, labels, strict=True)
        ]
        keywords = [extract_keywords(words) for words in tokens]
        addresses = [extract_address(text) for text in cleaned]
        default = self.taxonomy.default_category
        return [
            _analysis(*parts, default) for parts in zip(cleaned, labels, sentiments, keywords, addresses, strict=True)
        ]


#: The stance an intent implies when no model judged polarity (the keyword classifier).
_INTENT_STANCE = {"complaint": "negative", "help": "negative", "praise": "positive"}


def _stance(labels: Labels) -> str:
    return labels.polarity or _INTENT_STANCE.get(labels.intent, "")


def needs_confirmation(labels: Labels, default_category: str) -> bool:
    """Sure-or-ask: the category stands alone only when calibrated-confident and not the catch-all."""
    return labels.category == default_category or labels.category_confidence < CONFIRM_BELOW


def _analysis(
    text: str,
    labels: Labels,
    sentiment: Sentiment,
    keywords: tuple[str, ...],
    address: Address | None,
    default_category: str,
) -> Analysis:
    return Analysis(
        text=text,
        category=labels.category,
        intent=labels.intent,
        urgency=labels.urgency,
        polarity=sentiment.polarity,
        intensity=sentiment.intensity,
        confidence=labels.category_confidence,
        matter_confidence=labels.matter_confidence,
        keywords=keywords,
        emotions=sentiment.emotions,
        address=address,
        alternatives=labels.alternatives or ((labels.category, labels.category_confidence),),
        needs_confirmation=needs_confirmation(labels, default_category),
    )

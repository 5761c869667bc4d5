"""Category / intent / urgency labelling behind one small interface.

``KeywordClassifier`` is the first model: the taxonomy's keywords matched in one regex pass,
weighted by length (longer cues are more specific). A trained model implements the same
``TextClassifier`` protocol and replaces it without touching callers (``TrainedClassifier``).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from analysis.model import Head, LinearModel
from analysis.taxonomy import Taxonomy

#: The model's probability of the most urgent level above which we call it that level anyway:
#: a missed fire costs far more than an officer checking a false alarm.
CRITICAL_FLOOR = 0.25

#: A family's best label, its probability, and the probability of one label to watch.
_Top = tuple[str, float, float]

_QUESTION = re.compile(r"[?？]|请问|吗[。！!,，\s]*$|怎么|如何|什么时候|啥时候|能不能|可不可以|是否|哪里|哪儿")


@dataclass(frozen=True, slots=True)
class Labels:
    category: str
    category_confidence: float
    intent: str
    intent_confidence: float
    urgency: str
    #: How sure we are that the text is a matter for the community rather than chatter (triage).
    matter_confidence: float
    urgency_confidence: float = 0.0
    #: The keyword that forced the urgency up, when a safety rule overrode the model.
    urgency_rule: str = ""


class TextClassifier(Protocol):
    def classify(self, text: str, tokens: list[str]) -> Labels: ...

    def classify_many(self, texts: Sequence[str], tokens: Sequence[list[str]]) -> list[Labels]:
        """``classify`` for many posts (same results; a model may batch the work)."""
        ...


def _pattern(words: set[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    ordered = sorted(words, key=lambda w: (-len(w), w))  # longest first: the regex takes the first alternative
    return re.compile("|".join(re.escape(w) for w in ordered))


class KeywordClassifier:
    """Score each label by the taxonomy keywords found in the text."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._owners: dict[str, list[tuple[str, str]]] = {}  # keyword -> [(family, code)]
        for category in taxonomy.categories:
            for word in category.keywords:
                self._owners.setdefault(word, []).append(("category", category.code))
        for intent in taxonomy.intents:
            for word in intent.keywords:
                self._owners.setdefault(word, []).append(("intent", intent.code))
        for urgency in taxonomy.urgencies:
            for word in urgency.keywords:
                self._owners.setdefault(word, []).append(("urgency", urgency.code))
        self._regex = _pattern(set(self._owners))
        self._rank = taxonomy.urgency_rank

    def _hits(self, text: str) -> dict[str, dict[str, float]]:
        scores: dict[str, dict[str, float]] = {"category": {}, "intent": {}, "urgency": {}}
        if self._regex is None:
            return scores
        for match in self._regex.finditer(text):
            word = match.group(0)
            for family, code in self._owners[word]:
                bucket = scores[family]
                bucket[code] = bucket.get(code, 0.0) + len(word)
        return scores

    def classify(self, text: str, tokens: list[str]) -> Labels:
        del tokens  # the keyword model reads the raw text; a trained model uses the tokens
        tax = self.taxonomy
        scores = self._hits(text.lower())
        category, category_confidence = _best(scores["category"], tax.default_category)
        intent_scores = scores["intent"]
        if _QUESTION.search(text):
            intent_scores["question"] = intent_scores.get("question", 0.0) + 2.0
        known_intents = {i.code for i in tax.intents}
        intent_scores = {k: v for k, v in intent_scores.items() if k in known_intents}
        default_intent = tax.default_intent if scores["category"] else _chatter_or(tax.default_intent, known_intents)
        intent, intent_confidence = _best(intent_scores, default_intent)
        if intent == "chatter" and category_confidence > 0.5 and scores["category"].get(category, 0) >= 4:
            intent = tax.default_intent  # a real matter mentioned in passing is still a matter
        urgency = self._urgency(scores["urgency"], intent)
        matter = 0.0 if intent == "chatter" else min(1.0, 0.35 + 0.1 * sum(scores["category"].values()))
        if urgency in self._critical_codes():
            matter = 1.0
        return Labels(category, category_confidence, intent, intent_confidence, urgency, round(matter, 3))

    def classify_many(self, texts: Sequence[str], tokens: Sequence[list[str]]) -> list[Labels]:
        return [self.classify(text, words) for text, words in zip(texts, tokens, strict=True)]

    def _critical_codes(self) -> tuple[str, ...]:
        return (self.taxonomy.urgencies[0].code,) if self.taxonomy.urgencies else ()

    def _urgency(self, hits: dict[str, float], intent: str) -> str:
        tax = self.taxonomy
        if hits:
            # The most urgent cue wins: missing a fire costs more than a false alarm.
            return min(hits, key=lambda code: self._rank.get(code, len(self._rank)))
        if intent in {"question", "suggestion", "praise", "chatter"} and "low" in self._rank:
            return "low"
        return tax.default_urgency


def _chatter_or(default: str, known: set[str]) -> str:
    return "chatter" if "chatter" in known else default


def _best(scores: dict[str, float], default: str) -> tuple[str, float]:
    if not scores:
        return default, 0.0
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    top, top_score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = top_score / (top_score + runner_up + 2.0)
    return top, round(min(1.0, confidence + 0.3), 3)


class UrgencyRules:
    """The taxonomy's urgency keywords: each forces at least its own level, whatever a model says."""

    def __init__(self, taxonomy: Taxonomy, levels: int = 2) -> None:
        # Only the top levels (critical, high) force anything; "投诉" must not make a post "normal".
        self._owner: dict[str, str] = {}
        for urgency in taxonomy.urgencies[:levels]:
            for word in urgency.keywords:
                self._owner.setdefault(word.lower(), urgency.code)
        self._regex = _pattern(set(self._owner))
        self._rank = taxonomy.urgency_rank

    def floor(self, text: str) -> tuple[str, str] | None:
        """The most urgent level a keyword in ``text`` demands, with that keyword."""
        if self._regex is None:
            return None
        best: tuple[str, str] | None = None
        for match in self._regex.finditer(text.lower()):
            word = match.group(0)
            code = self._owner[word]
            if best is None or self._rank[code] < self._rank[best[0]]:
                best = (code, word)
        return best


class TrainedClassifier:
    """A trained ``LinearModel`` for the families it has, keyword rules for safety and the rest."""

    def __init__(self, model: LinearModel, taxonomy: Taxonomy) -> None:
        self.model = model
        self.taxonomy = taxonomy
        self._keywords = KeywordClassifier(taxonomy)
        self._rules = UrgencyRules(taxonomy)
        self._rank = taxonomy.urgency_rank
        self._most_urgent = taxonomy.urgencies[0].code if taxonomy.urgencies else ""
        categories = {c.code for c in taxonomy.categories}
        self._category_family = next(
            (f for f in ("category", "label") if (h := model.head(f)) and set(h.classes) <= categories), None
        )
        intent_head = model.head("intent")
        self._has_intent = intent_head is not None and set(intent_head.classes) <= {i.code for i in taxonomy.intents}
        urgency_head = model.head("urgency")
        self._has_urgency = urgency_head is not None and set(urgency_head.classes) <= set(self._rank)
        self._category_head = model.head(self._category_family) if self._category_family else None
        self._intent_head = intent_head if self._has_intent else None
        self._urgency_head = urgency_head if self._has_urgency else None

    @property
    def covers_taxonomy(self) -> bool:
        """True when the model labels every family with this taxonomy's codes."""
        return self._category_family is not None and self._has_intent and self._has_urgency

    def classify(self, text: str, tokens: list[str]) -> Labels:
        weights, evidence = self.model.numerators(text, tokens)
        tops = [_top(weights, head, watch) if head else None for head, watch in self._watched_heads()]
        return self._labels(text, tokens, evidence, *tops)

    def classify_many(self, texts: Sequence[str], tokens: Sequence[list[str]]) -> list[Labels]:
        numerators, evidence = self.model.numerators_many(texts, tokens)
        # Each family's best label and probabilities for the whole batch at once, then per post.
        tops = [
            _top_many(numerators, head, watch) if head else [None] * len(texts) for head, watch in self._watched_heads()
        ]
        return list(map(self._labels, texts, tokens, evidence.tolist(), *tops))

    def _watched_heads(self) -> list[tuple[Head | None, str]]:
        """The category, intent and urgency heads, each with the label whose probability matters."""
        return [(self._category_head, ""), (self._intent_head, "chatter"), (self._urgency_head, self._most_urgent)]

    def _labels(
        self,
        text: str,
        tokens: list[str],
        evidence: int,
        category: _Top | None,
        intent: _Top | None,
        urgency: _Top | None,
    ) -> Labels:
        """The labels of one post from each family's top label and its count of known features."""
        if evidence == 0:
            # Nothing the model knows (empty, emoji-only, another language): its answer would be its bias.
            return self._keywords.classify(text, tokens)
        fallback: Labels | None = None
        if category is None or intent is None or urgency is None:
            fallback = self._keywords.classify(text, tokens)
        if category is not None:
            category_code, category_confidence, _ = category
        else:
            assert fallback is not None
            category_code, category_confidence = fallback.category, fallback.category_confidence
        if intent is not None:
            intent_code, intent_confidence, chatter = intent
            matter = 1.0 - chatter
        else:
            assert fallback is not None
            intent_code, intent_confidence, matter = (
                fallback.intent,
                fallback.intent_confidence,
                fallback.matter_confidence,
            )
        urgency_code, urgency_confidence, rule = self._urgency(text, urgency, fallback)
        if urgency_code == self._most_urgent:
            matter = 1.0
            if intent_code == "chatter":
                intent_code = "help"  # someone in danger is never small talk
        return Labels(
            category=category_code,
            category_confidence=round(category_confidence, 3),
            intent=intent_code,
            intent_confidence=round(intent_confidence, 3),
            urgency=urgency_code,
            matter_confidence=round(matter, 3),
            urgency_confidence=round(urgency_confidence, 3),
            urgency_rule=rule,
        )

    def _urgency(self, text: str, predicted: _Top | None, fallback: Labels | None) -> tuple[str, float, str]:
        if predicted is not None:
            code, confidence, top = predicted
            if code != self._most_urgent and top >= CRITICAL_FLOOR:
                code, confidence = self._most_urgent, top
        else:
            assert fallback is not None
            code, confidence = fallback.urgency, fallback.urgency_confidence
        forced = self._rules.floor(text)
        if forced is not None and self._rank[forced[0]] < self._rank[code]:
            return forced[0], confidence, forced[1]
        return code, confidence, ""


def _top(numerators: list[float], head: Head, watch: str) -> _Top:
    """A family's best label, its probability, and the probability of the label ``watch``."""
    family = numerators[head.start : head.stop]
    top = max(family)
    total = sum(family)
    watched = family[head.classes.index(watch)] / total if watch in head.classes else 0.0
    return head.classes[family.index(top)], top / total, watched


def _top_many(numerators: NDArray[np.float64], head: Head, watch: str) -> list[_Top]:
    """``_top`` for every row of a batch's numerators."""
    family = numerators[:, head.start : head.stop]
    total = family.sum(axis=1)
    best = family.argmax(axis=1)  # the first of equal maxima, as list.index in ``_top``
    confidence = family[np.arange(len(family)), best] / total
    watched = family[:, head.classes.index(watch)] / total if watch in head.classes else np.zeros(len(family))
    return list(zip(map(head.classes.__getitem__, best.tolist()), confidence.tolist(), watched.tolist(), strict=True))

"""Category / intent / urgency labelling behind one small interface.

``KeywordClassifier`` is the first model: the taxonomy's keywords matched in one regex pass,
weighted by length (longer cues are more specific). A trained model implements the same
``TextClassifier`` protocol and replaces it without touching callers.
"""

import re
from dataclasses import dataclass
from typing import Protocol

from analysis.taxonomy import Taxonomy

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


class TextClassifier(Protocol):
    def classify(self, text: str, tokens: list[str]) -> Labels: ...


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

"""Category / intent / urgency labelling behind one small interface.

``KeywordClassifier`` is the first model: the taxonomy's keywords matched in one regex pass,
weighted by length (longer cues are more specific). A trained model implements the same
``TextClassifier`` protocol and replaces it without touching callers (``TrainedClassifier``).
"""

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from analysis.model import Head, LinearModel
from analysis.patterns import compile_cues
from analysis.safety import assess, excused, figure_of_speech, named_only
from analysis.taxonomy import Taxonomy
from analysis.triage import chatter_signal

#: The model's probability of the most urgent level above which we call it that level anyway:
#: a missed fire costs far more than an officer checking a false alarm.
CRITICAL_FLOOR = 0.25

#: The model's probability of "critical" it needs to call a post critical on its own, when the
#: life-safety layer finds no danger it can name (below it the post is high).
MODEL_CRITICAL_ALONE = 0.6

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
    #: The resident's stance (negative / neutral / positive) and how sure the model is of it; empty
    #: when the classifier has no view (the lexicon decides then).
    polarity: str = ""
    polarity_confidence: float = 0.0
    #: The likeliest categories with their probabilities, best first (at most three).
    alternatives: tuple[tuple[str, float], ...] = ()


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
        self._layers = Layers(taxonomy)

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
        hits = scores["category"]
        total = sum(hits.values())
        ranked = sorted(hits, key=lambda code: (-hits[code], code))[:3]
        alternatives = tuple((code, round(hits[code] / total, 3)) for code in ranked) or ((category, 0.0),)
        labels = Labels(
            category,
            category_confidence,
            intent,
            intent_confidence,
            urgency,
            round(matter, 3),
            alternatives=alternatives,
        )
        return self._layers.apply(labels, text)

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


#: Polarity codes.
POLARITIES = ("negative", "neutral", "positive")
#: How much a word of dissatisfaction multiplies the odds of "negative": enough to turn a question or a
#: suggestion (prior odds about 1:7 and 1:14 on the seed corpus) but not praise (1:120).
DISSATISFACTION_RATIO = 500.0
_DISSATISFIED = compile_cues(
    r"太乱|太脏|太差|太吵|太臭|太黑|太贵|太慢|太难|太过分|很乱|很脏|很差|很吵|很臭|不方便|不安全|不合理|不满|不像话|"
    r"臭|吵死|脏乱|乱七八糟|坏了|坏掉|漏水|堵了|没人管|没人修|没人理|不作为|敷衍|推诿|踢皮球|还没|一直没|到现在|"
    r"又[坏停漏堵涨]|三天两头|凭什么|为什么还|怎么还|怎么又|到底|受不了|烦死|气死|难闻|扰民|拖欠|乱收费|"
    r"乱停|乱扔|乱堆|占用|被占|危险|隐患|白跑|打不通|没法|恶心|熏|难受|头疼|睡不着|吵得|闹心|糟糕|失望|寒心|不负责"
)


class Stance:
    """Polarity from the model's polarity head and its intent distribution, as a product of experts.

    The head reads the words; ``prior[intent]`` is P(polarity | intent) counted on the seed corpus
    (smoothed). Mixing the prior over the intent probabilities and multiplying it into the head's
    distribution makes intent a feature of polarity: a complaint stays negative however many 希望 and
    方便 it contains, praise is positive, a question is neutral unless its words voice dissatisfaction.
    """

    def __init__(self, polarity: Head, intent: Head, prior: dict[str, dict[str, float]]) -> None:
        self._polarity = polarity
        self._intent = intent
        uniform = dict.fromkeys(POLARITIES, 1.0 / len(POLARITIES))
        table = [[prior.get(i, uniform).get(code, 0.0) for code in polarity.classes] for i in intent.classes]
        self._prior = np.asarray(table, dtype=np.float64)
        self._prior_rows = table
        self._negative = polarity.classes.index("negative") if "negative" in polarity.classes else -1
        self._praise = intent.classes.index("praise") if "praise" in intent.classes else -1

    def one(self, numerators: list[float], text: str) -> tuple[str, float]:
        """``many`` for one post's numerators (a list, as ``LinearModel.numerators`` gives them)."""
        words = numerators[self._polarity.start : self._polarity.stop]
        intents = numerators[self._intent.start : self._intent.stop]
        total = sum(intents)
        share = [weight / total for weight in intents]
        joint = [
            math.sqrt(word) * sum(p * row[k] for p, row in zip(share, self._prior_rows, strict=True))
            for k, word in enumerate(words)
        ]
        praise = share[self._praise] if self._praise >= 0 else 0.0
        if self._negative >= 0 and praise < 0.5 and _DISSATISFIED.search(text) is not None:
            joint[self._negative] *= DISSATISFACTION_RATIO
        best = max(range(len(joint)), key=joint.__getitem__)
        return self._polarity.classes[best], joint[best] / sum(joint)

    def many(self, numerators: NDArray[np.float64], texts: Sequence[str]) -> list[tuple[str, float]]:
        """(polarity, probability) for every row of a batch's numerators."""
        words = numerators[:, self._polarity.start : self._polarity.stop]
        intents = numerators[:, self._intent.start : self._intent.stop]
        mixed = (intents / intents.sum(axis=1, keepdims=True)) @ self._prior
        # The seed corpus labels polarity mostly through intent, so the head largely repeats the intent
        # head: its square root keeps it from counting intent twice.
        joint = np.sqrt(words) * mixed
        if self._negative >= 0:
            # A third expert: words that voice dissatisfaction ("太乱了", "还没修") make a question or a
            # suggestion negative, as TAXONOMY.md reads it; a thank-you that recalls the problem stays praise.
            cues = np.fromiter((_DISSATISFIED.search(t) is not None for t in texts), dtype=np.float64, count=len(texts))
            if self._praise >= 0:
                cues *= intents[:, self._praise] / intents.sum(axis=1) < 0.5
            joint[:, self._negative] *= DISSATISFACTION_RATIO**cues
        joint /= joint.sum(axis=1, keepdims=True)
        best = joint.argmax(axis=1)
        confidence = joint[np.arange(len(joint)), best]
        classes = self._polarity.classes
        return list(zip(map(classes.__getitem__, best.tolist()), confidence.tolist(), strict=True))


def stance_prior(intents: Sequence[str], polarities: Sequence[str]) -> dict[str, dict[str, float]]:
    """P(polarity | intent) from labelled posts, add-one smoothed (what ``Stance`` multiplies in)."""
    counts: dict[str, dict[str, int]] = {}
    for intent, polarity in zip(intents, polarities, strict=True):
        if intent and polarity in POLARITIES:
            row = counts.setdefault(intent, dict.fromkeys(POLARITIES, 0))
            row[polarity] += 1
    return {
        intent: {code: (n + 1) / (sum(row.values()) + len(POLARITIES)) for code, n in row.items()}
        for intent, row in counts.items()
    }


class TrainedClassifier:
    """A trained ``LinearModel`` for the families it has, keyword rules for safety and the rest."""

    def __init__(self, model: LinearModel, taxonomy: Taxonomy) -> None:
        self.model = model
        self.taxonomy = taxonomy
        self._keywords = KeywordClassifier(taxonomy)
        self._layers = Layers(taxonomy)
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
        polarity_head = model.head("polarity")
        self._stance: Stance | None = None
        intent_known = self._intent_head
        if polarity_head is not None and intent_known is not None and set(polarity_head.classes) <= set(POLARITIES):
            prior = json.loads(model.meta.get("stance_prior", "{}"))
            self._stance = Stance(polarity_head, intent_known, prior if isinstance(prior, dict) else {})

    @property
    def covers_taxonomy(self) -> bool:
        """True when the model labels every family with this taxonomy's codes."""
        return self._category_family is not None and self._has_intent and self._has_urgency

    def classify(self, text: str, tokens: list[str]) -> Labels:
        # One post in plain Python: NumPy's per-call overhead would cost more than the arithmetic.
        weights, evidence = self.model.numerators(text, tokens)
        category, intent, urgency = (_top(weights, h, watch) if h else None for h, watch in self._watched_heads())
        stance = self._stance.one(weights, text) if self._stance else None
        head = self._category_head
        alternatives = _alternatives(weights, head) if head else ()
        return self._labels(text, tokens, evidence, category, intent, urgency, stance, alternatives)

    def classify_many(self, texts: Sequence[str], tokens: Sequence[list[str]]) -> list[Labels]:
        numerators, evidence = self.model.numerators_many(texts, tokens)
        # Each family's best label and probabilities for the whole batch at once, then per post.
        tops = [
            _top_many(numerators, head, watch) if head else [None] * len(texts) for head, watch in self._watched_heads()
        ]
        stances = self._stance.many(numerators, texts) if self._stance else [None] * len(texts)
        head = self._category_head
        alternatives = _alternatives_many(numerators, head) if head else [()] * len(texts)
        return list(map(self._labels, texts, tokens, evidence.tolist(), *tops, stances, alternatives))

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
        stance: tuple[str, float] | None = None,
        alternatives: tuple[tuple[str, float], ...] = (),
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
        polarity, polarity_confidence = stance if stance is not None else ("", 0.0)
        labels = Labels(
            category=category_code,
            category_confidence=round(category_confidence, 3),
            intent=intent_code,
            intent_confidence=round(intent_confidence, 3),
            urgency=urgency_code,
            matter_confidence=round(matter, 3),
            urgency_confidence=round(urgency_confidence, 3),
            urgency_rule=rule,
            polarity=polarity,
            polarity_confidence=round(polarity_confidence, 3),
            alternatives=alternatives,
        )
        return self._layers.apply(labels, text)

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


#: Intents that never carry a high urgency of their own (the life-safety layer may still raise them).
_CALM_INTENTS = frozenset({"praise", "question", "suggestion", "chatter"})


class Layers:
    """The life-safety and chatter layers over a model's labels (see ``analysis.safety``/``triage``).

    A present risk to life is critical and a matter, whatever the model said; a mention in the past,
    in thanks or in a drill is not urgent; praise is never high or critical; chatter the rules
    recognise is chatter, and a post asking for a fix is a matter.
    """

    def __init__(self, taxonomy: Taxonomy) -> None:
        self._intents = frozenset(i.code for i in taxonomy.intents)
        codes = [u.code for u in taxonomy.urgencies] or [taxonomy.default_urgency]
        self._most_urgent, self._least_urgent = codes[0], codes[-1]
        self._second = codes[min(1, len(codes) - 1)]  # "high" in the default taxonomy
        self._calm_floor = codes[min(2, len(codes) - 1)]  # "normal"
        self._urgent = frozenset(codes[:2])
        self._help = "help" if "help" in self._intents else ""
        self._chatter = "chatter" if "chatter" in self._intents else ""
        self._complaint = "complaint" if "complaint" in self._intents else ""

    def apply(self, labels: Labels, text: str) -> Labels:
        lowered = text.lower()
        finding = assess(lowered)
        intent, urgency, matter = labels.intent, labels.urgency, labels.matter_confidence
        rule, polarity = labels.urgency_rule, labels.polarity
        if finding.critical:
            urgency, rule, matter = self._most_urgent, finding.cue, 1.0
            if intent in _CALM_INTENTS and self._help:
                intent = self._help  # someone in danger is never small talk, nor a thank-you
            polarity = "negative" if polarity else polarity
        else:
            if urgency == self._most_urgent and not rule and labels.urgency_confidence < MODEL_CRITICAL_ALONE:
                urgency = self._second  # the model alone, unsure, with no danger the rules can name
            elif urgency == self._most_urgent and rule and (named_only(lowered, rule) or figure_of_speech(lowered)):
                urgency = self._second  # a keyword that only names a risk ("火灾隐患") is no fire
            if urgency in self._urgent and (finding.not_real or excused(lowered)):
                urgency, rule = (self._least_urgent if intent in _CALM_INTENTS else self._calm_floor), ""
            signal = chatter_signal(lowered)
            if signal is True and self._chatter:
                intent, matter, urgency, rule = self._chatter, min(matter, 0.1), self._least_urgent, ""
                if labels.intent != self._chatter:
                    polarity = ""  # the model read it as a matter; small talk's tone is the lexicons' to say
            elif signal is False:
                matter = max(matter, 0.9)
                if intent == self._chatter and self._complaint:
                    intent = self._complaint
            if intent == "praise" and urgency in self._urgent:
                urgency, rule = self._least_urgent, ""
        if urgency == self._most_urgent:
            matter = 1.0  # danger found by the model or the taxonomy's keywords is filed, never small talk
            if intent == self._chatter and self._help:
                intent = self._help
        if (intent, urgency, matter, rule, polarity) == (
            labels.intent,
            labels.urgency,
            labels.matter_confidence,
            labels.urgency_rule,
            labels.polarity,
        ):
            return labels
        return replace(
            labels,
            intent=intent,
            urgency=urgency,
            matter_confidence=round(matter, 3),
            urgency_rule=rule,
            polarity=polarity,
        )


def _top(numerators: list[float], head: Head, watch: str) -> _Top:
    """A family's best label, its probability, and the probability of the label ``watch``."""
    family = numerators[head.start : head.stop]
    top = max(family)
    total = sum(family)
    watched = family[head.classes.index(watch)] / total if watch in head.classes else 0.0
    return head.classes[family.index(top)], top / total, watched


def _alternatives(numerators: list[float], head: Head, n: int = 3) -> tuple[tuple[str, float], ...]:
    """``_alternatives_many`` for one post."""
    family = numerators[head.start : head.stop]
    total = sum(family)
    # Best first, ties in class order (as the stable argsort of the batch path).
    order = sorted(range(len(family)), key=lambda i: -family[i])[:n]
    return tuple((head.classes[i], round(family[i] / total, 3)) for i in order)


def _alternatives_many(numerators: NDArray[np.float64], head: Head, n: int = 3) -> list[tuple[tuple[str, float], ...]]:
    """The ``n`` likeliest labels of ``head`` with their probabilities, best first, for every row."""
    family = numerators[:, head.start : head.stop]
    probabilities = family / family.sum(axis=1, keepdims=True)
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :n]
    picked = np.round(np.take_along_axis(probabilities, order, axis=1), 3).tolist()
    classes = head.classes
    return [
        tuple((classes[i], p) for i, p in zip(row, values, strict=True))
        for row, values in zip(order.tolist(), picked, strict=True)
    ]


def _top_many(numerators: NDArray[np.float64], head: Head, watch: str) -> list[_Top]:
    """``_top`` for every row of a batch's numerators."""
    family = numerators[:, head.start : head.stop]
    total = family.sum(axis=1)
    best = family.argmax(axis=1)  # the first of equal maxima, as list.index in ``_top``
    confidence = family[np.arange(len(family)), best] / total
    watched = family[:, head.classes.index(watch)] / total if watch in head.classes else np.zeros(len(family))
    return list(zip(map(head.classes.__getitem__, best.tolist()), confidence.tolist(), watched.tolist(), strict=True))

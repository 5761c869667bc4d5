"""Bad input never crashes the analyzer; it returns valid labels."""

import pytest

from analysis.analyzer import Analyzer
from analysis.default_model import load_classifier
from analysis.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def trained() -> Analyzer:
    taxonomy = load_taxonomy()
    return Analyzer(classifier=load_classifier(taxonomy), taxonomy=taxonomy)


BAD_INPUTS = [
    "",
    "   \n\t  ",
    "楼" * 10_000,
    "电梯坏了，" * 2_000,
    "😡😡😡🔥🔥🙏",
    "The street lamp outside building 3 has been broken for a week.",
    "Привет, соседи!",
    "\x00\x01\x02电梯\x1b[31m坏了\x7f",
    "\ud800",  # a lone surrogate, as a broken client might send
    "３栋２单元５０１　楼道灯坏了",
    "!!!???。。。",
]


@pytest.mark.parametrize("text", BAD_INPUTS, ids=range(len(BAD_INPUTS)))
def test_bad_input_gets_valid_labels(trained: Analyzer, text: str) -> None:
    taxonomy = trained.taxonomy
    analysis = trained.analyze(text)
    assert analysis.category in {c.code for c in taxonomy.categories}
    assert analysis.intent in {i.code for i in taxonomy.intents}
    assert analysis.urgency in {u.code for u in taxonomy.urgencies}
    assert analysis.polarity in {"negative", "neutral", "positive"}
    assert 0.0 <= analysis.intensity <= 1.0 and 0.0 <= analysis.confidence <= 1.0
    assert "\x00" not in analysis.text and len(analysis.text) <= 2000


def test_empty_post_is_not_filed_by_triage(trained: Analyzer) -> None:
    assert trained.analyze("").matter_confidence < 0.6


def test_full_width_address_is_normalised(trained: Analyzer) -> None:
    address = trained.analyze("３栋２单元５０１　楼道灯坏了").address
    assert address is not None and address.label() == "3幢2单元501"


def test_many_posts_at_once_match_one_at_a_time(trained: Analyzer) -> None:
    posts = [*BAD_INPUTS, "3栋楼道里有人给电动车充电，太危险了", "谢谢网格员帮忙修好了路灯"] * 3
    assert trained.analyze_many(posts) == [trained.analyze(post) for post in posts]
    assert trained.analyze_many([]) == []

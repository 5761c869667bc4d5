"""The second round of the safety and chatter layers (issue 12, parts 2 and 3): the forms they now read.

Posts written for these tests, not taken from the seed corpus or any evaluation set.
"""

import re

import pytest

from analysis.analyzer import Analyzer
from analysis.default_model import load_classifier
from analysis.patterns import compile_any
from analysis.safety import _CRITICAL, assess, expand_shorthand
from analysis.taxonomy import load_taxonomy
from analysis.triage import bare_acknowledgement, chatter_signal


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    taxonomy = load_taxonomy()
    return Analyzer(classifier=load_classifier(taxonomy), taxonomy=taxonomy)


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        ("hz 快来人 4号楼", "fire"),  # pinyin initials
        ("火!!车棚那边", "fire"),  # a terse alarm
        ("天台上有个小伙子坐在边上不说话", "height"),  # place first, then the person
        ("我男朋友在打我，我锁在房间里了", "violence"),  # first person
        ("我家小孩在商场门口一转眼就不见了", "missing"),  # missing without the word
        ("有位大妈躺在路边，叫她没反应", "collapsed"),
        ("楼下那块店招被风吹得一直晃，底下就是公交站", "falling"),
        ("地库进水了，水都到膝盖了", "flood"),
        ("孩子误食了老鼠药，现在在吐", "collapsed"),
    ],
)
def test_colloquial_terse_and_indirect_dangers_are_caught(text: str, hazard: str) -> None:
    finding = assess(text.lower())
    assert finding.critical and finding.hazard == hazard


@pytest.mark.parametrize(
    "text",
    [
        "跳楼价甩卖，最后三天",  # a figure of speech
        "刚才楼道里的烟是物业在打药，不用担心",  # a false alarm resolved in the same post
        "楼道里堆满纸箱，是很大的火灾隐患",  # the hazard named as a risk
        "我家狗走丢了，黑色的，有人看到吗",  # a pet is lost-and-found
        "插座有点漏电，摸着发麻，找谁来修",  # played down
        "上礼拜那次煤气味，后来查出来是软管老化，当场就换了",  # over
    ],
)
def test_words_of_danger_that_are_no_danger_now(text: str) -> None:
    assert not assess(text.lower()).critical


def test_a_cry_for_an_everyday_trouble_is_not_an_emergency(analyzer: Analyzer) -> None:
    # "救命" is a taxonomy keyword for critical; here it is a figure for homework.
    assert analyzer.analyze("娃的作业又写到半夜，救命").urgency != "critical"


def test_shorthand_is_spelt_out_only_as_a_word() -> None:
    assert expand_shorthand("ld有人要tl") == "楼顶有人要跳楼"
    assert expand_shorthand("hold住") == "hold住"  # "ld" inside a word is no roof


@pytest.mark.parametrize("text", ["谢谢你啊李姐", "收到，感谢网格员🙏", "辛苦了[抱拳]", "sd", "[强][强]", "yyds"])
def test_a_bare_thanks_or_sticker_is_chatter(text: str) -> None:
    assert bare_acknowledgement(text.lower())
    assert chatter_signal(text.lower()) is True


@pytest.mark.parametrize(
    "text",
    [
        "我已经给物业打过电话了，他们说下午派人",
        "刚问了，说是晚上八点来电",
        "我一会下楼看看",
    ],
)
def test_a_matter_already_in_hand_is_chatter(text: str) -> None:
    assert chatter_signal(text.lower()) is True


@pytest.mark.parametrize(
    "text",
    [
        "同意楼上，停车费确实该降一降",  # a reply that adds a matter of its own
        "谢谢网格员，顺便说下2幢的路灯又不亮了",
        "我跟物业说过了，到现在还没人来",  # in hand, says the post, but it is not
        "早，今天还是没热水",
    ],
)
def test_a_reply_or_update_with_a_matter_in_it_is_a_matter(analyzer: Analyzer, text: str) -> None:
    assert chatter_signal(text.lower()) is not True
    assert analyzer.analyze(text).matter_confidence >= 0.6


def test_a_group_complaint_to_the_bot_is_filed_and_a_thanks_is_not(analyzer: Analyzer) -> None:
    # What the WeCom robot hands to triage after stripping "@民情通" (mentions_bot False).
    assert analyzer.analyze("1幢电梯又坏了，老人上下楼很困难").matter_confidence >= 0.6
    assert analyzer.analyze("谢谢").matter_confidence < 0.6


def test_the_grouped_hazard_search_finds_what_the_plain_alternation_finds() -> None:
    plain = re.compile("|".join(f"(?:{pattern})" for _, pattern in _CRITICAL))
    grouped = compile_any([pattern for _, pattern in _CRITICAL])
    texts = [
        "楼顶有人坐在边上",
        "煤气味很重",
        "今天天气不错",
        "站在空调外机上",
        "电梯里面有人",
        "火!",
        "井盖被掀了",
        "物业费又涨了",
        "[燃]气",
        "她倒在门口",
    ]
    assert [bool(plain.search(t)) for t in texts] == [bool(grouped.search(t)) for t in texts]
    assert sum(bool(grouped.search(t)) for t in texts) >= 6

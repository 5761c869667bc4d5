"""The layers over the model (issue 12): stance polarity, life safety, chatter triage, sure-or-ask.

Posts written for these tests, not taken from the seed corpus or any evaluation set.
"""

import pytest

from analysis.analyzer import Analyzer
from analysis.classifier import TrainedClassifier
from analysis.default_model import load_classifier
from analysis.safety import assess
from analysis.taxonomy import load_taxonomy
from analysis.triage import chatter_signal


@pytest.fixture(scope="module")
def trained() -> Analyzer:
    taxonomy = load_taxonomy()
    classifier = load_classifier(taxonomy)
    assert isinstance(classifier, TrainedClassifier)
    return Analyzer(classifier=classifier, taxonomy=taxonomy)


@pytest.mark.parametrize(
    "text",
    [
        "垃圾站那边臭气熏天，希望尽快处理一下",
        "隔壁这家人晚上特别吵",
        "楼道灯不亮，晚上出门很不方便也不安全，希望能修",
        "门禁坏了好久，外人随便进，希望物业安排一下，大家安全点",
    ],
)
def test_complaints_are_negative_whatever_hopeful_words_they_use(trained: Analyzer, text: str) -> None:
    assert trained.analyze(text).polarity == "negative"


def test_praise_is_positive_and_never_urgent(trained: Analyzer) -> None:
    analysis = trained.analyze("上回家里水管爆了，谢谢物业师傅半夜赶来抢修")
    assert analysis.polarity == "positive"
    assert analysis.urgency not in {"critical", "high"}


def test_plain_question_is_neutral(trained: Analyzer) -> None:
    assert trained.analyze("请问社区周六上午有人值班吗").polarity == "neutral"


def test_emotions_follow_the_stance(trained: Analyzer) -> None:
    analysis = trained.analyze("建议把垃圾站挪远点，现在臭得恶心，方便大家")
    assert analysis.polarity == "negative"
    assert not {"joy", "good"} & set(analysis.emotions)


@pytest.mark.parametrize(
    "text",
    [
        "有个男的坐在8号楼楼顶边上，看着情绪不对",
        "路口井盖没了，刚才有个小孩差点踩空掉进去",
        "学校门口那栋楼外墙瓷砖一块块往下掉",
        "家里一股煤汽味，灶台那边嘶嘶的",
        "楼下电线断了掉在地上还冒火花",
        "地下车库进水了，积水已经没过膝盖",
        "隔壁一直传来惨叫，男的在打老婆",
        "我妈出门买菜到现在还没回来，电话也打不通",
        "河边有个人掉水里了",
    ],
)
def test_present_danger_is_critical_and_a_matter(trained: Analyzer, text: str) -> None:
    analysis = trained.analyze(text)
    assert analysis.urgency == "critical"
    assert analysis.matter_confidence == 1.0
    assert analysis.intent != "chatter"


@pytest.mark.parametrize(
    "text",
    [
        "上次水管爆了谢谢师傅来得快",
        "消防演练几点开始",
        "如果家里着火了应该怎么逃生",
        "上个月楼道着火多亏保安及时扑灭了，给他们点赞",
        "现在没有煤气味了，谢谢燃气公司",
    ],
)
def test_past_thanked_or_hypothetical_danger_is_not_critical(trained: Analyzer, text: str) -> None:
    assert trained.analyze(text).urgency != "critical"


def test_a_danger_still_there_outweighs_thanks() -> None:
    finding = assess("谢谢上次来修，可是现在厨房又有煤气味了")
    assert finding.critical and finding.hazard == "gas"


def test_an_open_manhole_stays_an_emergency_after_a_hypothetical() -> None:
    assert assess("井盖没了，万一有人掉下去怎么办").critical


@pytest.mark.parametrize(
    "text",
    [
        "同意楼上",
        "好的收到",
        "👍👍👍",
        "大家早上好",
        "我明天过去看看",
        "谁的钥匙落在门卫了，快去拿",
        "今晚水果团购接龙，要的报名",
        "低价出售九成新婴儿车，有需要的私聊",
        "【温馨提示】明天上午九点至十二点停水，请各位提前储水",
    ],
)
def test_chatter_is_chatter(trained: Analyzer, text: str) -> None:
    analysis = trained.analyze(text)
    assert analysis.intent == "chatter"
    assert analysis.matter_confidence < 0.6


@pytest.mark.parametrize(
    "text",
    [
        "楼上那个灯又坏了，谁来修一下啊",
        "哈哈我家也停水了，什么时候恢复",
        "同意楼上，这个垃圾站必须管管了",
        "停水三天了，通知上说的时间早过了",
    ],
)
def test_a_casual_request_for_a_fix_is_a_matter(trained: Analyzer, text: str) -> None:
    analysis = trained.analyze(text)
    assert analysis.intent != "chatter"
    assert analysis.matter_confidence >= 0.6


def test_triage_defers_to_the_model_when_it_cannot_tell() -> None:
    assert chatter_signal("明天社区有什么活动") is None


def test_alternatives_are_three_best_first(trained: Analyzer) -> None:
    analysis = trained.analyze("流浪狗在小区里乱窜，差点咬到小孩")
    probabilities = [p for _, p in analysis.alternatives]
    assert len(analysis.alternatives) == 3
    assert probabilities == sorted(probabilities, reverse=True)
    best, p = analysis.alternatives[0]
    assert best == analysis.category
    assert p == pytest.approx(analysis.confidence, abs=0.001)
    row = analysis.as_dict()
    assert row["alternatives"] == [{"category": c, "p": p} for c, p in analysis.alternatives]
    assert isinstance(row["needs_confirmation"], bool)


def test_other_always_asks(trained: Analyzer) -> None:
    analysis = trained.analyze("想问一下个人所得税汇算在哪里办")
    assert (analysis.category == "other") <= analysis.needs_confirmation


def test_keywords_are_content_words() -> None:
    from analysis.analyzer import extract_keywords
    from analysis.tokenizer import tokenize

    text = "啥时候能修一下，哪里有个大坑，好多人摔了，我刚看到好大一个洞没人管，路灯也坏了"
    keywords = extract_keywords(tokenize(text), limit=10)
    assert not {"啥时候", "哪里", "好多", "有个", "我刚", "好大", "人管"} & set(keywords)
    assert {"大坑", "路灯"} <= set(keywords)

"""The shipped default model on posts written for these tests (not in the seed corpus)."""

import pytest

from analysis.analyzer import Analyzer
from analysis.classifier import TrainedClassifier
from analysis.default_model import load_classifier
from analysis.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def trained() -> Analyzer:
    taxonomy = load_taxonomy()
    classifier = load_classifier(taxonomy)
    assert isinstance(classifier, TrainedClassifier), "the default must be the trained model, not the fallback"
    return Analyzer(classifier=classifier, taxonomy=taxonomy)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("物业费收了也不派人打扫，楼梯扶手全是灰", "property"),
        ("小区垃圾桶三天没人倒了，臭气熏天", "environment"),
        ("楼上装修电钻从早钻到晚，吵得人头疼", "noise"),
        ("一楼住户在院子里私搭了个铁皮棚子", "city_order"),
        ("小区门口天天有人乱停车，把出口都堵住了", "traffic"),
        ("我们这条街的路灯坏了一个多月了，晚上黑乎乎的", "facilities"),
        ("有人把电动车推进楼道里充电，太危险了", "safety"),
        ("昨天晚上车棚里的电动车被人偷了", "public_security"),
        ("楼上卫生间漏水，把我家天花板都泡坏了", "neighbour"),
        ("公司拖欠了我们四个月工资，老板不见人", "social_security"),
        ("想给家里八十多岁的老人申请居家养老上门服务", "elderly_disabled"),
        ("社区医院打疫苗要排多久的队", "health"),
        ("孩子明年上小学，我们这片划到哪个学校", "education"),
        ("开发商说好的交房时间又推迟了半年", "housing"),
        ("菜市场的秤不准，买两斤肉少了好几两", "market"),
        ("补办身份证要带什么材料，在哪里办", "services"),
        ("谢谢社区网格员，上次的事情处理得很及时", "feedback"),
    ],
)
def test_default_model_routes_each_category(trained: Analyzer, text: str, category: str) -> None:
    assert trained.analyze(text).category == category


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("楼下烧烤摊每天半夜还在营业，油烟大得要命，到底有没有人管", "complaint"),
        ("请问社区服务中心周六上不上班", "question"),
        ("建议在小区里多装几个快递柜", "suggestion"),
        ("感谢物业的李师傅，下大雨还来帮我们疏通下水道", "praise"),
        ("早上好呀各位邻居，今天天气不错😊", "chatter"),
    ],
)
def test_default_model_reads_intent(trained: Analyzer, text: str, intent: str) -> None:
    assert trained.analyze(text).intent == intent


@pytest.mark.parametrize(
    "text",
    [
        "2单元五楼着火了，烟好大！！",
        "厨房里一股很浓的煤气味，我不敢开灯",
        "有人被关在电梯里半个小时了",
        "楼下两个人拿着刀在吵，快来人",
        "我爷爷早上出去散步到现在没回来，他有老年痴呆",
    ],
)
def test_critical_matters_are_never_missed(trained: Analyzer, text: str) -> None:
    analysis = trained.analyze(text)
    assert analysis.urgency == "critical"
    assert analysis.matter_confidence == 1.0  # triage files it even in a busy group
    assert analysis.intent != "chatter"


def test_ordinary_question_is_not_urgent(trained: Analyzer) -> None:
    analysis = trained.analyze("请问下个月社区有没有免费体检")
    assert analysis.urgency in {"low", "normal"}


def test_chatter_scores_low_for_triage_and_matters_high(trained: Analyzer) -> None:
    chatter = trained.analyze("哈哈哈今天的晚霞真好看，大家看到了吗")
    matter = trained.analyze("小区东门的井盖不见了，晚上有人差点掉进去")
    assert chatter.matter_confidence < 0.6 <= matter.matter_confidence


def test_confidences_are_probabilities(trained: Analyzer) -> None:
    analysis = trained.analyze("电梯又坏了，物业一直拖着不修")
    assert 0.0 < analysis.confidence <= 1.0
    assert 0.0 <= analysis.matter_confidence <= 1.0

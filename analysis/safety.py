"""The life-safety layer: danger to life caught by rules over the model, and the contexts that are not danger.

A missed fire costs far more than an officer checking a false alarm, so the layer raises a post to
``critical`` whenever it finds a present risk to life: a person at a height or in the water, collapsed,
trapped, missing or threatening self-harm; violence; fire, smoke, gas; live electricity; something
falling or about to fall; an open manhole; flooding. The patterns take the colloquial, misspelt and
indirect ways residents write these (煤汽味, 有人坐在楼顶边上, 井盖没了).

What is not an emergency, however alarming its words: a mention in the past that the post thanks
someone for or says is over ("上次水管爆了谢谢师傅"), a hypothetical or a drill ("如果着火了怎么逃生",
"消防演练几点"), and a plain denial ("没有煤气味了"). A post that also says the danger is still there
("现在还在冒烟") stays an emergency.
"""

import re
from dataclasses import dataclass

from analysis.patterns import compile_cues

_KIN = (
    r"(?:老人|老太太|老太|老头|老大爷|大爷|奶奶|爷爷|外婆|外公|姥姥|姥爷|爸|妈|父亲|母亲|小孩|孩子|小朋友|娃|"
    r"儿子|女儿|闺女|宝宝|学生|老伴|妻子|老婆|丈夫|老公)"
)
_BELONGING = r"(?:钥匙|钱包|手机|卡|书包|伞|快递|包裹|车|证|耳机|眼镜|水杯|衣服|外套|帽子|宠物|狗|猫|东西|作业|玩具)"
_HEIGHT = r"(?:楼顶|天台|顶楼|楼沿|楼边|屋顶|房顶|窗台|窗外|窗户外|阳台外|阳台边|护栏外|栏杆外|栏杆上|桥栏|楼顶边缘)"
_FALLING_THING = (
    r"(?:瓷砖|外墙砖|墙砖|外墙|墙皮|玻璃|窗户|窗框|窗扇|广告牌|招牌|牌匾|空调外机|外机|花盆|树枝|大树|树|"
    r"石块|石头|砖头|砖块|钢管|钢筋|铁皮|铁架|彩钢瓦|雨棚|遮阳棚|脚手架|吊篮|电线杆|线杆|灯杆|吊顶|防盗网|"
    r"晾衣架|冰溜子|冰锥|大块|东西|杂物)"
)
_FALLING = (
    r"(?:掉下来|掉了下来|往下掉|砸下来|落下来|坠落|掉落|摇摇欲坠|晃晃悠悠|悬在半空|吊在半空|挂在半空|悬空|"
    r"快掉|要掉|随时会掉|随时掉|快倒|要倒|倒下来|砸到|砸中|砸伤|砸了|砸在)"
)

#: (hazard, pattern) pairs; each pattern is a present risk to life when its context allows.
_CRITICAL: tuple[tuple[str, str], ...] = (
    (
        "height",
        # a posture on a height implies a person: no need to find who first
        rf"(?:坐|站|蹲|趴|爬|挂|翻|骑)(?:在|到|上|出)?.{{0,8}}{_HEIGHT}"
        rf"|{_HEIGHT}.{{0,8}}(?:坐着|站着|蹲着|趴着|挂着)"
        r"|要跳楼|想跳楼|跳楼|要跳下去|想跳下去|跳下去|要跳河|跳河|跳江|跳湖",
    ),
    (
        "self_harm",
        r"寻死|想不开|不想活|活不下去|轻生|自杀|自残|割腕|喝农药|吞药自杀|烧炭|上吊|寻短见|了结自己|结束生命",
    ),
    (
        "water",
        r"落水|掉水里|掉进水|掉河里|掉进河|掉湖里|掉进湖|掉池塘|掉进池|掉塘里|溺水|在水里扑腾|沉下去|被水冲走|"
        r"冲走了|掉进水沟|掉进河沟",
    ),
    (
        "collapsed",
        r"晕倒|昏倒|晕过去|昏过去|昏迷|倒地(?:不起|了|上|昏迷|抽搐|不动)|倒在地|倒在路|倒在楼|躺在地上不动|不省人事|叫不醒|喊不醒|没反应了|"
        r"没有反应|没气了|没呼吸|不喘气|心脏骤停|抽搐|口吐白沫|抽过去|摔倒.{0,6}(?:起不来|爬不起来|不动|流血)|"
        r"流了很多血|满脸是血|大出血|头破血流",
    ),
    (
        "trapped",
        r"被困|困住|困在|关在电梯|卡在电梯|电梯.{0,6}(?:困|关|卡)(?!过)(?:了|住)?.{0,4}(?:人|我|孩子|老人)|"
        r"(?:人|我|孩子|小孩|老人|宝宝|娃).{0,4}出不来|电梯.{0,6}出不来|被埋|压在下面|被压住|锁在车里|锁在家里|反锁在",
    ),
    (
        "missing",
        rf"走失|失踪|失联|走丢|{_KIN}(?:走)?丢了|{_KIN}(?:(?!{_BELONGING}).){{0,14}}(?:不见了|找不到了|找不着了|没回来|"
        r"没回家|还没到家|联系不上|打不通|不知去向)",
    ),
    (
        "violence",
        r"家暴|打老婆|打媳妇|打妻子|往死里打|殴打|砍人|持刀|拿刀|拿着刀|动刀|捅人|捅伤|打起来了|打起来|"
        r"打架|斗殴|群殴|掐脖子|掐住|喊救命|救命|呼救|惨叫|抢劫|抢包|绑架|威胁要杀|要杀了|杀人",
    ),
    (
        "fire",
        r"着火|着伙|起火|起伙|失火|火灾|大火|火苗|明火|火光|火势|烧起来|烧着了|烧了起来|着起来|自燃|"
        r"焦糊味|烧焦味|糊味很大|冒火",
    ),
    ("smoke", r"冒烟|浓烟|黑烟|冒黑烟|烟很大|好大的烟|一股烟|烟雾(?!报警)|呛人的烟|滚滚的烟|往外冒烟"),
    (
        "gas",
        r"[煤燃媒然][气汽]味|天然[气汽]味|[煤燃媒然][气汽].{0,4}(?:泄漏|泄露|漏了|漏气)|"
        r"(?:厨房|管道|灶|阀门|表).{0,4}漏[气汽]|臭鸡蛋味|一股[煤燃][气汽]|嘶嘶响|嘶嘶的声音|[煤燃][气汽]罐.{0,4}(?:漏|爆)|爆炸",
    ),
    (
        "electricity",
        r"触电|电到人|被电到|被电了|被电击|电击|漏电.{0,8}(?:人|孩子|麻|电到)|"
        r"电线.{0,8}(?:冒火|火花|着火|掉下来|垂下来|落地|掉在地上|断了|耷拉|泡在水里)|打火花|冒火花|冒电火花|"
        r"(?:灯座|插座|电线|电箱|开关|电表|配电).{0,8}(?:进水|漏水|往下流|流水|滴水|泡水|泡在水)|"
        r"电箱.{0,4}(?:冒|响|着|烧)|配电[箱房].{0,6}(?:冒|响|着|烧|爆)|高压线.{0,8}(?:断|掉|垂|落|碰)",
    ),
    (
        "falling",
        rf"{_FALLING_THING}.{{0,10}}{_FALLING}|(?:外墙|瓷砖|外墙砖|墙砖|玻璃|广告牌|招牌)(?:大面积|成片)?脱落|"
        r"(?:悬|挂|吊|耷拉)(?:在|着).{0,8}(?:头顶|路上|上方|半空|人行道|路中间|过道上)|"
        r"(?:头顶|上方|半空).{0,6}(?:悬|挂|吊)着|高空坠物",
    ),
    (
        "manhole",
        r"井盖.{0,8}(?:没了|没有了|丢了|不见|被偷|掀开|打开|敞着|开着|塌|碎了|翻了|松了|空了|缺了|移位|歪了|"
        r"陷下去|掉下去)|没(?:有)?井盖|[窨污雨下水]{1,2}井.{0,6}(?:敞着|开着|没盖|没有盖|没了盖)|"
        r"(?:掉进|掉到|跌进|踩空|摔进|差点掉进|差点掉到).{0,6}(?:井|坑|洞|沟)|地面塌陷|路面塌陷|地陷|塌了个大坑",
    ),
    (
        "flood",
        r"水淹|被淹|淹了|淹到|淹没|倒灌|洪水|内涝|漫进(?:屋|家|楼|车库)|水漫过|漫上来|积水.{0,8}(?:齐腰|没过|到膝盖|到腰|一米|半米|很深|"
        r"越来越深|进屋|进家)|进水.{0,8}(?:很深|到膝盖|到腰|出不去)|车库.{0,4}进水|水.{0,6}没过(?:轮胎|膝盖|腰|小腿|脚踝|车|门槛)|水位.{0,4}(?:上涨|涨)|山洪|泥石流",
    ),
    (
        "collapse",
        r"坍塌|倒塌|塌了(?!一块|一点|一角)|塌下来|要塌|快塌|垮了|要垮|塌方|墙倒|楼歪|房子歪",
    ),
)

#: Signs that the danger is still there: they outweigh every "not an emergency" context.
_STILL = compile_cues(
    r"正在|还在|仍在|仍然|依然|此刻|一直在|越来越|又[着冒起漏掉塌晕倒]|又开始|救命|快来|快点来|快打|快报警|"
    r"赶紧|赶快|速来|立刻|来人|谁来|报警|打119|打120|打110|现在还|现在又|到现在"
)
#: Softer signs of the present, which a thank-you for a danger that is over outweighs.
_NOW = compile_cues(r"现在|刚刚|刚才|目前|马上|就在|今天|今晚|今早")
#: The danger is told in the past ...
_PAST = compile_cues(
    r"上次|上回|之前|以前|前段时间|前阵子|前些天|前几天|上个月|上周|上星期|去年|前年|那次|那天|当时|曾经"
)
#: ... or is over.
_OVER = compile_cues(
    r"已经修好|已修好|修好了|处理好了|处理完了|解决了|已经好了|恢复了|救出来了|救了出来|扑灭了|灭了|没事了|"
    r"平安|脱险|送医|找到了|找回来|送回来|送回家"
)
_THANKS = compile_cues(r"谢谢|感谢|多谢|辛苦了|点赞|表扬|好样的|致敬|锦旗|给力|及时赶到|及时处理|多亏")
#: A drill, a lesson or a story about danger rather than danger itself.
_NOT_REAL = compile_cues(
    r"演练|演习|培训|讲座|宣传|科普|知识|常识|课堂|课程|安全教育|防范意识|逃生路线|应急预案|预案|模拟|"
    r"防火月|消防日|安全月|检查日|小贴士|注意事项|电影|电视剧|新闻里|视频里|游戏|小说"
)
#: A hypothetical opened before the alarming words, in the same sentence.
_IF = re.compile(r"(?:如果|万一|假如|假设|要是|一旦|以防|就能|就会|容易|可能|迟早|早晚|哪天|小心)[^。！？!?]*$")
_DENIED = re.compile(r"(?:没有|没|不是|并非|并没有|无)(?:闻到|看到|发现)?.{0,2}$")

_HAZARDS = tuple((name, compile_cues(pattern)) for name, pattern in _CRITICAL)
#: Every hazard in one search: most posts have none, and this says so in one pass.
_ANY_HAZARD = compile_cues("|".join(f"(?:{pattern})" for _, pattern in _CRITICAL))


@dataclass(frozen=True, slots=True)
class SafetyFinding:
    """What the layer concluded about one post."""

    #: The hazard found (``fire``, ``height``, ...) with the words that showed it, or empty.
    hazard: str = ""
    cue: str = ""
    #: The alarming words found are in a past, thankful, hypothetical or drill context.
    not_real: bool = False

    @property
    def critical(self) -> bool:
        return bool(self.hazard) and not self.not_real


def excused(text: str, before: str = "") -> bool:
    """True when the post's context makes its alarming words no present danger.

    ``before`` is the text in front of the alarming words (for hypotheticals, which cover only what
    follows them: "井盖没了，万一有人掉下去" is still an open manhole).
    """
    if _STILL.search(text):
        return False
    if _IF.search(before) or _NOT_REAL.search(text):
        return True
    told_after = bool(_PAST.search(text) or _THANKS.search(text))
    if told_after and _OVER.search(text):
        return True
    return told_after and not _NOW.search(text)


def assess(text: str) -> SafetyFinding:
    """The first present risk to life in ``text`` (lower-cased, NFKC-cleaned post text), if any."""
    if _ANY_HAZARD.search(text) is None:
        return SafetyFinding()  # no alarming words: whether the context would excuse them is moot
    excused_finding: SafetyFinding | None = None
    for name, pattern in _HAZARDS:
        for match in pattern.finditer(text):
            before = text[: match.start()]
            if _DENIED.search(before[-6:]):
                continue  # "没有煤气味" denies this one; another mention may still count
            if excused(text, before):
                excused_finding = excused_finding or SafetyFinding(hazard=name, cue=match.group(0), not_real=True)
                continue
            return SafetyFinding(hazard=name, cue=match.group(0))
    return excused_finding or SafetyFinding()

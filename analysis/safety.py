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

from analysis.patterns import compile_any, compile_cues

_KIN = (
    r"(?:老人|老太太|老太|老头|老大爷|大爷|奶奶|爷爷|外婆|外公|姥姥|姥爷|爸|妈|父亲|母亲|小孩|孩子|小朋友|娃|"
    r"儿子|女儿|闺女|宝宝|学生|老伴|妻子|老婆|丈夫|老公)"
)
_BELONGING = r"(?:钥匙|钱包|手机|卡|书包|伞|快递|包裹|车|证|耳机|眼镜|水杯|衣服|外套|帽子|宠物|狗|猫|东西|作业|玩具)"
_HEIGHT = (
    r"(?:楼顶|天台|顶楼|楼沿|楼边|屋顶|房顶|窗台|窗外|窗户外|阳台外|阳台边|护栏外|护栏上|栏杆外|栏杆上|桥栏|楼顶边缘|"
    r"空调外机上|外机上|防盗窗外|防盗网上|雨棚上|桥边|桥栏外|桥栏杆|塔吊|高架桥边|窗边上)"
)
_FALLING_THING = (
    r"(?:瓷砖|外墙砖|墙砖|外墙|墙皮|玻璃|窗户|窗框|窗扇|广告牌|招牌|牌匾|空调外机|外机|花盆|树枝|大树|树|"
    r"石块|石头|砖头|砖块|钢管|钢筋|铁皮|铁架|彩钢瓦|雨棚|遮阳棚|脚手架|吊篮|电线杆|线杆|灯杆|吊顶|防盗网|"
    r"天花板|顶棚|晾衣架|晾衣杆|衣架|杆子|花架|冰溜子|冰锥|冰凌|冰柱|大块|东西|杂物|保温层|混凝土块?|水泥块|店招|水箱盖|盖板|盆花|大花)"
)
_FALLING = (
    r"(?:掉下来|掉了下来|往下掉|砸下来|落下来|坠落|掉落|摇摇欲坠|晃晃悠悠|悬在半空|吊在半空|挂在半空|悬空|"
    r"快掉|要掉|随时会掉|随时掉|快倒|要倒|倒下来|砸到|砸中|砸伤|砸了|砸在|在掉|一直掉|飘下来|滑下去|滑下来|"
    r"掉了?一半|被风掀|吊在那|挂在那|悬在那)"
)

#: (hazard, pattern) pairs; each pattern is a present risk to life when its context allows.
_CRITICAL: tuple[tuple[str, str], ...] = (
    (
        "height",
        # a posture on a height implies a person: no need to find who first
        rf"(?:坐|站|蹲|趴|爬|挂|翻|骑)(?:在|到|上|出)?.{{0,8}}{_HEIGHT}"
        rf"|{_HEIGHT}.{{0,8}}(?:坐着|站着|蹲着|趴着|挂着)"
        r"|爬窗|爬阳台|爬护栏|翻窗|翻阳台|翻护栏|翻栏杆"
        rf"|{_HEIGHT}.{{0,8}}爬|往.{{0,4}}{_HEIGHT}.{{0,2}}爬|(?:放|摆|挂)在(?:护栏|栏杆|窗台|阳台)外"
        # place first, then the person: 楼顶有个人坐在边上
        rf"|{_HEIGHT}.{{0,10}}(?:人|孩子|小孩|醉).{{0,10}}(?:边上|边边|边缘|沿上|沿边)"
        rf"|{_HEIGHT}.{{0,12}}(?:坐|站|蹲|趴|走)(?:在|着)?.{{0,4}}(?:边上|边边|边缘|沿上|沿边)"
        r"|从(?:楼顶|天台|楼上|顶楼).{0,4}(?:下去|跳)"
        r"|(?:喊着|说|嚷着|闹着)要跳|要跳(?:了|下来|[!,。]|$)"
        r"|要跳楼|想跳楼|跳楼|要跳下去|想跳下去|跳下去|要跳河|跳河|跳江|跳湖",
    ),
    (
        "self_harm",
        r"寻死|想不开|不想活|活不下去|轻生|自杀|自残|割腕|喝农药|吞药自杀|烧炭|上吊|寻短见|了结自己|结束生命|"
        r"遗书|活着(?:好|太|真)?(?:累|没意思|没劲)|别找我|今晚就结束|就结束了|安眠药|一堆药片|药片.{0,12}再见|"
        r"吃了.{0,4}(?:一整瓶|整瓶|一瓶|一把|好多)药",
    ),
    (
        "water",
        r"落水|掉水里|掉进水|掉河里|掉进河|掉湖里|掉进湖|掉池塘|掉进池|掉塘里|溺水|在水里扑腾|沉下去|被水冲走|"
        r"冲走了|掉进水沟|掉进河沟|(?:掉|跌|摔|冲|栽|滑)(?:进|到|入)了?.{0,6}(?:水|河|湖|池|塘|沟|江|海|粪)|"
        r"漂着(?:一个|个)?人|浮着(?:一个|个)?人|(?:河|水|湖|池|塘)里.{0,4}(?:有个人|漂着|浮着)|冰面|冰上.{0,8}(?:孩子|人|裂)|冰.{0,3}裂了|抽筋|(?:人|孩子|小孩)还?没(?:有)?(?:上来|浮上来|出来)|下去.{0,8}没上来|"
        r"(?:水|河|湖|池|塘|江|海)[里中]?.{0,8}(?:挣扎|扑腾|呛水)|(?:小孩|孩子|小朋友).{0,4}(?:在|正在)(?:那边|那儿|河边|水边|池边|湖边|江边|河里|池里)玩水",
    ),
    (
        "collapsed",
        r"晕倒|昏倒|晕过去|昏过去|昏迷|倒地(?:不起|了|上|昏迷|抽搐|不动)|倒在地|倒在路|倒在楼|躺在地上不动|不省人事|叫不醒|喊不醒|没反应了|"
        r"没有反应|没气了|没呼吸|不喘气|心脏骤停|抽搐|口吐白沫|抽过去|摔倒.{0,6}(?:起不来|爬不起来|不动|流血)|"
        r"流了很多血|满脸是血|大出血|头破血流|"
        r"热晕|中暑.{0,4}(?:倒|晕)|没(?:有)?意识|失去意识|意识不清|突然倒下|倒下去|倒下了|嘴歪|说不出话|一动不动|"
        r"躺着(?:一个|个)?人|躺(?:在)?路中间|(?:倒|摔|躺|缸里|地上|路中间).{0,8}起不来|身上有血|一地血|都是血|"
        r"在流血|喊不应|叫不应|喊不答应|(?:从|在).{0,6}(?:楼上|楼梯|高处).{0,4}(?:摔|掉|跌)下来|"
        r"(?:人|他|她|老人|孩子|小孩|大爷|阿姨|奶奶|爷爷)倒在|敲门.{0,4}(?:无人|没人|没有人)(?:应|开)|"
        r"躺(?:在)?(?:马)?路(?:中间|上|边)|捂(?:着)?胸口|脸色(?:发白|发青|很难看|铁青|苍白|发紫)|推下|推倒在|(?:叫|喊|拍|推)(?:了)?(?:他|她)?.{0,3}没(?:有)?反应|"
        r"没(?:有)?动静|噎着|脸(?:都)?(?:紫|青)了|(?:有人|人都|好几个人|大家)(?:都)?(?:头晕|头疼|恶心|呕吐|晕了)|"
        r"误(?:喝|服|食|吞)|中毒|吞了(?:电池|硬币|磁铁|药)|(?:突然|一下子|当场)(?:晕|昏|倒|抽)|说不了话|半边身子|半身不遂|口齿不清|中风|脑梗|心梗|胸口(?:剧痛|疼得)|"
        r"(?:摔|滑|跌)(?:倒|了一跤|下来|下去).{0,12}(?:动不了|断了|起不来|站不起来|流血|不能动|骨折)|"
        rf"(?:压|砸|埋)(?:住|到|中|伤)了?(?:一个|个|人|路人|我|他|她|{_KIN})|晕了过去|嘴唇发紫|流了?好多血|血流不止|一直(?:在)?流血|"
        r"被.{0,6}撞倒|撞倒了|撞飞|被车撞|噎住|卡住了.{0,8}(?:脸|憋|喘|说不出)|憋红|海姆立克|喘不上气|呼吸困难",
    ),
    (
        "trapped",
        r"被困|困住|困在|关在电梯|卡在电梯|电梯.{0,6}(?:困|关|卡)(?!过)(?:了|住)?.{0,4}(?:人|我|孩子|老人)|"
        r"(?:人|我|孩子|小孩|老人|宝宝|娃).{0,4}出不来|电梯.{0,6}出不来|被埋|压在下面|被压住|锁在车里|锁在家里|反锁在|"
        r"电梯.{0,12}里面(?:有|还有|关着|困着)?(?:人|[一二三两几0-9]+个人|小孩|孩子|老人)|"
        r"电梯.{0,8}(?:往下坠|下坠|坠了|溜车|冲顶|蹲底)|夹住|被夹|被拖着|卡在里面|踩空卡|"
        r"被(?:锁|关|困|卡)在|(?:人|小孩|孩子|老人|我|他|她|宝宝|娃)(?:被)?卡在|拔不出|(?:头|手|脚|腿|胳膊).{0,6}(?:卡住|卡在|伸进)|卡在(?:栏杆|门缝|缝里|洞里)|"
        r"电梯.{0,20}(?:我|人|孩子|老人|小孩)(?:还)?在里面|轿厢不在|(?:电梯井|井道).{0,6}(?:踩空|掉下去|踩进)|差点(?:有人)?(?:踩进|踩空|掉进|掉下)|"
        r"车里.{0,4}(?:锁|关)着.{0,10}(?:个)?(?:小孩|孩子|宝宝|婴儿|老人)|下不去|逃不出|跑不出",
    ),
    (
        "missing",
        rf"走失|失踪|失联|走丢|{_KIN}(?:走)?丢了|{_KIN}(?:(?!{_BELONGING}).){{0,14}}(?:不见了|找不到了|找不着了|没回来|"
        r"没回家|还没到家|联系不上|打不通|不知去向)|"
        rf"{_KIN}.{{0,12}}(?:出去|出门|去).{{0,10}}(?:[0-9一二三四五六七八九十两几]+个?多?小时|半天|一天|一夜)"
        r"|(?:自闭症|老年痴呆|痴呆|阿尔茨海默|智力障碍|智障|记性不好).{0,12}(?:跑|走|出)(?:出|丢|掉|了)"
        rf"|跑出小区|{_KIN}.{{0,6}}跑丢|迷路|说不清家|找不到家|一转眼|转眼就|人(?:就)?没了|人不见了|(?:小孩|小女孩|小男孩|孩子|小朋友).{{0,12}}(?:找妈妈|找爸爸|找不到家|没大人|没有大人)",
    ),
    (
        "violence",
        r"家暴|打老婆|打媳妇|打妻子|往死里打|殴打|砍人|持刀|拿刀|拿着刀|动刀|捅人|捅伤|打起来了|打起来|"
        r"打架(?!子)|斗殴|群殴|掐脖子|掐住|喊救命|在喊救命|呼救|惨叫|抢劫|抢包|绑架|威胁要杀|要杀了|杀人|"
        r"(?:在|又在|正在|又)打(?:我|她|他|人|孩子|小孩|老人|他妈|她妈)(?!电话|手机)|打我(?!电话|手机)|打他妈|"
        r"打骂|尖叫|手里有刀|手上有刀|拿着?(?:一把)?(?:菜)?刀|手持|带着刀|刀子|弄死|打死|杀了你|砍死|砸门|威胁(?:要|说|我要|着要)|被打|被捅|捅了|被砍|哭喊|往车里拖|拖上车|拖进车|拽上车|抱走了|"
        r"(?:不认识|陌生)的?人.{0,4}(?:接走|带走|抱走|领走|拉走)|被.{0,8}(?:不认识|陌生).{0,6}(?:接走|带走|抱走)|"
        r"扑倒|还在咬|在咬人|咬住|大蛇|毒蛇|一条蛇|有蛇|马蜂.{0,10}(?:蜇|追)|被.{0,4}蜇|狗.{0,8}(?:咬|追着)(?:人|孩子|小孩|老人|到)|咬到(?:腿|手|脸|人|孩子)",
    ),
    (
        "fire",
        r"着火|着伙|起火|起伙|失火|火灾|大火|火苗|明火|火光|火势|烧起来|烧着了|烧了起来|着起来|自燃|"
        r"焦糊味|烧焦味|焦味|烧(?:东西|塑料|电线|橡胶)的?味|糊味很大|冒火|还有火|里有火|有火光|救火|火(?:好|很|太|特别|非常)?大(?:了|啊|!)|"
        r"(?:房|屋|仓库|车|楼|家|店|厨房|柜|箱|车库|棚|垃圾桶|电箱)[子里]?着了|火往|火(?<!锅火)(?<!上火)(?<!发火)!|^火$|"
        r"(?:电瓶车|电动车|电池|充电宝|充电).{0,6}(?:炸了|爆了|着了|燃了|烧了)",
    ),
    (
        "smoke",
        r"冒烟|浓烟|黑烟|冒黑烟|烟很大|好大的烟|一股烟|烟雾(?!报警)|呛人的烟|滚滚的烟|往外冒烟|"
        r"冒[白黑青灰蓝浓大]烟|(?:好多|很多|一片|大片|一大股)烟|烟(?:往外|窜|冲)|有烟(?!味|头|酒|民|花|瘾)|全是烟|都是烟|烟.{0,4}冒出来|毒烟|刺鼻.{0,8}(?:疼|撤离|难受|头晕|睁不开)",
    ),
    (
        "gas",
        r"[煤燃媒然][气汽]味|天然[气汽]味|[煤燃媒然][气汽].{0,4}(?:泄漏|泄露|漏了|漏气)|"
        r"(?:厨房|管道|灶|阀门|表).{0,4}漏[气汽]|臭鸡蛋味|一股[煤燃][气汽]|嘶嘶响|嘶嘶的声音|[煤燃][气汽]罐.{0,4}(?:漏|爆)|爆炸|"
        r"液化气.{0,4}(?:在漏|漏了|泄|味)|气罐.{0,4}(?:在漏|漏了)|燃气管.{0,8}(?:破|断|喷|漏)|喷气|汽油味|(?:全是|一地|一滩|漏了?)(?:汽油|柴油)|"
        r"(?:锅炉|压力表|压力罐|蒸汽管).{0,6}(?:爆|喷|炸)|喷蒸汽|"
        r"(?:燃气|煤气|天然气|液化气|灶|阀门).{0,8}(?:关不上|关不掉|关不住|有气(?:出来|冒出来)|一直出气|往外冒气)",
    ),
    (
        "electricity",
        r"触电|电到人|被电到|被电了|被电击|电击|漏电.{0,8}(?:人|孩子|麻|电到)|"
        r"电线.{0,8}(?:冒火|火花|着火|掉下来|垂下来|垂到|快垂|拖到地|拖地|落地|掉在地上|断了|耷拉|泡在水里)|"
        r"变压器.{0,4}(?:爆|炸|着|冒)|电线掉在|(?:电线杆|线杆).{0,6}(?:歪得|要倒|快倒|倒了|断了)|火星子|打火花|冒火花|冒电火花|"
        r"(?:灯座|插座|电线|电箱|开关|电表|配电).{0,8}(?:进水|漏水|往下流|流水|滴水|泡水|泡在水)|"
        r"电箱.{0,4}(?:冒|响|着|烧)|配电[箱房].{0,6}(?:冒|响|着|烧|爆)|高压线.{0,8}(?:断|掉|垂|落|碰)",
    ),
    (
        "falling",
        rf"{_FALLING_THING}.{{0,10}}{_FALLING}|(?:外墙|瓷砖|外墙砖|墙砖|玻璃|广告牌|招牌)(?:大面积|成片)?脱落|"
        r"(?:悬|挂|吊|耷拉)(?:在|着).{0,8}(?:头顶|路上|上方|半空|人行道|路中间|过道上)|"
        r"(?:头顶|上方|半空).{0,6}(?:悬|挂|吊)着|高空坠物|"
        r"(?:广告牌|招牌|店招|空调外机|外机|水箱盖|脚手架|彩钢瓦|雨棚|铁皮).{0,12}(?:一直晃|晃荡|晃来晃去|松动|松了|被风)|"
        r"(?:玻璃|窗框|窗户|瓷砖|外机|广告牌|招牌|店招|空调|铁皮|雨棚|脚手架|水箱盖|彩钢瓦|外墙).{0,10}(?:晃|斜挂|歪挂|悬着)|"
        r"支架.{0,4}(?:断|锈断|松脱)|往下掉(?:东西|砖|石|渣|玻璃|水泥)|还在往下掉|突然裂开|"
        rf"{_FALLING_THING}.{{0,10}}(?:在晃|晃得|一直晃|晃荡|晃来晃去)|(?:要|快|马上|随时)(?:会)?掉下来|随时(?:可能|会)?掉|"
        r"(?:冰凌|冰溜子|冰锥|冰柱).{0,12}(?:挂|掉|砸|正下方)|挂着.{0,8}(?:冰凌|冰溜子|冰锥|冰柱)",
    ),
    (
        "manhole",
        r"井盖.{0,8}(?:没了|没有了|丢了|不见|被偷|掀开|打开|敞着|开着|(?<!有点)(?<!有些)塌|碎了|翻了|松了|空了|缺了|移位|歪了|冲开|冲走|冲掉|顶开|被掀|掀了|"
        r"陷下去|掉下去)|(?:路|地)[上面中间]{0,3}.{0,4}(?:黑洞|大洞|大窟窿)|没(?:有)?井盖|[窨污雨下水]{1,2}井.{0,6}(?:敞着|开着|没盖|没有盖|没了盖)|"
        r"(?:掉进|掉到|跌进|踩空|摔进|差点掉进|差点掉到).{0,6}(?:井|坑|洞|沟)|地面塌陷|路面塌陷|地陷|塌了个大坑",
    ),
    (
        "flood",
        r"水淹|被淹|淹了|淹到|淹没|倒灌|洪水|内涝|漫进(?:屋|家|楼|车库)|水漫过|漫上来|积水.{0,8}(?:齐腰|没过|到膝盖|到腰|一米|半米|很深|"
        r"越来越深|进屋|进家)|进水.{0,8}(?:很深|到膝盖|到腰|出不去)|[车地]库.{0,4}进水|过门槛|到小腿|漫进|水漫(?:进|到|过|上|金山)|"
        r"水(?:都|已经)?(?:到|漫到|淹到|没过)(?:了)?(?:床|膝|腰|门口|小腿|大腿|脚踝|胸|桌|沙发|台阶)|"
        r"(?:流|灌|漏)进(?:了)?电梯井|电梯井.{0,4}(?:进水|积水|灌水)|水管.{0,3}爆.{0,10}(?:喷|满屋|往下|流)|水.{0,6}没过(?:轮胎|膝盖|腰|小腿|脚踝|车|门槛)|水位.{0,4}(?:上涨|涨)|山洪|泥石流",
    ),
    (
        "collapse",
        r"坍塌|倒塌|塌了(?!一块|一点|一角)|塌下来|要塌|快塌|垮了|要垮|塌方|墙倒|楼歪|房子歪|"
        r"裂.{0,10}(?:比昨天|越来越|宽多了|掉渣|还在裂)|越裂越|(?:楼|房子|地面|墙).{0,3}在下沉|往外凸|鼓包了?.{0,6}(?:往外|渗|越来越|在裂)|"
        r"咔咔.{0,2}响|裂开好几道|楼板在抖|楼在晃|房子在晃|(?:在|正在)(?:砸|拆)承重墙",
    ),
)

#: Signs that the danger is still there: they outweigh every "not an emergency" context.
_STILL = compile_cues(
    r"正在|还在|仍在|仍然|依然|此刻|一直在|越来越|又[着冒起漏掉塌晕倒]|又开始|救命|快来|快点来|快打|快报警|"
    r"赶紧|赶快|速来|立刻|立即|来人|谁来|报警|打119|打120|打110|现在还|现在又|到现在|求速|求助|"
    r"有人在|里面有人|底下.{0,4}有人|还有人|还有车"
)
#: Softer signs of the present, which a thank-you for a danger that is over outweighs.
_NOW = compile_cues(r"现在|刚刚|刚才|目前|马上|就在|今天|今晚|今早")
#: The danger is told in the past ...
_PAST = compile_cues(
    r"上次|上回|之前|以前|前段时间|前阵子|前些天|前几天|上个月|上周|上星期|上礼拜|去年|前年|那次|那天|当时|曾经|"
    r"昨天|昨晚|前天"
)
#: ... or is over.
_OVER = compile_cues(
    r"已经修好|已修好|修好了|处理好了|处理完了|解决了|已经好了|恢复了|救出来了|救了出来|扑灭了|灭了|没事了|"
    r"平安|脱险|送医|找到了|找回来|送回来|送回家|怎么样了|后来|捐|查出来|当场就|换好了|换了"
)
_THANKS = compile_cues(r"谢谢|感谢|多谢|辛苦了|点赞|表扬|好样的|致敬|锦旗|给力|及时赶到|及时处理|多亏")
#: A drill, a lesson or a story about danger rather than danger itself.
_NOT_REAL = compile_cues(
    r"演练|演习|培训|讲座|宣传|科普|知识|常识|课堂|课程|安全教育|防范意识|逃生路线|应急预案|预案|模拟|"
    r"防火月|消防日|安全月|检查日|小贴士|注意事项|电影|电视剧|新闻|视频里|游戏|小说|电视里|电视上|剧里|"
    r"防溺水|防走失|防火|防汛|防坠|防诈|承诺书|手环|防患|没出什么事|没出事"
)
#: A hypothetical opened before the alarming words, in the same sentence.
#: Figures of speech and jokes that borrow alarming words (跳楼价, 救命…又胖了, 火气都要着火了): they
#: outweigh even the words of urgency, which they use as figures too ("快来人啊…买一送一").
_FIGURATIVE = compile_cues(
    r"跳楼价|跳楼甩卖|跳楼大甩卖|火气|上火|火大|火爆|哈哈|呵呵|笑死|😂|🤣|胖了|减肥|买一送一|打折|[五六七八九]折|"
    r"特价|优惠|涨价|又涨|凉快|比赛|火热|吵死|烦死|累死|气死|股票|基金|跌得|亏得|考砸"
)
#: A false alarm resolved in the same post: the smell was cooking, the smoke was pest control.
_FALSE_ALARM = compile_cues(
    r"大家放心|请放心|彻底解决|虚惊|误报|误会|原来是|不用担心|看着没事|好像没事|应该没事|不用慌|别担心|别慌|没事了|拉开了|人都走了|已经走了|已经散了|"
    r"是.{0,8}在(?:炖|烧菜|做饭|炒菜|煎|烤|熏|消杀|打药|喷药|熏蚊|演练|拍戏|放烟花)"
)
#: A nuisance that comes back day after day ("烤肠摊天天冒烟") is a complaint, not a danger now.
_HABITUAL = compile_cues(r"天天|每天|经常|老是|总是|每次|每晚|每到|一到晚上")
_IF = re.compile(r"(?:如果|万一|假如|假设|要是|一旦|以防|就能|就会|容易|可能|迟早|早晚|哪天|小心)[^。！？!?]*$")
#: A hazard word as the modifier of a noun: a risk, a device or a policy, not the hazard itself.
_MODIFIER = re.compile(
    r"(?:的?问题|的事|这事|那事|隐患|风险|预警|演练|报警器|保险|险|通道|警示|标志|宣传|知识|事故率|自救)"
)
_PET = re.compile(r"猫|狗|宠物|鹦鹉|鸟|兔|仓鼠|乌龟|鸡|鸭|" + _BELONGING[3:-1])
#: A degree that makes the words no emergency ("有点漏电", "有点塌"), or a supposition ("真着火了怎么办").
_MILD = ("有点", "有些", "一点点", "稍微", "轻微", "真", "真的")
_DENIED = re.compile(r"(?:没有|没|不是|并非|并没有|无)(?:闻到|看到|发现)?.{0,2}$")

_HAZARDS = tuple((name, compile_cues(pattern)) for name, pattern in _CRITICAL)
#: Every hazard in one search: most posts have none, and this says so in one pass.
_ANY_HAZARD = compile_any([pattern for _, pattern in _CRITICAL])


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


#: Everyday troubles that a cry of "救命" is a figure for ("作业写不完，救命").
_TRIVIAL = compile_cues(r"作业|血压都|胖|减肥|物业费|菜价|房价|工资|加班|老板|考试|成绩|堵车|快递|外卖|追剧")


def figure_of_speech(text: str) -> bool:
    """True when an alarming word in ``text`` is a figure for an everyday trouble or a joke."""
    return bool(_FIGURATIVE.search(text) or _TRIVIAL.search(text))


def named_only(text: str, word: str) -> bool:
    """True when every mention of ``word`` in ``text`` only names a risk or a device ("火灾隐患", "火灾报警器")."""
    ends = [match.end() for match in re.finditer(re.escape(word), text)]
    return bool(ends) and all(_MODIFIER.match(text, end) for end in ends)


def excused(text: str, before: str = "") -> bool:
    """True when the post's context makes its alarming words no present danger.

    ``before`` is the text in front of the alarming words (for hypotheticals, which cover only what
    follows them: "井盖没了，万一有人掉下去" is still an open manhole).
    """
    if _FIGURATIVE.search(text):
        return True
    if _STILL.search(text):
        return False
    if _FALSE_ALARM.search(text) or _HABITUAL.search(text):
        return True
    if _IF.search(before) or _NOT_REAL.search(text):
        return True
    told_after = bool(_PAST.search(text) or _THANKS.search(text))
    if told_after and _OVER.search(text):
        return True
    return told_after and not _NOW.search(text)


#: Pinyin initials and misspellings residents type in a hurry (hz了, ld有人要tl, 救明), read as words.
_SHORTHAND = {"hz": "火灾", "zh": "着火", "tl": "跳楼", "ld": "楼顶", "dt": "电梯", "mqw": "煤气味", "jm": "救命"}
_SHORTHAND_RE = re.compile(r"(?<![a-z])(" + "|".join(_SHORTHAND) + r")(?![a-z])")
_MISSPELT = re.compile(r"救明|就命|救救命")


def expand_shorthand(text: str) -> str:
    """``text`` with residents' pinyin initials for hazards and misspelt cries spelt out."""
    if _SHORTHAND_RE.search(text) is not None:
        text = _SHORTHAND_RE.sub(lambda match: _SHORTHAND[match.group(1)], text)
    return _MISSPELT.sub("救命", text) if "救" in text or "就命" in text else text


def assess(text: str) -> SafetyFinding:
    """The first present risk to life in ``text`` (lower-cased, NFKC-cleaned post text), if any."""
    text = expand_shorthand(text)
    if _ANY_HAZARD.search(text) is None:
        return SafetyFinding()  # no alarming words: whether the context would excuse them is moot
    excused_finding: SafetyFinding | None = None
    for name, pattern in _HAZARDS:
        for match in pattern.finditer(text):
            before = text[: match.start()]
            # "没有煤气味" denies this mention, "有点漏电" plays it down, "火灾隐患" names a risk, "猫跑丢了" is
            # lost-and-found: another mention may still count.
            idle = bool(
                _DENIED.search(before[-6:])
                or before.endswith(_MILD)
                or _MODIFIER.match(text, match.end())
                or before.endswith("防")
                or (name == "missing" and _PET.search(before[-8:] + match.group(0)))
            )
            if idle or excused(text, before):
                excused_finding = excused_finding or SafetyFinding(hazard=name, cue=match.group(0), not_real=True)
                continue
            return SafetyFinding(hazard=name, cue=match.group(0))
    return excused_finding or SafetyFinding()

"""Chatter triage over the model: what in a group is talk among members, and what is a matter.

Chatter is what the community has nothing to do about: replies to other members ("同意楼上"),
acknowledgements ("好的收到"), emoji-only posts, greetings, ads, group-buying, lost-and-found and
forwarded notices. A post that asks for something to be fixed is a matter however casually it is
put, and missing a matter is worse than filing chatter, so a single sign of a matter outweighs every
sign of chatter.
"""

import re

from analysis.patterns import compile_cues

#: A whole post that only acknowledges, agrees or greets (short, nothing else in it).
_ONLY = re.compile(
    r"^(?:@\S+\s*)*(?:好的?|好滴|好嘞|好吧|嗯+|哦+|噢+|喔+|哈+|呵+|嘿+|收到|已收到|了解|明白|知道了|晓得了|懂了|ok|okay|"
    r"谢谢|谢啦|谢了|多谢|感谢|辛苦了?|没问题|可以|行|对|对的|是的|是啊|同意|赞同|赞|顶|支持|附议|同上|\+1|1|"
    r"我也是|我也一样|同感|一样|确实|真的|是呢|早|早上好|早安|午安|晚安|晚上好|中午好|大家好|你好|您好|新年好|"
    r"过年好|节日快乐|新年快乐|中秋快乐|春节快乐|端午快乐|国庆快乐|周末愉快|生日快乐|恭喜|恭喜恭喜|哈哈|呵呵|"
    r"好的谢谢|好的收到|收到谢谢|谢谢大家|谢谢提醒|感谢提醒|感谢分享|谢谢分享|路过|围观|来了|在|在的|不客气|客气了)"
    r"[啊呀哈了的啦哦喔嘛呢吧哟呦噢～~！!。.，,…\s]*$",
)
#: Words that only acknowledge, thank, agree, greet or laugh, and who they are said to. A post made of
#: nothing else ("谢谢你啊王姐", "收到，谢谢网格员", "辛苦了🙏", "sd", "[强][强]") is chatter, whoever it thanks:
#: praise that is a matter says what was done.
_ACK_WORD = (
    r"好的?|好滴|好嘞|好吧|好好|嗯+|哦+|噢+|喔+|哈+|呵+|嘿+|h{3,}|收到|已收到|了解|明白|知道了|晓得了|懂了|ok|okay|"
    r"谢谢|谢啦|谢了|多谢|感谢|感恩|辛苦|没问题|可以|行|对|是的|是啊|同意|赞同|赞|顶|支持|附议|同上|\+1|"
    r"我也是|我也一样|同感|一样|确实|真的|是呢|已阅|阅|告知|提醒|分享|通知|不错|厉害|棒|真棒|牛|优秀|"
    r"早上好|早安|午安|晚安|晚上好|中午好|下午好|大家好|你好|您好|早|好久不见|欢迎|新邻居|"
    r"新年好|过年好|[新中端国元]?[年秋午庆宵旦]?(?:节日)?(?:快乐|安康|愉快)|周末愉快|生日快乐|恭喜|祝贺|一路顺风|一路平安|"
    r"到时候见|回头见|再见|拜拜|不客气|客气了|应该的|邻居之间|互相帮助|路过|围观|来了|在的|在|我也听说了|听说了|"
    r"点赞|落实|照办|没事|不用客气|不用谢|别客气|跑一趟|跑了一趟|费心了?|操心了?|我也看到了|看到了|学到了|涨知识|也是这样|天气(?:不错|真好|真不错)|sd|yyds|xswl|nsdd|dbq|awsl|nb|666+|tql|bdjw|hhh+|233+|ok了|okk"
)
_ADDRESSEE = (
    r"你们?|您|大家|各位|邻居们?|亲们?|家人们|网格员|小?[王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯"
    r"于董程曹袁邓许沈曾彭吕苏卢蒋蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯"
    r"邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文](?:姐|哥|叔|姨|阿姨|师傅|老师|书记|主任|警官|大爷|奶奶|总|工)?|"
    r"阿姨|叔叔|师傅|书记|主任|老师|社区|物业|民警|警官|保安|志愿者|群主|管家|领导|楼主|楼上|宝子们?|老铁们?"
)
_BARE = re.compile(
    rf"^(?:(?:{_ACK_WORD}|{_ADDRESSEE}|啊|呀|啦|了|的|哦|喔|嘛|呢|吧|哟|呦|噢|哇|都|也|大家|真|太|很|非常|好|们|马上|一定|"
    r"[\s,.!?~～…、:;。，！？]|\[[^\]]{1,6}\]|[^\w\s])+)$"
)
_ACK_ANY = re.compile(rf"(?:{_ACK_WORD})|\[[^\]]{{1,6}}\]|[^\w\s,.!?~～…、:;。，！？]")


def bare_acknowledgement(text: str) -> bool:
    """True when ``text`` only thanks, agrees, greets or laughs (sticker text and emoji included)."""
    return len(text) <= 40 and _BARE.match(text) is not None and _ACK_ANY.search(text) is not None


#: A note about one's own part in a matter already in hand, or a plan or errand among members ("刚问过了，
#: 说是明天上午恢复", "我已经跟物业说过了", "好，我下午过去一趟"): nothing more for the community to do,
#: even though it names the matter (unless it says the matter is still not in hand: ``_GRIEVANCE``).
_IN_HAND = compile_cues(
    r"(?:刚|已经|已|早就)(?:问过|问了|说过|反映过|报过|报给|打过|打了|联系过|报修过|跟.{1,8}说过|跟.{1,8}说了|转给|转发给|"
    r"付款|付了|报名|报了名|交了|登记了)|说是.{0,12}(?:恢复|来修|来看|来处理|就好|来)|"
    r"我(?:晚点|等下|等会儿?|待会儿?|一会儿?|下午|晚上|明天|明早|回头|马上|这就)?(?:再)?(?:过去|去|来|下去)"
    r".{0,6}(?:看看|瞧瞧|问问|看一下|瞅瞅|一趟|拿|取|看情况)|等消息|等通知|等回复|说马上|说.{0,4}派人来|说.{0,4}[上下]午来|"
    r"我也去|你下来吧|我在楼下了|"
    r"(?:放|搁)(?:在)?你(?:家)?(?:门口|那)|给我留|我晚上来拿|来拿吧|"
    r"(?:跟|和)我(?:妈|爸|家人|老公|老婆|爸妈|家里)说|转给我(?:爸妈|爸|妈|家人)|"
    r"不好意思|发错|回复晚了|打扰了|抱歉|见谅|包涵|"
    r"我(?:刚|已经|早就|也)?(?:问|说|反映|报|打电话|联系)(?:过|了)|问(?:了|过)[^。]{0,10}说|"
    r"(?:跟|和|给)[^,，。]{1,8}(?:说|反映|打|讲|报|通|发)(?:过|了)|我(?:明天|下午|晚上|也)?也(?:去|来|要|报)|会来看|会派人|耐心等|再等等|稍等|"
    r"转告|转达|我(?:去|过去)?看了|正在弄|在弄了|在修了|正在修|"
    r"他们(?:明天|下午|上午|马上|晚上|一会儿?|等下)?(?:派人|来修|来看|过来|处理)|(?:他们|物业|那边|师傅|工作人员|对方)说.{0,12}"
    r"(?:来水|来电|恢复|来修|来处理|就好|来|修好|在修|在处理|在弄|已经)|(?:已经|正)在处理|在处理了|"
    r"我(?:晚点|等下|等会儿?|待会儿?|一会儿?|回头|马上)?(?:下楼|上楼|出去)(?:看看|瞧瞧|看一下|瞅瞅)"
)
#: Small talk, apologies, private deals and adverts: chatter when nothing in the post is a matter.
_SMALL_TALK = compile_cues(
    r"群主|进群|拉进.{0,6}群|群名片|群名|移出群|移出了|禁止发广告|发广告|"
    r"已经找到了|找到了谢谢|我也是这么想|我也这么想|我也这样想|我也觉得|祝贺|恭喜|羡慕|真乖|好可爱|好看吗|好看|熬夜看|世界杯|春晚|彩虹|收衣服|早点休息|太极|老地方|"
    r"领养|送养|小猫|小狗狗|几年级|裁缝店|划算|想要一份|要一份|"
    r"上门回收|价格公道|价格实惠|面议|待遇|住家保姆|开荒保洁|直播带货|带货|欢迎围观|"
    r"开心|高兴|谁有|谁家有|借我|借一下|好吃|开了一家|喝茶|聚聚|来我家|串门|自家种|自家做|(?:十|[0123456789]+)[块元]|我给你|给你送|送过去|已阅|按时参加|准时参加|"
    r"有没有人知道|有人知道|谁知道|求推荐|推荐一下|代收|代取|代买|每件|"
    r"天气(?:不错|真好|真不错|好好)|出租(?!车)|求租|好商量|价格可议|可议价|有意者|^转[:：]|常识|小贴士"
)
#: A post that opens by addressing one neighbour ("王姐你家那个酸菜怎么腌的", "@小李 晚上一起吃饭"),
#: not an officer or an office: talk between members when nothing in it is a matter.
_TO_NEIGHBOUR = re.compile(
    r"^(?:(?:谢谢|感谢|多谢)(?=小?[王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗][姐哥叔姨婶嫂])|你(?:们)?家|@(?!网格|社区|物业|书记|主任|居委|街道|管家)\S{1,8}\s|"
    r"小?[王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许沈曾彭吕苏卢蒋蔡贾丁魏薛叶余潘杜戴"
    r"夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文]"
    r"(?:姐|哥|叔|姨|婶|嫂|阿姨|大爷|奶奶|大妈)[,，\s]?(?:你|您))"
)
#: A word to the group's admin about the group itself ("群主能不能把我拉进二群"), even as a request.
_ABOUT_GROUP = compile_cues(r"群主.{0,12}(?:拉|加|进群|改|发)|拉(?:我)?进.{0,6}群|群名片|改.{0,4}群名|移出群|发错群")
#: Signs of chatter anywhere in a post.
_CHATTER = compile_cues(
    # replies to other members
    r"同意楼上|楼上说得对|楼上说的对|楼上说得好|支持楼上|顶楼上|赞同楼上|跟楼上|楼上\+1|楼上正解|说得对|说的对|"
    r"说得好|说的好|我也这么觉得|我也这样觉得|有道理|哈哈哈|笑死|"
    # "I'll go and have a look", plans among members
    r"我(?:明天|明早|待会儿?|等会儿?|一会儿?|回头|下午|晚上|马上|这就)?(?:去|过去|下去)(?:看看|瞧瞧|问问|看一下|瞅瞅)|"
    r"一起去|约一下|约起来|有空一起|蹲一个|拼车|股票|基金|这天(?:太)?(?:热|冷)|热死了|冷死了|"
    # greetings and wishes
    r"早上好|早安|晚安|大家好|新年快乐|节日快乐|中秋快乐|春节快乐|周末愉快|生日快乐|吃了吗|吃了没|"
    # ads and selling
    r"出售|转让|低价|优惠|促销|特价|清仓|甩卖|加微信|加我微信|加v|加vx|私聊|私信我|扫码|代购|招聘|兼职|秒杀|砍一刀|"
    r"免费领|领取福利|链接|微商|联系电话|欢迎咨询|欢迎选购|开业|上新|有需要的|需要的私|"
    # group-buying
    r"团购|拼团|接龙|团长|开团|截单|自提|到货了|下单|跟团|"
    # lost and found
    r"捡到|拾到|谁丢|谁的(?:钥匙|钱包|卡|手机|伞|快递|包)|失物招领|认领|失主|"
    r"(?:钥匙|钱包|卡|手机|伞|快递|包裹|东西).{0,6}(?:放在|放到|放|搁在|寄存在|留在)(?:了)?.{0,4}(?:门卫|保安|传达室|物业|门口|前台)|"
    r"丢了.{0,4}(?:钥匙|钱包|卡|手机|伞|耳机|眼镜)|(?:钥匙|钱包|手机|耳机|眼镜|伞).{0,4}(?:丢了|掉了|找不到了)|"
    # forwarded notices and news
    r"转发|转自|转载|扩散|来源[:：]|【[^】]{0,12}】|温馨提示|特此通知|特此公告|敬请|届时|请相互转告|相互转告|"
    r"公众号|朋友圈|视频号|抖音|帮忙投|投一票|打卡|红包|表情包",
)
#: Signs of a matter: something to fix, stop or answer. Any one of them keeps a post a matter.
_MATTER = compile_cues(
    r"坏了|坏掉|损坏|不亮|不通|修一下|修修|维修|报修|来修|没人修|漏水|渗水|堵了|堵死|堵得|堵住|堵塞|臭|吵|噪音|扰民|"
    r"没人管|有人管|管管|管一管|管一下|投诉|举报|反映|反应一下|处理一下|处理下|尽快处理|解决一下|请.{0,6}(?:处理|解决|安排|来|派)|"
    r"整改|清理一下|清一下|派人|来人|求助|帮帮|帮忙看|帮忙处理|停水|停电|没水|没电|断水|断电|停气|没暖气|暖气不热|"
    r"占用|占道|乱停|乱扔|乱倒|乱搭|违建|违章|乱贴|小广告贴|危险|隐患|不安全|安全隐患|受不了|太过分|"
    r"什么时候(?:修|来|处理|解决|恢复|能)|多久(?:能|才)|怎么还|为什么还|凭什么|咋还|还没(?:修|处理|解决|来)|"
    r"能不能(?:修|处理|管|解决|清理|安排|派)|可以(?:修|处理|管)一下|麻烦(?:物业|社区|网格员|师傅)|网格员|居委会|"
    r"没(?:有)?(?:热水|水了|电了|气了|网了|信号)|还是没|群租|隔成|尿骚|骚味|白蚁|合法吗|还没(?:有)?人|没(?:有)?人(?:收|管|修|来|清|处理|打扫)|盖章|证明|办理|手续|申请|补贴|社保|医保|户口|居住证|低保|"
    r"(?:社区|居委会?|街道|物业|网格员).{0,8}(?:几点|什么时候|在哪|怎么|有没有|能不能)|"
    r"顺便|另外|还有个事|还有件事|请问.{0,10}(?:社区|物业|居委|街道|办|哪里|怎么|什么时候|几点)|"
    r"脏|太[响吵脏乱臭差贵晚久慢]|睡不着|吵得|[好几]{1,2}天没|"
    r"建议|应该(?:把|早|管|修|换|挪|处理|整治)|该(?:换|挪|修|管|整治|处理|清理|拆)|确实该|早该|早就该|真该|是该|该[降减调改加装拆]|怎么又|又[涨张]|乱涨|就涨|乱收费|"
    r"被偷|偷了|被骗|诈骗|骗子|欠薪|拖欠|就没了|被拿走|被人拿|丢了[两几三四]次|又丢|没反应|扣了钱|钱扣了|"
    r"短斤少两|缺斤少两|坑人|宰客|失业|就业|能不能|能否|可不可以|有没有什么|"
    r"多亏|辛苦你们|(?:谢谢|感谢)(?:网格员|社区|物业|师傅|保安|书记|居委会|志愿者|民警|医生)",
)
#: Notices and adverts carry the "matter" words of what they announce ("明天停水"); these show the
#: post itself is the announcement.
_NOTICE = compile_cues(
    r"^【|温馨提示|将于|定于|届时|敬请|特此|请各位|请广大|相互转告|转发|转自|^转[:：]|先说声抱歉|抱歉|见谅|包涵"
)
#: ... unless the poster complains about it or thanks someone for it.
_COMPLAINT = compile_cues(r"投诉|举报|反映|没人管|还没|又|怎么|为什么|凭什么|几天了|太|\?|？|谢谢|感谢|多亏|辛苦")


#: What keeps a status update a matter: it says the matter is still not in hand, or adds one of its own.
_GRIEVANCE = compile_cues(
    r"还没|没人|到现在|结果|又|怎么|为什么|凭什么|几天了|一直|还是|但是|可是|不过|另外|顺便|也[坏漏停堵没]|"
    r"[?？]|太|不[行能]|到底|不归|[让叫]我找|归谁|不管|推来推去|不好(?!意思)|没用|坏|漏|堵|臭|吵|脏|危险"
)
#: Words of annoyance that keep small talk's words ("广场舞", "出租", "保洁") from making a complaint chatter.
_BOTHER = compile_cues(r"太|那么|这么|还在|不行|不能|都不|没人|到底|凭什么|怎么|为什么|几天了|好几天|骚|臭|吵|脏|合法")
_WORD = re.compile(r"[^\W_]")


def has_words(text: str) -> bool:
    """True when the text has a letter or digit of any script (not only emoji, punctuation, symbols)."""
    return _WORD.search(text) is not None


def chatter_signal(text: str) -> bool | None:
    """True for chatter, False for a matter, None when the rules cannot tell (leave it to the model).

    ``text`` is the cleaned post, lower-cased.
    """
    if not has_words(text) or bare_acknowledgement(text) or _ABOUT_GROUP.search(text):
        return True  # emoji, stickers' alt text, punctuation, a bare thanks: nothing to act on
    if _IN_HAND.search(text) and not _GRIEVANCE.search(text):
        return True  # "我刚打了物业电话，说马上派人来" names the matter but leaves it in hand
    matter = _MATTER.search(text)
    if matter is not None:
        # An announcement of a stoppage or an advert for a repair shop is still not a resident's matter.
        return bool(_NOTICE.search(text) and not _COMPLAINT.search(text))
    if _ONLY.match(text) or _CHATTER.search(text):
        return True
    if (_SMALL_TALK.search(text) or _TO_NEIGHBOUR.match(text)) and not _BOTHER.search(text):
        return True
    return None

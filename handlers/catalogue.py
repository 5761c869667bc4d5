"""Every sentence residents, officers and leaders read (zh_CN), reviewed in one place.

Functions take what varies; nothing here knows about storage or chat platforms.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

ROLE_NAMES = {
    "resident_unbound": "居民（未绑定住户）",
    "resident": "居民",
    "grid_officer": "网格员",
    "grid_chief": "网格长",
    "community_leader": "社区领导",
    "street_leader": "街道领导",
    "admin": "管理员",
}

STATUS_NAMES = {
    "received": "已受理",
    "assigned": "已分派",
    "replied": "已回复",
    "resolved": "已办结",
    "closed": "已关闭",
    "reopened": "已重新办理",
    "transferred": "已转办",
    "escalated": "已上报",
    "merged": "已合并",
    "rejected": "不予受理",
}

#: History entries that are not a change of status.
EVENT_NAMES = {"recategorised": "类别更正"}

RATING_NAMES = {"satisfied": "满意", "basically": "基本满意", "unsatisfied": "不满意"}

URGENCY_NAMES = {"critical": "紧急", "high": "较急", "normal": "一般", "low": "不急"}

WELCOME_RESIDENT = (
    "您好，我是民情通小助手 🙂\n"
    "有什么烦心事、想问的事或需要帮忙的事，直接发给我就行，我会登记并转给负责您家的网格员，件件有回音。\n"
    "首次使用请先绑定住址，例如：/bind 3幢2单元301"
)
WELCOME_OFFICER = "您好，{name}（{role}）。新的诉求和超时提醒会发到这里。发送 /help 查看可用命令。"

HELP = {
    "resident": (
        "可用命令：\n"
        "/bind 住址 手机号后四位 — 绑定您家的住址，例如 /bind 3幢2单元301 5678\n"
        "/my — 查看我反映过的事项和办理进度\n"
        "/case 编号 — 查看某件事项的详情\n"
        "/join 邀请码 — 工作人员凭邀请码登记身份\n"
        "直接发送文字即可反映问题；在群里请 @我 或以“#诉求”开头。"
    ),
    "officer": (
        "可用命令：\n"
        "/cases — 我负责范围内待办的诉求\n"
        "/case 编号 — 诉求详情和办理记录\n"
        "/reply 编号 内容 — 回复居民\n"
        "/resolve 编号 办理结果 — 办结并请居民评价\n"
        "/transfer 编号 网格编号 原因 — 转给其他网格\n"
        "/category 编号 类别 — 更正诉求类别（如 停车交通），帮助系统学会正确分类\n"
        "/reject 编号 原因 — 不予受理并说明原因\n"
        "/file — 在群里回复某条消息发送，把它登记为诉求\n"
        "/visit 住址 情况 — 记录一次入户走访（情况以 #诉求 开头则同时登记为诉求）\n"
        "/due — 本周按走访计划应走访的住户\n"
        "/approve 编号、/decline 编号 — 同意或拒绝居民的绑定申请\n"
        "/unbind 住址 [序号] — 查看或解除某户已绑定的成员\n"
        "/household 住址 — 查看一户一档：成员、标签、诉求、走访\n"
        "/digest week|month|quarter — 民情分析周报、月报、季报（社区、街道领导）"
    ),
}

# Errors and refusals
EMPTY_POST = "没有收到内容哦，请用文字描述一下您遇到的问题。"
NO_WORDS = "没看懂您的意思 🙏 请用文字描述一下您遇到的问题，比如“3幢楼道灯坏了”。"
TOO_LONG = "内容太长了（超过 {limit} 字），请精简一下或分几条发送。"
UNKNOWN_COMMAND = "没有这个命令。发送 /help 查看可用命令。"
NOT_ALLOWED = "抱歉，{role}不能使用 {command} 命令。"
PRIVATE_ONLY = "为保护隐私，请在与我的私聊中使用 {command}。"
GROUP_ONLY = "{command} 需要在群里回复某条消息时使用。"
USAGE = {
    "bind": "用法：/bind 住址 手机号后四位，例如 /bind 3幢2单元301 5678（不带数字则请网格员确认）",
    "unbind": "用法：/unbind 住址 查看该户已绑定的成员；/unbind 住址 序号 解除其中一人的绑定",
    "approve": "用法：/approve 申请编号，例如 /approve 12",
    "household": "用法：/household 住址，例如 /household 3幢2单元301",
    "decline": "用法：/decline 申请编号，例如 /decline 12",
    "join": "用法：/join 邀请码",
    "case": "用法：/case 编号，例如 /case MQ-2026-000123",
    "reply": "用法：/reply 编号 回复内容",
    "resolve": "用法：/resolve 编号 办理结果",
    "transfer": "用法：/transfer 编号 网格编号 原因",
    "category": "用法：/category 编号 类别，例如 /category MQ-2026-000123 停车交通",
    "reject": "用法：/reject 编号 原因",
    "rate": "用法：/rate 编号 满意|基本满意|不满意",
    "file": "用法：在群里回复居民的那条消息，发送 /file",
    "visit": "用法：/visit 住址 走访情况，例如 /visit 3幢2单元301 上门了解独居老人近况，身体良好",
}
BAD_CASE_CODE = "编号“{code}”格式不对，正确格式如 MQ-2026-000123。"
CASE_NOT_FOUND = "没有找到编号为 {code} 的诉求，或您无权查看。"
CASE_NOT_IN_SCOPE = "诉求 {code} 不在您的负责范围内。"
CASE_ALREADY_FINAL = "诉求 {code} 当前状态为“{status}”，不能再{action}。"
GRID_NOT_FOUND = "没有找到网格“{grid}”。"
SAME_GRID = "诉求 {code} 已经在网格 {grid}。"
CATEGORY_UNKNOWN = "没有“{category}”这个类别。可选类别：{choices}。"
SAME_CATEGORY = "诉求 {code} 的类别已经是“{category}”。"
RECATEGORISED_OK = "已将诉求 {code} 的类别由“{old}”更正为“{new}”。谢谢，系统会从您的更正中学习。"
ADDRESS_UNREADABLE = "没能识别这个住址。请按“幢-单元-室”的格式填写，例如 3幢2单元301 或 3-2-301。"
ADDRESS_UNKNOWN = "没有找到住址 {address} 的住户档案。请核对后再试，或联系网格员登记。"
ADDRESS_AMBIGUOUS = "多个社区都有住址 {address}，请在前面加上社区名，例如 /bind 桂花社区 {address}。"
OFFICER_NO_BIND = "工作人员账号无需绑定住址。"
ALREADY_OFFICER = "您已登记为{role}，无需再次使用邀请码。"
INVITE_INVALID = "邀请码无效或已被使用，请向管理员重新申请。"
INVITE_EXPIRED = "邀请码已过期，请向管理员重新申请。"
NOT_REPORTER = "只有反映这件事的居民本人可以评价。"
NOT_RESOLVED_YET = "诉求 {code} 还没有办结，办结后再评价吧。"
ALREADY_RATED = "您已经评价过诉求 {code}，谢谢！"
RATING_UNKNOWN = "评价只能是：满意、基本满意、不满意。"
FILE_NEEDS_TEXT = "这条消息没有可登记的内容。"
VISIT_LOGGED = "已记入 {address} 的户档案：走访记录。"
VISIT_HOUSEHOLD_UNKNOWN = "您负责的范围内没有找到住址 {address} 的住户档案。"
PHOTO_NEEDS_TEXT = "收到您发的图片/文件了 🙏 请再用一句话说明是什么问题、在哪里，我好帮您登记。"
NOT_IN_GROUP_SCOPE = "这个群所属的社区不在您的负责范围内。"
ALREADY_FILED = "这条消息已登记为诉求 {code}。"

# Success
BOUND = "绑定成功：{address}（{community}）。以后您反映的事项会直接交给负责您家的网格员。"
JOINED = "欢迎您，{name}！您已登记为{role}（{scope}）。发送 /help 查看可用命令。"
REPLY_SENT = "已回复诉求 {code}。"
RESOLVED_OK = "诉求 {code} 已办结，已请居民评价。"
TRANSFERRED_OK = "诉求 {code} 已转至网格 {grid}。"
REJECTED_OK = "诉求 {code} 已标记为不予受理，并已告知居民。"
FILED_BY_OFFICER = "已将该消息登记为诉求 {code}。"
RATED = "感谢您的评价（{rating}）！"
RATED_REOPEN = "很抱歉没能让您满意，诉求 {code} 已重新交办，网格员会尽快再联系您。"
NO_CASES_RESIDENT = "您还没有反映过事项。有事直接发给我就行。"
NO_CASES_OFFICER = "您负责范围内暂时没有待办诉求 👍"
UNLINKED_GROUP = (
    "大家好，我是民情通小助手。本群还没有关联到社区，暂时无法登记诉求。\n"
    "请管理员运行：minqing groups link --platform {platform} --chat-id {chat_id} --community 社区编号"
)


def duration(delta: timedelta, *, working: bool = False) -> str:
    minutes = int(delta.total_seconds() // 60)
    if working and minutes % 1440 == 0:
        return f"{minutes // 1440}个工作日"
    if minutes < 60:
        return f"{minutes}分钟"
    if minutes % 60 == 0:
        return f"{minutes // 60}小时"
    return f"{minutes // 60}小时{minutes % 60}分钟"


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%m月%d日 %H:%M")


#: The last line of a critical case's acknowledgement.
EMERGENCY_CALL = "如有人身危险，请立即拨打 110 / 119 / 120！"


def ack(code: str, category_name: str, promise: str, *, critical: bool) -> str:
    text = f"已受理 {code} · {category_name} · 网格员将在{promise}内回复"
    if critical:
        text += "\n已同时通知网格长。" + EMERGENCY_CALL
    return text


def ack_unbound(code: str, category_name: str, promise: str, *, critical: bool) -> str:
    return ack(code, category_name, promise, critical=critical) + "\n小提示：私聊我发送 /bind 住址 绑定后，处理会更快。"


def notify_new_case(
    *, code: str, category_name: str, urgency: str, household: str, text: str, due: str, critical: bool
) -> str:
    head = "【紧急诉求】" if critical else "【新诉求】"
    return (
        f"{head}{code} · {category_name} · {URGENCY_NAMES.get(urgency, urgency)}\n"
        f"住户：{household}\n"
        f"内容：{text}\n"
        f"首次回复时限：{due}\n"
        f"回复请发送：/reply {code} 回复内容"
    )


def reply_to_resident(code: str, text: str) -> str:
    return f"【{code} 回复】{text}"


def resolved_to_resident(code: str, text: str) -> str:
    return f"【{code} 已办结】{text}\n请对这次办理做个评价："


def rejected_to_resident(code: str, reason: str) -> str:
    return f"【{code}】经核实，这件事不属于社区受理范围：{reason}\n如有疑问，欢迎继续反映。"


def transferred_to_officer(code: str, from_grid: str, reason: str) -> str:
    return f"【转办】诉求 {code} 由网格 {from_grid} 转来，原因：{reason}\n发送 /case {code} 查看详情。"


def reopened_to_officer(code: str) -> str:
    return f"【重新办理】居民对诉求 {code} 的办理结果不满意，请尽快再次联系处理。"


def case_line(code: str, status: str, category_name: str, due: str, text: str) -> str:
    return f"{code} · {STATUS_NAMES.get(status, status)} · {category_name} · 时限 {due}\n  {text}"


def case_detail(
    *, code: str, status: str, category_name: str, urgency: str, created: str, text: str, history: list[str]
) -> str:
    lines = [
        f"诉求 {code}",
        f"状态：{STATUS_NAMES.get(status, status)}",
        f"类别：{category_name} · {URGENCY_NAMES.get(urgency, urgency)}",
        f"提交时间：{created}",
        f"内容：{text}",
    ]
    if history:
        lines.append("办理记录：")
        lines.extend(f"  {line}" for line in history)
    return "\n".join(lines)


# Telegram command menus (setMyCommands): what each audience sees when typing "/".
COMMAND_MENUS = {
    "resident": (
        ("start", "开始使用民情通"),
        ("bind", "绑定我家住址，例如 /bind 3幢2单元301"),
        ("my", "我反映过的事项和办理进度"),
        ("case", "查看某件事项的详情"),
        ("join", "工作人员凭邀请码登记"),
        ("help", "使用说明"),
    ),
    "group": (
        ("report", "反映一件事，例如 /report 3幢楼道灯坏了"),
        ("help", "使用说明"),
    ),
    "officer": (
        ("cases", "我负责范围内待办的诉求"),
        ("case", "诉求详情和办理记录"),
        ("reply", "回复居民：/reply 编号 内容"),
        ("resolve", "办结并请居民评价：/resolve 编号 结果"),
        ("transfer", "转给其他网格：/transfer 编号 网格 原因"),
        ("category", "更正类别：/category 编号 类别"),
        ("reject", "不予受理：/reject 编号 原因"),
        ("help", "使用说明"),
    ),
}
SOMETHING_WENT_WRONG = "抱歉，系统出了点问题，您的消息没有处理成功，请稍后再发一次。"


# ---------------------------------------------------------------------------------------------------
# Overdue alerts (issue 5)

DEADLINE_NAMES = {"first_reply": "首次回复", "resolution": "办结"}
_ALERT_HEADS = {1: "【超时提醒】", 2: "【超时督办】", 3: "【超时上报】"}


def overdue_alert(
    *,
    kind: str,
    level: int,
    code: str,
    category_name: str,
    due: str,
    late: str,
    assignee: str,
    critical: bool,
    history: Sequence[str] = (),
) -> str:
    """提醒 the assignee to act (level 1), 督办: the chief chases the named officer (2), 上报 to the
    leader with the case's history (3). A critical case's first alert also reaches the chief."""
    head = ("【紧急】" if critical else "") + _ALERT_HEADS.get(level, "【超时上报】")
    what = DEADLINE_NAMES.get(kind, kind)
    lines = [f"{head}诉求 {code} · {category_name}", f"{what}时限：{due}（已超时{late}）"]
    who = assignee or "未分派"
    if level == 1:
        lines.append(
            f"请尽快处理：/reply {code} 回复内容"
            if kind == "first_reply"
            else f"办结后请发送：/resolve {code} 办理结果"
        )
        if critical:
            lines.append(f"（已同时告知网格长，请督促承办网格员 {who}）")
    elif level == 2:
        lines.append(f"承办网格员 {who} 尚未{what}，请您督促其尽快办理。发送 /case {code} 查看详情。")
    else:
        lines.append(f"已逐级提醒、督办仍未{what}，现上报。承办网格员：{who}。")
        if history:
            lines.append("办理经过：")
            lines += [f"  {line}" for line in history[-8:]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# 民情分析 digests (issue 5)

DIGEST_KIND_NAMES = {"week": "周报", "month": "月报", "quarter": "季报"}
DIGEST_USAGE = "用法：/digest week|month|quarter（周报、月报或季报，默认周报）"
DIGEST_NO_SCOPE = "您的账号没有对应的社区或街道，无法生成民情分析。"
DIGEST_SCOPE_UNKNOWN = "没有找到社区或街道“{scope}”。"
DIGEST_CHART_CAPTION = "{title} · 图表"
POLARITY_NAMES = {"negative": "负面", "neutral": "中性", "positive": "正面"}
UNROUTED_GRID = "未定网格"
UNASSIGNED_OFFICER = "未分派"
CHART_TITLES = {
    "categories": "诉求类别（本期 vs 上期）",
    "grids": "各网格诉求量",
    "trend": "近期诉求量与负面占比",
    "current": "本期",
    "previous": "上期",
    "cases": "件数",
    "negative": "负面占比",
    "ago": "前{n}期",
}


def period_label(kind: str, start: datetime, last_day: datetime) -> str:
    """``start`` and ``last_day`` are local times; the period includes ``last_day``."""
    if kind == "month":
        return f"{start.year}年{start.month}月"
    if kind == "quarter":
        return f"{start.year}年第{(start.month - 1) // 3 + 1}季度（{start.month}月—{last_day.month}月）"
    return f"{start.year}年{start.month}月{start.day}日—{last_day.month}月{last_day.day}日"


def digest_title(kind: str, scope_name: str, period: str) -> str:
    return f"【民情分析·{DIGEST_KIND_NAMES.get(kind, kind)}】{scope_name} · {period}"


def digest_empty(backlog_open: int, backlog_overdue: int) -> str:
    text = "本期没有收到居民诉求。"
    if backlog_open:
        text += f"\n目前仍有待办诉求 {backlog_open} 件，其中超时 {backlog_overdue} 件。"
    return text


def percent(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "—"


def change(current: int, previous: int) -> str:
    """比上期: a relative change, or the plain difference when the last period had none."""
    if previous == 0:
        return "上期为 0" if current else "与上期持平"
    if current == previous:
        return "与上期持平"
    arrow = "增加" if current > previous else "减少"
    return f"比上期（{previous} 件）{arrow} {abs(current - previous) * 100 / previous:.1f}%"


def minutes_text(minutes: float | None) -> str:
    if minutes is None:
        return "—"
    whole = round(minutes)
    days, rest = divmod(whole, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}天" if days else "", f"{hours}小时" if hours else "", f"{mins}分钟" if mins and not days else ""]
    return "".join(parts) or "不到1分钟"


def digest_overview(
    *,
    total: int,
    previous_total: int,
    closed: int,
    closed_on_time: int,
    open_overdue: int,
    median_first_reply: float | None,
    median_resolution: float | None,
    satisfied: int,
    rated: int,
    rateable: int,
    backlog_open: int,
    backlog_overdue: int,
) -> str:
    return "\n".join(
        [
            "一、总体情况",
            f"本期受理诉求 {total} 件，{change(total, previous_total)}。",
            f"已办结 {closed} 件，其中按时办结 {closed_on_time} 件；仍超时未办结 {open_overdue} 件；"
            f"按时办结率 {percent(closed_on_time, closed + open_overdue)}。",
            f"首次回复用时中位数 {minutes_text(median_first_reply)}，"
            f"办结用时中位数 {minutes_text(median_resolution)}。",
            f"满意率 {percent(satisfied, rated)}（{rated} 件有评价，“满意”与“基本满意”计为满意）；"
            f"参评率 {percent(rated, rateable)}（已办结诉求中居民评价的比例，未评价的不计入满意率）。",
            f"期末待办 {backlog_open} 件，其中超时 {backlog_overdue} 件。",
        ]
    )


def count_line(name: str, current: int, previous: int) -> str:
    if previous == current:
        trend = "持平"
    elif previous == 0:
        trend = "新出现"
    else:
        trend = f"{'↑' if current > previous else '↓'}{abs(current - previous) * 100 / previous:.0f}%"
    return f"  {name} {current} 件（上期 {previous}，{trend}）"


DIGEST_CATEGORIES = "二、诉求类别"
DIGEST_INTENTS = "三、诉求性质"
DIGEST_HOT = "四、热点与反复出现的事项"
DIGEST_NO_HOT = "  本期没有明显的热点或重复反映。"


def hot_keywords(items: list[tuple[str, int]], *, estimated: bool = False) -> str:
    head = "  热词（抽样估计）：" if estimated else "  热词："
    return head + "、".join(f"{word}（{'约' if estimated else ''}{count}）" for word, count in items)


def hot_places(items: list[tuple[str, int]]) -> str:
    return "  反复出现的地点：" + "、".join(f"{place}（{count}次）" for place, count in items)


def repeated_household(label: str, count: int, categories: str) -> str:
    return f"  同一住户多次反映：{label}（{count} 件：{categories}）"


DIGEST_MOOD = "五、群众情绪"


def mood_line(
    *, negative: int, neutral: int, positive: int, total: int, previous_negative: int, previous_total: int
) -> str:
    now_share = negative * 100 / total if total else 0.0
    trend = ""
    if previous_total:
        before = previous_negative * 100 / previous_total
        delta = now_share - before
        trend = f"（上期 {before:.1f}%，{'上升' if delta > 0 else '下降' if delta < 0 else '持平'}"
        trend += f" {abs(delta):.1f} 个百分点）" if delta else "）"
    return (
        f"  负面 {percent(negative, total)}{trend}，中性 {percent(neutral, total)}，正面 {percent(positive, total)}。"
    )


def intensity_line(current: float | None, previous: float | None) -> str:
    if current is None:
        return "  本期没有负面诉求。"
    text = f"  负面诉求的平均情绪强度 {current:.2f}"
    if previous is not None:
        text += f"（上期 {previous:.2f}）"
    return text + "。"


def trend_line(items: list[tuple[str, int, str]]) -> str:
    """(period label, cases, negative share) for the last few periods, oldest first."""
    return "  近期走势：" + " → ".join(f"{label} {cases}件/负面{share}" for label, cases, share in items)


DIGEST_CRITICAL = "六、紧急事项"
DIGEST_NO_CRITICAL = "  本期没有紧急诉求。"


def critical_head(count: int) -> str:
    return f"  紧急诉求 {count} 件："


def critical_line(code: str, category_name: str, status: str) -> str:
    return f"  · {code} {category_name}（{STATUS_NAMES.get(status, status)}）"


DIGEST_GRIDS = "七、各网格"


def grid_line(name: str, cases: int, previous: int, on_time: str, satisfaction: str, overdue: int) -> str:
    return (
        f"  {name}：{cases} 件（上期 {previous}） · 按时办结率 {on_time} · 满意率 {satisfaction}"
        f" · 超时未办 {overdue} 件"
    )


UNIT_RANKING_ALL = "按时报到率排名"
UNIT_RANKING_BEST = "按时报到率前五"
UNIT_RANKING_WORST = "按时报到率后五"
UNIT_RANKING_COUNTED = "已报到或逾期未报到"
# --- issue 15: the digest's section on units (逆向考核 of departments and outside units) ---------
DIGEST_UNITS = "十二、相关单位（吹哨报到）"
UNDER_A_MINUTE = "不到1分钟"


def unit_line(
    name: str,
    *,
    whistled: int,
    on_time: str,
    median: str,
    returned: int,
    extensions: int,
    satisfaction: str,
    waiting: int,
) -> str:
    return (
        f"  {name}：本期吹哨 {whistled} 件 · 按时报到率 {on_time} · 报到用时中位数 {median}"
        f" · 退单 {returned} 件 · 延期 {extensions} 次 · 满意率 {satisfaction} · 目前在办 {waiting} 件"
    )


RANKING_ALL = "按时办结率排名"
RANKING_BEST = "按时办结率前五"
RANKING_WORST = "按时办结率后五"


def ranking_line(title: str, names: list[tuple[str, str]], min_sample: int, *, counted: str = "已办结或超时") -> str:
    if not names:
        return f"  {title}：样本不足（需至少 {min_sample} 件{counted}），暂不排名。"
    return f"  {title}（样本≥{min_sample} 件）：" + "，".join(f"{i}. {n} {v}" for i, (n, v) in enumerate(names, 1))


DIGEST_OFFICERS = "八、网格员"
DIGEST_OTHER_HANDLERS = "  其他承办人（社区、街道及单位，不参与网格员排名）："


def officer_line(name: str, cases: int, closed: int, on_time: str, satisfaction: str) -> str:
    return f"  {name}：承办 {cases} 件，办结 {closed} 件 · 按时办结率 {on_time} · 满意率 {satisfaction}"


DIGEST_WARNINGS = "九、动态预警"
DIGEST_NO_WARNINGS = "  本期没有明显异常。"


def warning_line(grid: str, category_name: str, current: int, baseline: float) -> str:
    if baseline < 0.05:
        return f"  ⚠ {grid} {category_name} {current} 件，此前几期几乎没有，请关注。"
    return (
        f"  ⚠ {grid} {category_name} {current} 件，是此前几期平均（{baseline:.1f} 件）的 {current / baseline:.1f} 倍。"
    )


DIGEST_CONTINUED = "（续 {part}/{parts}）"


# ---------------------------------------------------------------------------------------------------
# WeChat Official Account (bot/wechat): answers to messages the core never sees, and quick replies.

WECHAT_UNSUPPORTED = "暂时只能处理文字、语音和图片消息 🙏 请用文字描述一下您遇到的问题，比如“3幢楼道灯坏了”。"
WECHAT_VOICE_UNRECOGNISED = "收到您的语音，但没能识别出文字 🙏 请用文字再发一次，我好帮您登记。"
WECHAT_LOCATION = "收到您发的位置（{label}）🙏 请再用一句话说明是什么问题，我好帮您登记。"
WECHAT_RATE_HINT = "也可以直接回复：评价 {code} 满意 / 基本满意 / 不满意"


# ---------------------------------------------------------------------------------------------------
# WeCom intelligent robot (bot/wecom): answers to messages the core never sees, and template cards.

WECOM_UNSUPPORTED = "暂时只能处理文字、语音和图片消息 🙏 请@我并用文字描述一下您遇到的问题，比如“3幢楼道灯坏了”。"
WECOM_CARD_TITLE = "请为本次办理评价"
WECOM_RATE_HINT = "也可以@我回复：/rate {code} 满意 / 基本满意 / 不满意"

# --- issue 12: sure-or-ask categories -------------------------------------------------------------
CATEGORY_CONFIRMED = "已确认诉求 {code} 的类别为“{category}”。谢谢，系统会从您的确认中学习。"
#: Shown beside a category the model was unsure of, until an officer confirms it.
UNCONFIRMED_MARK = "（待确认）"
CONFIRM_CATEGORY_HINT = (
    "系统对类别把握不大，请点选正确的类别确认，或回复类别前的数字（也可发送：/category {code} 类别名称）。"
)
OTHER_CATEGORY_BUTTON = "其他类别…"
CATEGORY_CHOICES = "请发送 /category {code} 类别名称 来确认，可选类别：{choices}。"
CATEGORY_CONFIRM_TOAST = "已确认类别"

#: The lexicon's emotion families (analysis.sentiment.EMOTIONS) as a leader reads them.
EMOTION_NAMES = {
    "anger": "愤怒",
    "sadness": "悲伤",
    "fear": "担忧",
    "disgust": "厌恶",
    "joy": "喜悦",
    "good": "认可",
    "surprise": "惊讶",
}


def emotions_line(emotions: tuple[tuple[str, int], ...], total: int) -> str:
    """The commonest emotions of the period (each case counted by its strongest), at most four."""
    parts = [f"{EMOTION_NAMES.get(code, code)} {percent(count, total)}" for code, count in emotions[:4]]
    return "  主要情绪：" + "，".join(parts) + "。"


def confirmation_line(unconfirmed: int, total: int) -> str:
    """How many of the period's cases still wait for an officer to confirm their category."""
    return f"  类别已确认 {total - unconfirmed} 件，待确认 {unconfirmed} 件。"


# --- issue 13: verified binding and the failed-attempt throttle
TOO_MANY_ATTEMPTS = "为保护住户隐私，尝试次数过多，请 {minutes} 分钟后再试。如有疑问请联系网格员。"
ALREADY_MEMBER = "您已绑定 {address}（{community}），无需重复绑定。"
BIND_DIGITS_WRONG = (
    "手机号后四位与 {address} 档案登记的电话不一致，未能绑定。\n"
    "如果档案里登记的不是您的电话，可以只发送住址（/bind {address}），由网格员确认。"
)
BIND_NOBODY_TO_ASK = "这户目前没有网格员可以确认绑定，请带上档案登记电话的后四位再试，或联系社区。"
BIND_REQUESTED = "已请负责 {address} 的网格员确认您的身份，确认后会通知您。也可以带上档案登记电话的后四位直接绑定。"
BIND_REQUESTED_NO_PHONE = "{address} 的档案没有登记电话，已请网格员确认您的身份，确认后会通知您。"
BIND_REQUEST_UNKNOWN = "没有编号为 {number} 的绑定申请。"
BIND_REQUEST_NOT_YOURS = "绑定申请 {number} 不在您的负责范围内。"
BIND_REQUEST_DONE = "绑定申请 {number} 已经处理过了。"
BIND_APPROVED_OK = "已同意绑定申请 {number}：{name} 绑定为 {address} 的住户。"
BIND_DECLINED_OK = "已拒绝绑定申请 {number}（{name} → {address}），已告知申请人。"
BIND_DECLINED = "网格员未能确认您是 {address} 的住户，绑定没有完成。如有疑问请联系社区居委会。"
NO_MEMBERS = "{address} 目前没有已绑定的成员。"
MEMBERS_HEAD = "{address} 已绑定的成员（解除绑定请发送 /unbind 住址 序号）："
MEMBER_NUMBER_UNKNOWN = "没有序号 {number}，这户共有 {count} 名已绑定成员。"
UNBOUND_OK = "已解除 {name} 与 {address} 的绑定。"
UNBOUND_TO_RESIDENT = "您与 {address} 的绑定已由网格员解除。如有疑问请联系社区居委会。"
VERIFIED_VIA_NAMES = {"phone": "手机号验证", "officer": "网格员确认"}


def bind_request_to_officer(number: int, name: str, address: str, community: str) -> str:
    return (
        f"【绑定申请 {number}】居民“{name or '未署名'}”申请绑定为 {community} {address} 的住户。\n"
        f"如确认是这户的家庭成员，请点“同意”（或发送 /approve {number}）；否则点“拒绝”（或 /decline {number}）。"
    )


def member_line(number: int, name: str, via: str, at: datetime | None, zone: ZoneInfo) -> str:
    when = local_time(at, zone) if at is not None else ""
    return f"{number}. {name or '未署名'} · {VERIFIED_VIA_NAMES.get(via, via)} · {when}"


# --- issue 13: Chinese labels for the admin's command line and the demo's summary
CASE_EVENT_NAMES = {
    "filed": "登记",
    "filed_by_officer": "网格员登记",
    "replied": "回复",
    "resolved": "办结",
    "transferred": "转办",
    "rejected": "不予受理",
    "rated": "居民评价",
    "recategorised": "类别更正",
}
MESSAGE_KIND_NAMES = {
    "ack": "受理回执",
    "reply": "回复",
    "notify": "通知",
    "alert": "超时提醒",
    "digest": "民情分析",
    "notice": "群公告",
}

# --- issue 13: the household file (一户一档)
HOUSEHOLD_HEAD = "【户档案】{community} {address}（网格 {grid}）"
HOUSEHOLD_HEAD_OF = "户主：{name} · 电话：{phone}"
HOUSEHOLD_TAGS = "标签：{tags}"
HOUSEHOLD_MEMBERS = "已绑定成员 {count} 人：{names}"
HOUSEHOLD_CASES = "诉求 {count} 件（评价 {rated} 件，其中满意 {satisfied} 件）："
HOUSEHOLD_VISITS = "走访 {count} 次："
REGISTER_COLUMNS = (
    "楼栋", "单元", "房号", "户主", "电话", "标签", "绑定成员",
    "诉求数", "未办结", "已评价", "满意", "走访次数", "最近走访",
)  # fmt: skip
HOUSEHOLD_CASE_COLUMNS = ("登记日期", "编号", "类别", "状态", "办理结果", "评价", "内容")
HOUSEHOLD_VISIT_COLUMNS = ("走访日期", "走访人", "情况")
COMMUNITY_UNKNOWN = "没有编号为 {code} 的社区。"

# --- issue 13: visits that count (走街不漏户)
NO_VISITS_DUE = "本周您负责的住户都已按计划走访，辛苦了 👍"
VISITS_DUE_HEAD = "【走访提醒】本周应走访 {count} 户（按走访计划，逾期最久的在前）："
VISITS_DUE_MORE = "……另有 {count} 户，请发送 /due 查看。"
VISITS_DUE_FOOT = "走访后请发送 /visit 住址 情况 记录；发现问题可写 /visit 住址 #诉求 问题描述，直接登记为诉求。"
VISIT_FILED = "已记入 {address} 的户档案，并登记为诉求 {code}。"
DIGEST_VISITS = "十、走访覆盖（本期走访过的住户 / 住户总数）"
DIGEST_NO_HOUSEHOLDS = "  本范围还没有住户档案。"


def visit_coverage_line(grid: str, visited: int, households: int, not_visited: int) -> str:
    share = f"{visited / households:.0%}" if households else "—"
    return f"  {grid}：走访 {visited}/{households} 户（{share}），未走访 {not_visited} 户"


# --- issue 13: 回访 and 知晓率 by random sample
AWARENESS_QUESTION = (
    "【民情调查】您好！社区每月随机抽取部分住户，了解网格服务情况，请您点按钮回答两个问题：\n"
    "1. 您知道负责您家的网格员是谁吗？\n"
    "2. 您反映过的事情有回音吗？"
)
SURVEY_REMINDER = "【温馨提醒】还没有收到您的回答，方便时点一下按钮就好（只提醒这一次），谢谢！"
SURVEY_NOT_YOURS = "这份调查不是发给您的，谢谢关注。"
SURVEY_ALREADY = "这个问题您已经回答过了，谢谢！"
SURVEY_ONE_MORE = "收到！还有一个问题，点一下按钮就好。"
SURVEY_THANKS = "感谢您的反馈！您的回答会帮助我们改进工作。"


def followup_question(code: str, when: str) -> str:
    return (
        f"【回访】您好！您{when}反映的事项 {code} 已办结。社区每月随机抽取部分办结事项回访"
        "（与经办人无关），请您点按钮回答两个问题：\n1. 问题解决了吗？\n2. 您对办理结果满意吗？"
    )


DIGEST_SURVEYS = "十一、随机抽样回访与知晓率（每月按网格随机抽取，与经办人无关）"


def followup_line(asked: int, answered: int, response: str, solved: str, satisfied: str, own: str) -> str:
    return (
        f"  回访：抽访 {asked} 人，已回答 {answered} 人（回答率 {response}）；问题已解决 {solved}，"
        f"回访满意率 {satisfied}（居民自评满意率 {own}）"
    )


def awareness_line(asked: int, answered: int, response: str, knows: str, heard: str) -> str:
    return (
        f"  知晓率：抽访 {asked} 人，已回答 {answered} 人（回答率 {response}）；知道自己的网格员 {knows}，"
        f"反映的事有回音 {heard}"
    )


# ---------------------------------------------------------------------------------------------------
# 吹哨报到 (issue 15): units, the whistle loop, internal notes and 督办, duplicates and merging,
# closing without a rating, handover and 代办. Everything here goes to staff unless it says resident.

ROLE_NAMES.update({"unit_liaison": "单位联络员", "unit_head": "单位负责人"})
STATUS_NAMES.update({"escalated": "已吹哨交办"})
UNIT_STATE_NAMES = {
    "whistled": "待报到",
    "accepted": "已报到办理中",
    "returned": "已退单",
    "done": "单位已办结待核实",
    "verified": "已核实结项",
}
EVENT_NAMES.update(
    {
        "whistled": "吹哨交办",
        "accepted": "单位报到",
        "returned": "单位退单",
        "extension_asked": "单位申请延期",
        "extension_approved": "延期已批准",
        "unit_done": "单位办结",
        "sent_back": "核实未通过，退回单位",
        "verified": "网格员核实结项",
        "note": "内部备注",
        "supervised": "领导督办",
        "handed_over": "移交",
        "merged": "合并",
        "unrated_closed": "未评价，自动关闭",
    }
)
#: Events residents never see in /case (staff-only and unit-internal steps).
INTERNAL_EVENTS = frozenset(
    {"note", "supervised", "handed_over", "accepted", "extension_asked", "extension_approved", "unit_done",
     "sent_back", "returned", "filed_by_officer"}
)  # fmt: skip
#: How residents see the steps they may see, without the staff's wording.
RESIDENT_EVENT_TEXT = {"whistled": "已交相关单位办理", "verified": "已办结（网格员已上门核实）"}
COMMAND_MENUS["unit"] = (
    ("cases", "交给本单位办理的诉求"),
    ("case", "诉求详情和办理记录"),
    ("accept", "报到接单：/accept 编号"),
    ("return", "退单：/return 编号 原因"),
    ("done", "办结：/done 编号 办理情况"),
    ("extend", "申请延期：/extend 编号 天数 原因"),
    ("note", "内部备注：/note 编号 内容"),
    ("help", "使用说明"),
)
COMMAND_MENUS["officer"] = (
    *COMMAND_MENUS["officer"][:-1],
    ("whistle", "吹哨交给部门或单位：/whistle 编号 单位 原因"),
    ("verify", "核实单位办理结果：/verify 编号 情况"),
    ("note", "内部备注（居民看不到）：/note 编号 内容"),
    COMMAND_MENUS["officer"][-1],
)
HELP["unit"] = (
    "可用命令（单位联络员）：\n"
    "/cases — 交给本单位办理的诉求\n"
    "/case 编号 — 诉求详情和办理记录\n"
    "/accept 编号 — 报到，接单办理\n"
    "/return 编号 原因 — 不属于本单位，退回网格员\n"
    "/done 编号 办理情况 — 办结，请网格员上门核实\n"
    "/extend 编号 天数 原因 — 申请延期（网格长批准）\n"
    "/note 编号 内容 — 内部备注（居民看不到）"
)
HELP["officer"] += (
    "\n/whistle 编号 单位 原因 — 吹哨，交给部门或单位办理（/whistle 编号 可看推荐单位）\n"
    "/verify 编号 情况 — 上门核实单位办理结果并结项；/sendback 编号 原因 — 核实未通过，退回单位\n"
    "/grant 编号 — 批准单位的延期申请（网格长）\n"
    "/note 编号 内容 — 内部备注（居民看不到）；/supervise 编号 [天数] 要求 — 督办单（领导）\n"
    "/merge 编号 INTO 主编号 — 重复诉求并入另一件\n"
    "/new 住址 内容 — 替居民登记（代办），如 /new 3幢2单元301 楼道灯坏了"
)
USAGE.update(
    {
        "whistle": "用法：/whistle 编号 单位编号或名称 原因（只发 /whistle 编号 可看推荐单位）",
        "accept": "用法：/accept 编号",
        "return": "用法：/return 编号 原因",
        "done": "用法：/done 编号 办理情况",
        "extend": "用法：/extend 编号 天数 原因，例如 /extend MQ-2026-000123 3 等待配件",
        "grant": "用法：/grant 编号（批准单位的延期申请）",
        "verify": "用法：/verify 编号 核实情况",
        "sendback": "用法：/sendback 编号 原因",
        "note": "用法：/note 编号 内容（内部备注，居民看不到）",
        "supervise": "用法：/supervise 编号 [天数] 督办要求，例如 /supervise MQ-2026-000123 2 请本周内解决",
        "merge": "用法：/merge 编号 INTO 主编号",
        "new": "用法：/new 住址 内容，例如 /new 3幢2单元301 楼道灯不亮",
    }
)
UNIT_NOT_FOUND = "没有找到单位“{unit}”。可选单位：{choices}。"
UNIT_NOT_SERVING = "{unit}不负责这个社区，请选择其他单位。"
UNIT_SUGGESTED = (
    "诉求 {code}（{category}）建议交给：{unit}（{unit_code}）。\n确认请发送：/whistle {code} {unit_code} 原因"
)
UNIT_NO_SUGGESTION = "没有找到适合诉求 {code} 的单位。可选单位：{choices}。"
NO_UNITS = "还没有登记任何单位（管理员可用 minqing units add 添加）"
NOT_WITH_UNIT = "诉求 {code} 目前不在单位办理中。"
UNIT_STEP_REFUSED = "诉求 {code} 当前为“{state}”，不能{action}。"
EXTENSION_DAYS = "延期天数请填 1 到 30 之间的整数。"
NO_EXTENSION_ASKED = "诉求 {code} 没有待批准的延期申请。"
APPROVER_ONLY = "延期申请由网格长或社区、街道领导批准。"
WHISTLED_OK = "已吹哨：诉求 {code} 交给{unit}办理，报到时限 {due}。"
ACCEPTED_OK = "已报到：诉求 {code}，请于 {due} 前办结（/done {code} 办理情况）。"
RETURNED_OK = "已退单：诉求 {code} 已退回网格员。"
DONE_OK = "已报办结：诉求 {code}，网格员将上门核实。"
EXTEND_ASKED_OK = "已申请延期 {days} 天，等待网格长批准。"
APPROVED_OK = "已批准诉求 {code} 延期 {days} 天，新的办结时限 {due}。"
VERIFIED_OK = "诉求 {code} 已核实结项，已请居民评价。"
SENT_BACK_OK = "已退回{unit}重新办理：诉求 {code}。"
NOTE_OK = "已记下内部备注（居民看不到）：诉求 {code}。"
SUPERVISED_OK = "已向承办人发出督办单：诉求 {code}，时限 {due}。"
SUPERVISE_DAYS = "督办天数请填 1 到 30 之间的整数。"
NOBODY_TO_SUPERVISE = "诉求 {code} 暂无承办人，无法督办。"
MERGE_USAGE_SAME = "不能把诉求并入它自己。"
MERGED_OK = "已将诉求 {code} 并入 {main}，今后 {main} 的回复和评价邀请也会发给该居民。"
MERGE_TARGET_CLOSED = "主诉求 {main} 已经{status}，不能再并入。"
NEW_FOR_HOUSEHOLD_UNKNOWN = "您负责的范围内没有找到住址 {address} 的住户档案，请核对后再试。"
NEW_NEEDS_TEXT = "请在住址后面写上要登记的内容，例如 /new 3幢2单元301 楼道灯不亮。"
RATED_MAIN_ALREADY = "诉求 {code} 已由其他居民评价并关闭，谢谢您的关注！"


def whistle_to_unit(
    *, code: str, category_name: str, place: str, text: str, reason: str, officer: str, due: str
) -> str:
    return (
        f"【吹哨】诉求 {code} · {category_name}\n"
        f"地点：{place}\n"
        f"内容：{text}\n"
        f"网格员 {officer} 请贵单位协助：{reason}\n"
        f"请于 {due} 前报到：/accept {code}；不属于贵单位请退单：/return {code} 原因"
    )


def accepted_to_officer(code: str, unit: str, due: str) -> str:
    return f"【报到】{unit}已接单诉求 {code}，办结时限 {due}。"


def returned_to_officer(code: str, unit: str, reason: str) -> str:
    return f"【退单】{unit}退回了诉求 {code}：{reason}\n请重新处理，或用 /whistle {code} 单位 原因 交给其他单位。"


def done_to_officer(code: str, unit: str, text: str, due: str) -> str:
    return (
        f"【单位办结】{unit}报告诉求 {code} 已办结：{text}\n"
        f"请于 {due} 前上门核实：/verify {code} 核实情况；未解决请 /sendback {code} 原因"
    )


def extension_to_approver(code: str, unit: str, days: int, reason: str) -> str:
    return f"【延期申请】{unit}申请诉求 {code} 延期 {days} 天：{reason}\n同意请发送：/grant {code}"


def approved_to_unit(code: str, days: int, due: str) -> str:
    return f"【延期已批准】诉求 {code} 延期 {days} 天，新的办结时限 {due}。"


def sent_back_to_unit(code: str, reason: str, due: str) -> str:
    return (
        f"【核实未通过】诉求 {code} 网格员上门核实后退回：{reason}\n"
        f"请于 {due} 前重新办理，办好后发送 /done {code} 办理情况"
    )


def verified_to_unit(code: str) -> str:
    return f"【核实结项】诉求 {code} 已由网格员核实结项，感谢贵单位配合！"


def note_to_staff(code: str, author: str, text: str) -> str:
    return f"【内部备注】诉求 {code} · {author}：{text}"


def supervision_to_assignee(code: str, leader: str, text: str, due: str) -> str:
    return f"【督办单】{leader}督办诉求 {code}：{text}\n请于 {due} 前办理并回复居民。发送 /case {code} 查看详情。"


def merged_to_resident(code: str, main: str) -> str:
    """Resident-facing: a duplicate was folded into a case someone else reported (not a rejection)."""
    return f"【{code}】谢谢您反映！这件事已有邻居反映过，我们已将它与诉求 {main} 合并办理，办理进展和结果会一并告诉您。"


def duplicates_line(codes: list[str]) -> str:
    return f"可能重复：{'、'.join(codes)}（确认重复可发送 /merge 本编号 INTO 原编号）"


def handed_over_to_officer(count: int, name: str, codes: list[str]) -> str:
    shown = "、".join(codes[:10]) + ("等" if len(codes) > 10 else "")
    return f"【移交】{name}的 {count} 件在办诉求已移交给您：{shown}。发送 /cases 查看。"


#: The three rungs of the unit ladder: remind the liaison, have the unit head chase, report to the leader.
_UNIT_STEP_NAMES = {"accept": "报到", "done": "办结", "verify": "上门核实"}


def unit_overdue_alert(
    *, level: int, step: str, code: str, unit: str, due: str, late: str, who: str, history: list[str]
) -> str:
    what = _UNIT_STEP_NAMES.get(step, step)
    if level == 1:
        action = {
            "accept": f"请尽快报到：/accept {code}，或退单：/return {code} 原因",
            "done": f"请尽快办结：/done {code} 办理情况，需要更多时间请 /extend {code} 天数 原因",
            "verify": f"请尽快上门核实：/verify {code} 情况，或 /sendback {code} 原因",
        }[step]
        return f"【超时提醒】诉求 {code} {what}已超时{late}（时限 {due}）。\n{action}"
    if level == 2:
        return (
            f"【超时督办】{unit}承办的诉求 {code} {what}已超时{late}（时限 {due}），"
            f"经办人：{who or '未知'}。请督促尽快处理。"
        )
    lines = [
        f"【超时上报】{unit}承办的诉求 {code} {what}已超时{late}（时限 {due}），经办人：{who or '未知'}。",
        "办理经过：",
    ]
    lines += [f"  {line}" for line in history[-8:]]
    return "\n".join(lines)


def supervision_overdue(code: str, due: str, text: str) -> str:
    return f"【督办超时】诉求 {code} 的督办单已到期（时限 {due}）：{text}\n请尽快办理并回复。"


UNRATED = "未评价"


# ---- Operations (issue 16): unlinked groups, edited posts, the admin's daily notice ---------------------

HELD_UNLINKED = (
    "您好，本群还没有关联到社区，您反映的事项已经记下，关联后会马上登记并在群里告诉您编号。\n"
    "请管理员运行：minqing groups link --platform {platform} --chat-id {chat_id} --community 社区编号"
)
EDIT_APPLIED = "已按您修改后的内容更新诉求 {code}。"
EDIT_AFTER_CLOSE = "诉求 {code} 已经办结，您补充的内容已记入档案；如果问题还没解决，请直接再发一条。"
CASE_EDITED = "居民修改了诉求 {code} 的内容：\n{text}"
UNREACHABLE_GRIDS = (
    "运维提醒：以下网格暂无可联系的网格员或网格长（需已启用并用邀请码 /join 登记），"
    "新诉求会转交网格长、社区负责人或街道：{grids}。请尽快为这些网格安排人员。"
)
DEAD_LETTERS_WAITING = "运维提醒：有 {count} 条消息处理失败，系统正在自动重试；可运行 minqing deadletters list 查看。"


def ack_unowned(code: str, category_name: str, *, critical: bool) -> str:
    """The acknowledgement when nobody can be reached to take the case yet: no reply time is promised."""
    text = f"已收到 {code} · {category_name} · 我们正在为您安排负责的工作人员，安排好后会尽快回复您。"
    if critical:
        text += "\n" + EMERGENCY_CALL
    return text


#: How a resident is named in a coalesced group acknowledgement when their name is too short to mask.
RESIDENT_LABEL = "居民"


def coalesced_acks(entries: Sequence[tuple[str, str, bool]], notes: Sequence[str]) -> str:
    """Several residents' acknowledgements as one group message: (mention, first line, critical) each."""
    lines = [f"大家反映的情况都已收到（共 {len(entries)} 件）："]
    lines += [f"{label} {'【紧急】' if critical else ''}{line}" for label, line, critical in entries]
    lines += list(notes)
    return "\n".join(lines)

"""Every sentence residents, officers and leaders read (zh_CN), reviewed in one place.

Functions take what varies; nothing here knows about storage or chat platforms.
"""

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
        "/bind 住址 — 绑定您家的住址，例如 /bind 3幢2单元301\n"
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
        "/reject 编号 原因 — 不予受理并说明原因\n"
        "/file — 在群里回复某条消息发送，把它登记为诉求"
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
    "bind": "用法：/bind 住址，例如 /bind 3幢2单元301",
    "join": "用法：/join 邀请码",
    "case": "用法：/case 编号，例如 /case MQ-2026-000123",
    "reply": "用法：/reply 编号 回复内容",
    "resolve": "用法：/resolve 编号 办理结果",
    "transfer": "用法：/transfer 编号 网格编号 原因",
    "reject": "用法：/reject 编号 原因",
    "rate": "用法：/rate 编号 满意|基本满意|不满意",
    "file": "用法：在群里回复居民的那条消息，发送 /file",
}
BAD_CASE_CODE = "编号“{code}”格式不对，正确格式如 MQ-2026-000123。"
CASE_NOT_FOUND = "没有找到编号为 {code} 的诉求，或您无权查看。"
CASE_NOT_IN_SCOPE = "诉求 {code} 不在您的负责范围内。"
CASE_ALREADY_FINAL = "诉求 {code} 当前状态为“{status}”，不能再{action}。"
GRID_NOT_FOUND = "没有找到网格“{grid}”。"
SAME_GRID = "诉求 {code} 已经在网格 {grid}。"
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


def ack(code: str, category_name: str, promise: str, *, critical: bool) -> str:
    text = f"已受理 {code} · {category_name} · 网格员将在{promise}内回复"
    if critical:
        text += "\n已同时通知网格长。如有人身危险，请立即拨打 110 / 119 / 120！"
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

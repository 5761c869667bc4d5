"""Chinese words for the slash commands, for platforms without a command menu (WeChat).

A word counts as a command only when what follows it has the command's shape ("回复 MQ-2026-000123 …",
"绑定 3幢2单元301", "我的诉求"); "回复一下我的问题" or "我的诉求还没人管" stay ordinary posts. The
expanded text goes through the core like a typed command, so permissions and privacy rules apply
unchanged: a resident who writes "办结 MQ-…" is refused exactly as for "/resolve MQ-…".
"""

import re

#: Words that are the whole message: the word → the command.
WHOLE_MESSAGE: dict[str, str] = {
    "我的诉求": "my",
    "我的": "my",
    "查看我的诉求": "my",
    "待办": "cases",
    "我的待办": "cases",
    "待办诉求": "cases",
    "帮助": "help",
    "菜单": "help",
    "绑定": "bind",
    "加入": "join",
}

#: Words followed by a case code and maybe more text.
WITH_CASE_CODE: dict[str, str] = {
    "查询": "case",
    "查看": "case",
    "回复": "reply",
    "办结": "resolve",
    "转办": "transfer",
    "更正类别": "category",
    "改类别": "category",
    "退回": "reject",
    "评价": "rate",
    # 吹哨报到 (issue 15)
    "吹哨": "whistle",
    "报到": "accept",
    "退单": "return",
    "完成": "done",
    "申请延期": "extend",
    "批准延期": "grant",
    "核实": "verify",
    "核实结项": "verify",
    "退回单位": "sendback",
    "备注": "note",
    "督办": "supervise",
    "合并": "merge",
}

#: Words followed by free arguments (an address, an invite code), after a space or colon.
WITH_ARGUMENTS: dict[str, str] = {
    "绑定": "bind",
    "绑定住址": "bind",
    "加入": "join",
    "代办": "new",
}

_TRAILING = " \t\r\n\u3000。.!！?？~～"
_SEPARATOR = r"[\s\u3000:：,，]"
_CASE_CODE_ALIAS = re.compile(
    r"^(" + "|".join(sorted(WITH_CASE_CODE, key=len, reverse=True)) + r")" + _SEPARATOR + r"*"
    r"([A-Za-z]{2,4}-\d{4}-\d{1,12})(?![\d-])(.*)$",
    re.DOTALL,
)
_ARGUMENT_ALIAS = re.compile(
    r"^(" + "|".join(sorted(WITH_ARGUMENTS, key=len, reverse=True)) + r")"
    # An address may follow the word at once ("绑定3幢2单元301"); anything else needs a separator.
    r"(?:" + _SEPARATOR + r"+|(?=\d))(\S.*)$",
    re.DOTALL,
)


def expand_alias(text: str) -> str | None:
    """The slash command a Chinese command word stands for, or None when the text is not one."""
    stripped = text.strip(" \t\r\n\u3000")
    whole = stripped.rstrip(_TRAILING)
    if whole in WHOLE_MESSAGE:
        return f"/{WHOLE_MESSAGE[whole]}"
    found = _CASE_CODE_ALIAS.match(stripped)
    if found is not None:
        word, code, rest = found.groups()
        rest = rest.strip(" \t\r\n\u3000:：,，")
        command = WITH_CASE_CODE[word]
        if command == "rate":
            rest = rest.rstrip(_TRAILING)
        return f"/{command} {code.upper()}" + (f" {rest}" if rest else "")
    found = _ARGUMENT_ALIAS.match(stripped)
    if found is not None:
        word, args = found.groups()
        return f"/{WITH_ARGUMENTS[word]} {args.strip()}"
    return None

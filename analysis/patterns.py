"""Fast searching of long alternations of Chinese cue words.

Python's ``re`` tries every alternative at every position of the text, so a search for a hundred cue
words costs microseconds per post even when none is there. A lookahead of the characters any
alternative can start with (``(?=[坏修漏...])``) lets it skip most positions after one set lookup:
about four times faster on real titles, same matches.
"""

import re


def _group_end(pattern: str, start: int) -> int:
    """The index just past the parenthesis group or character class opening at ``start``."""
    depth, i = 0, start
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = pattern.index("]", i + 1) + 1
            if depth == 0:
                return i
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced pattern: {pattern!r}")


def _alternatives(pattern: str) -> list[str]:
    parts, depth, current, i = [], 0, [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            current.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[":
            end = pattern.index("]", i + 1) + 1
            current.append(pattern[i:end])
            i = end
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "|" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _optional(rest: str) -> tuple[bool, str]:
    """Whether the quantifier at the start of ``rest`` allows zero repeats, and the text after it."""
    if rest[:1] in ("?", "*"):
        return True, rest[1:].removeprefix("?")
    if rest.startswith("{"):
        end = rest.index("}") + 1
        return rest[1:end].startswith("0") or rest[1:end].startswith(","), rest[end:]
    if rest.startswith("+"):
        return False, rest[1:]
    return False, rest


def _first_of(alternative: str) -> set[str] | None:
    """The characters a match of ``alternative`` can start with; None when that cannot be told simply."""
    if not alternative:
        return None  # an empty alternative matches anywhere
    head = alternative[0]
    if head == "^":
        return _first_of(alternative[1:])
    if head == "(":
        end = _group_end(alternative, 0)
        inner = alternative[1 : end - 1]
        if inner.startswith("?"):
            if inner[1:2] in ("=", "!", "<"):
                return None  # lookarounds: keep it simple
            inner = inner[2:] if inner.startswith("?:") else inner[inner.index(">") + 1 :]
        first = first_chars(inner)
        optional, rest = _optional(alternative[end:])
        if first is None:
            return None
        if optional:
            more = _first_of(rest)
            return None if more is None else first | more
        return first
    if head == "[":
        end = alternative.index("]") + 1
        body = alternative[1 : end - 1]
        if body.startswith("^") or "-" in body or "\\" in body:
            return None
        optional, rest = _optional(alternative[end:])
        if optional:
            more = _first_of(rest)
            return None if more is None else set(body) | more
        return set(body)
    if head in ".\\$|)*+?{":
        if head == "\\" and alternative[1:2] in "+?*.()[]{}|":
            optional, rest = _optional(alternative[2:])
            return None if optional else {alternative[1]}
        return None
    optional, rest = _optional(alternative[1:])
    if optional:
        more = _first_of(rest)
        return None if more is None else {head} | more
    return {head}


def first_chars(pattern: str) -> set[str] | None:
    """The characters any match of ``pattern`` can start with, or None when not simply known."""
    found: set[str] = set()
    for alternative in _alternatives(pattern):
        first = _first_of(alternative)
        if first is None:
            return None
        found |= first
    return found


def compile_cues(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern)``, led by a lookahead of its possible first characters where they are known."""
    first = first_chars(pattern)
    if not first or flags & re.IGNORECASE:
        return re.compile(pattern, flags)
    charset = "".join(re.escape(char) for char in sorted(first))
    return re.compile(f"(?=[{charset}])(?:{pattern})", flags)


_SPECIAL = ".\\^$|()[]{}*+?"


def _spread(alternative: str) -> list[str]:
    """``alternative`` with a leading group or class of plain words written out: "(?:坐|站)在" -> 坐在, 站在."""
    if alternative.startswith("(?:"):
        end = _group_end(alternative, 0)
        options, rest = _alternatives(alternative[3 : end - 1]), alternative[end:]
        plain = all(option and not any(char in _SPECIAL for char in option) for option in options)
        if plain and rest[:1] not in ("?", "*", "+", "{"):
            return [option + rest for option in options]
    elif alternative.startswith("[") and not alternative.startswith("[^"):
        end = alternative.index("]") + 1
        body, rest = alternative[1 : end - 1], alternative[end:]
        if not any(char in "-\\" for char in body) and rest[:1] not in ("?", "*", "+", "{"):
            return [char + rest for char in body]
    return [alternative]


def compile_any(patterns: list[str]) -> re.Pattern[str]:
    """One pattern that finds whether any of ``patterns`` occurs, alternatives grouped by first character.

    ``re`` tries the alternatives of an alternation one after another at each position, so a few
    hundred of them cost microseconds per post; grouped under their first character (``火(?:灾|苗|...)``)
    most positions fail at one comparison. Only for "is there any?" searches: which alternative
    matches at a position may differ from ``re.compile("|".join(patterns))``.
    """
    buckets: dict[str, list[str]] = {}
    others: list[str] = []
    for pattern in patterns:
        for alternative in (spread for whole in _alternatives(pattern) for spread in _spread(whole)):
            head, rest = alternative[:1], alternative[1:]
            plain = head and head not in _SPECIAL and rest[:1] not in ("?", "*", "+", "{")
            if plain:
                buckets.setdefault(head, []).append(rest)
            else:
                others.append(alternative)
    grouped = [f"{re.escape(head)}(?:{'|'.join(rests)})" for head, rests in buckets.items()]
    return compile_cues("|".join(grouped + [f"(?:{other})" for other in others]))

"""Find a household address (building / unit / room) and 小区 names in free text."""

import re
import unicodedata
from dataclasses import dataclass

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}

_NUM = r"[0-9一二两三四五六七八九十〇零]{1,4}"
# 3幢2单元301, 3栋2单元301室, 3号楼2单元301, 3号2单元301, 3幢301 (no unit), 3幢2单元 (no room)
_LONG = re.compile(
    rf"(?P<b>{_NUM})\s*(?:号楼|幢|栋|座|号(?=\s*{_NUM}\s*单元))\s*(?:(?P<u>{_NUM})\s*单元)?\s*(?:(?P<r>[0-9]{{3,4}})\s*(?:室|号|房)?)?"
)
# 3-2-301 or 3－2－301 (building-unit-room)
_DASHED = re.compile(r"(?<![0-9])(?P<b>[0-9]{1,3})\s*[-－—]\s*(?P<u>[0-9]{1,2})\s*[-－—]\s*(?P<r>[0-9]{3,4})(?![0-9])")
_ESTATE = re.compile(r"([\u4e00-\u9fff]{2,6}?(?:小区|花园|家园|公寓|新村|苑|里|社区))")


@dataclass(frozen=True, slots=True)
class Address:
    building: str
    unit: str = ""
    room: str = ""
    estate: str = ""

    @property
    def is_complete(self) -> bool:
        return bool(self.building and self.room)

    def label(self) -> str:
        parts = [f"{self.building}幢"]
        if self.unit:
            parts.append(f"{self.unit}单元")
        if self.room:
            parts.append(self.room)
        return "".join(parts)


def _number(raw: str | None) -> str:
    if not raw:
        return ""
    if raw.isdigit():
        return str(int(raw))
    if all(ch in _CN_DIGITS or ch == "十" for ch in raw):
        total, current = 0, 0
        for ch in raw:
            if ch == "十":
                total += (current or 1) * 10
                current = 0
            else:
                current = current * 10 + _CN_DIGITS[ch] if current else _CN_DIGITS[ch]
        return str(total + current)
    return raw


def extract_address(text: str) -> Address | None:
    """The first building/unit/room in ``text``; None when there is none."""
    normalised = unicodedata.normalize("NFKC", text)
    match = _DASHED.search(normalised)
    if match is None:
        match = _LONG.search(normalised)
    if match is None:
        return None
    # Only now look for the estate: most posts name no building, and this scan is the costly one.
    estate_match = _ESTATE.search(normalised)
    estate = estate_match.group(1) if estate_match else ""
    building = _number(match.group("b"))
    unit = _number(match.group("u"))
    room = match.group("r") or ""
    if room:
        room = str(int(room))
    if not building or building == "0":
        return None
    return Address(building=building, unit=unit, room=room, estate=estate)

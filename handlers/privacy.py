"""What may be shown in a group chat: no phone numbers, full addresses or residents' names."""

import re

# Mainland mobile numbers, with optional +86 and separators; landlines with an area code.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[-\s]?)?(1[3-9]\d)[-\s]?(\d{4})[-\s]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[-\s]?(\d{7,8})(?!\d)")
_ID_CARD = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_NUM = r"[0-9一二两三四五六七八九十]{1,4}"
# A full address names the room; building and unit alone identify nobody.
_FULL_ADDRESS = re.compile(
    rf"({_NUM}\s*(?:号楼|幢|栋|座|号)\s*(?:{_NUM}\s*单元)?)\s*([0-9]{{3,4}})\s*(室|号|房)?"
    rf"|(?<![0-9])([0-9]{{1,3}}\s*[-－]\s*[0-9]{{1,2}})\s*[-－]\s*([0-9]{{3,4}})(?![0-9])"
)


def _mask_address(match: re.Match[str]) -> str:
    if match.group(1):
        return f"{match.group(1)}***"
    return f"{match.group(4)}-***"


def redact_for_group(text: str, names: tuple[str, ...] = ()) -> str:
    """Mask phone numbers, ID numbers, rooms and the given names in text bound for a group."""
    text = _ID_CARD.sub("******************", text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****", text)
    text = _FULL_ADDRESS.sub(_mask_address, text)
    for name in names:
        if len(name) >= 2:
            text = text.replace(name, name[0] + "*" * (len(name) - 1))
    return text

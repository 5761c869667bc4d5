"""Kinds of units a case can be whistled to (吹哨报到), each with its own deadlines.

A department of the street and the outside bodies residents' matters end up with: property
companies per estate, utilities, 城管, 派出所, 市场监管. Each kind has a sign-in (报到) allowance and
a completion allowance, counted in working time where ``working`` says so (property companies and
the police keep watch at weekends too). A deployment may pass its own table in ``CoreSettings``.
"""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class UnitKind:
    code: str
    name: str
    accept: timedelta
    done: timedelta
    working: bool


DEFAULT_UNIT_KINDS: dict[str, UnitKind] = {
    kind.code: kind
    for kind in (
        UnitKind("department", "街道部门", timedelta(hours=4), timedelta(hours=72), working=True),
        UnitKind("property", "物业公司", timedelta(hours=2), timedelta(hours=48), working=False),
        UnitKind("utility", "公用事业单位", timedelta(hours=2), timedelta(hours=48), working=False),
        UnitKind("city_management", "城管", timedelta(hours=4), timedelta(hours=72), working=True),
        UnitKind("police", "派出所", timedelta(hours=1), timedelta(hours=24), working=False),
        UnitKind("market", "市场监管", timedelta(hours=4), timedelta(hours=120), working=True),
        UnitKind("other", "其他单位", timedelta(hours=4), timedelta(hours=72), working=True),
    )
}

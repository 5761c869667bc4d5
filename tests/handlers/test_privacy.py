"""Group chats never show phone numbers, full addresses or residents' names."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.privacy import redact_for_group
from handlers.service import Minqing
from tests.support.factories import GROUP_GH, World, build_world


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("请拨打 13812345678 联系我", "12345678"),
        ("电话+86 138-1234-5678", "1234-5678"),
        ("座机 0571-87654321", "87654321"),
        ("已到3幢2单元301室查看", "301"),
        ("已到 3-2-301 查看", "301"),
        ("身份证 33010219900101123X 已登记", "19900101"),
    ],
)
def test_redaction_hides_contact_details(text: str, hidden: str) -> None:
    assert hidden not in redact_for_group(text)


def test_redaction_keeps_building_and_case_code() -> None:
    text = "MQ-2026-000123 已处理，3幢楼道灯已更换"

    assert redact_for_group(text) == text


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.text(alphabet="漏水了请联系", max_size=10))
def test_no_mobile_number_survives(number: str, filler: str) -> None:
    assert number not in redact_for_group(f"{filler}{number}{filler}")


@pytest.fixture
def world(core: Minqing, admin: Admin, clock: FixedClock) -> World:
    return build_world(core, admin, clock)


def test_officer_reply_into_group_is_redacted(world: World) -> None:
    code = world.post_in_group("3幢2单元502下水道堵了", user="res_3_2_502").case_codes[0]

    result = world.send(f"/reply {code} 住户32502您好，已到3幢2单元502查看，请留意13812345678来电", user="officer_gh2")

    to_group = next(m for m in result.messages if m.chat_id == GROUP_GH)
    # The household head's name (住户32502 in the factory), the room and the phone number are masked.
    assert "住户32502" not in to_group.text and "502" not in to_group.text and "13812345678" not in to_group.text
    assert code in to_group.text and "3幢2单元***" in to_group.text

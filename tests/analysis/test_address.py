"""Building / unit / room and estate names in the forms residents write them."""

import pytest

from analysis.address import extract_address


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("我家在3幢2单元301，楼道灯坏了", "3幢2单元301"),
        ("12栋1单元502室漏水", "12幢1单元502"),
        ("5号楼3单元1102的住户", "5幢3单元1102"),
        ("住在7-2-502", "7幢2单元502"),
        ("三栋二单元的电梯", "3幢2单元"),
        ("十二幢601", "12幢601"),
    ],
)
def test_building_unit_room_forms(text: str, label: str) -> None:
    address = extract_address(text)
    assert address is not None and address.label() == label


def test_estate_name_is_kept() -> None:
    address = extract_address("桂花苑5幢302楼上漏水")
    assert address is not None and address.estate == "桂花苑" and address.building == "5"


@pytest.mark.parametrize("text", ["电梯坏了三天了", "2026年11月24日", "打了110没人接", ""])
def test_no_address_in_text_without_one(text: str) -> None:
    assert extract_address(text) is None

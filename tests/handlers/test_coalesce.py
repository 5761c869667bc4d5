"""Coalescing a group's waiting acknowledgements: every code and resident kept, in order, within the limits."""

from hypothesis import given
from hypothesis import strategies as st

from handlers import catalogue, coalesce
from handlers.messages import Mention, OutgoingMessage


def ack(n: int, *, name: str = "张小明", critical: bool = False) -> OutgoingMessage:
    text = catalogue.ack(f"MQ-2026-{n:06d}", "公共设施", "4小时", critical=critical)
    return OutgoingMessage(
        "telegram", "-100", text, kind="ack", mentions=(Mention(str(1000 + n), coalesce.mention_label(name)),)
    )


def test_names_are_masked_and_short_names_become_resident() -> None:
    assert coalesce.mention_label("张小明") == "@张**"
    assert coalesce.mention_label("A") == "@" + catalogue.RESIDENT_LABEL
    assert "小明" not in coalesce.mention_label("张小明")


def test_one_message_lists_every_code_with_its_mention_in_order() -> None:
    merged = coalesce.coalesce([ack(1), ack(2, critical=True), ack(3)])
    lines = merged.text.split("\n")
    assert "共 3 件" in lines[0]
    assert [line.split(" ")[2] for line in lines[1:4]] == ["MQ-2026-000001", "MQ-2026-000002", "MQ-2026-000003"]
    assert "【紧急】" in lines[2] and "【紧急】" not in lines[1]
    assert merged.text.count(catalogue.EMERGENCY_CALL) == 1
    assert [m.user_id for m in merged.mentions] == ["1001", "1002", "1003"]


def test_only_acknowledgements_addressed_to_a_resident_join() -> None:
    plain = OutgoingMessage("telegram", "-100", "【MQ-1 回复】已处理", kind="reply")
    assert coalesce.fitting([ack(1), plain, ack(2)], max_chars=3500) == 1
    assert coalesce.fitting([plain, ack(1)], max_chars=3500) == 0
    private = OutgoingMessage("telegram", "42", "已受理 MQ-1", kind="ack")
    assert not coalesce.can_join(private)


def test_fitting_keeps_within_the_text_limit_and_the_entry_cap() -> None:
    many = [ack(n) for n in range(100)]
    assert coalesce.fitting(many, max_chars=100_000) == coalesce.MAX_ENTRIES
    count = coalesce.fitting(many, max_chars=600)
    assert 1 < count < coalesce.MAX_ENTRIES
    assert len(coalesce.coalesce(many[:count]).text) <= 600 < len(coalesce.coalesce(many[: count + 1]).text)


@given(st.lists(st.tuples(st.text(max_size=12), st.booleans()), min_size=1, max_size=60))
def test_no_code_is_lost_whatever_the_names(residents: list[tuple[str, bool]]) -> None:
    messages = [ack(n, name=name, critical=critical) for n, (name, critical) in enumerate(residents)]
    count = coalesce.fitting(messages, max_chars=3500)
    merged = coalesce.coalesce(messages[:count])
    for n in range(count):
        assert f"MQ-2026-{n:06d}" in merged.text
    assert len(merged.mentions) == count

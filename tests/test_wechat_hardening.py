"""Hostile WeChat requests: replayed timestamps, DTDs in any encoding, out-of-range numbers, plain mode."""

import pytest
from sqlmodel import func, select

from bot.settings import Settings
from bot.wechat.run import WeChatConfigError, wechat_options
from bot.wechat.wire import WireError, parse_xml
from storage.db import Database
from storage.models import Case, InboundMessage
from tests.test_wechat import RESIDENT, Stack, StartStack, stack_factory  # noqa: F401  (the fixture)


def count(db: Database, model: type) -> int:
    with db.transaction() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


@pytest.mark.parametrize("skew", [-30 * 86400, -301, 301], ids=["30-days-old", "just-too-old", "from-the-future"])
async def test_a_signed_request_outside_the_five_minute_window_is_refused(stack_factory: StartStack, skew: int) -> None:  # noqa: F811
    stack: Stack = await stack_factory()
    stack.wechat.skew = skew
    before = count(stack.db, InboundMessage)

    answer = await stack.wechat.send_text(RESIDENT, "小区门口垃圾没人清理")
    verify = await stack.wechat.verify("echo")

    assert answer.status == 403 and verify.status == 403
    assert count(stack.db, InboundMessage) == before


async def test_a_request_inside_the_window_is_accepted(stack_factory: StartStack) -> None:  # noqa: F811
    stack: Stack = await stack_factory()
    stack.wechat.skew = -240

    answer = await stack.wechat.send_text(RESIDENT, "小区门口垃圾没人清理")

    assert answer.status == 200 and count(stack.db, Case) == 1


def dtd_document(encoding: str) -> bytes:
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<!DOCTYPE xml [<!ENTITY secret "LEAKED">]>'
        "<xml><ToUserName>gh</ToUserName><FromUserName>oX</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content>&secret;</Content><MsgId>1</MsgId></xml>"
    )
    return text.encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le", "utf-32"])
def test_a_dtd_is_refused_in_any_encoding(encoding: str) -> None:
    with pytest.raises(WireError):
        parse_xml(dtd_document(encoding if encoding != "utf-16-le" else "utf-16"))


def test_a_utf16_document_without_a_dtd_is_read() -> None:
    body = '<?xml version="1.0" encoding="utf-16"?><xml><Content>你好</Content></xml>'.encode("utf-16")

    assert parse_xml(body) == {"Content": "你好"}


async def test_a_utf16_dtd_over_http_files_nothing(stack_factory: StartStack) -> None:  # noqa: F811
    stack: Stack = await stack_factory()

    answer = await stack.wechat.post("", raw_body=dtd_document("utf-16"))

    assert answer.status == 400 and count(stack.db, Case) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("CreateTime", "9" * 20), ("MsgId", "1" * 100), ("CreateTime", "١٢٣"), ("MsgId", "²")],
    ids=["20-digit-createtime", "100-digit-msgid", "arabic-indic-digits", "superscript-digit"],
)
async def test_out_of_range_numbers_are_a_400_not_a_500(stack_factory: StartStack, field: str, value: str) -> None:  # noqa: F811
    stack: Stack = await stack_factory()
    xml = stack.wechat.message_xml(RESIDENT, "text", msg_id=1, Content="路灯坏了")
    start, end = xml.index(f"<{field}>"), xml.index(f"</{field}>")
    forged = xml[:start] + f"<{field}>{value}" + xml[end:]
    before = count(stack.db, InboundMessage)

    answer = await stack.wechat.post(forged)

    assert answer.status == 400 and count(stack.db, InboundMessage) == before


async def test_a_twenty_digit_msgid_is_stored(stack_factory: StartStack) -> None:  # noqa: F811
    stack: Stack = await stack_factory()
    xml = stack.wechat.message_xml(RESIDENT, "text", msg_id=18_446_744_073_709_551_615, Content="路灯坏了")

    answer = await stack.wechat.post(xml)

    assert answer.status == 200 and count(stack.db, Case) == 1


def test_plain_mode_must_be_switched_on_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("TOKEN", "t"), ("APPID", "wx1"), ("SECRET", "s")):
        monkeypatch.setenv(f"MINQING_WECHAT_{name}", value)
    monkeypatch.delenv("MINQING_WECHAT_AES_KEY", raising=False)
    monkeypatch.delenv("MINQING_WECHAT_PLAIN_MODE", raising=False)

    with pytest.raises(WeChatConfigError, match="PLAIN_MODE"):
        wechat_options(Settings(), listen=("127.0.0.1", 0), api_url=None)
    monkeypatch.setenv("MINQING_WECHAT_PLAIN_MODE", "true")
    assert wechat_options(Settings(), listen=("127.0.0.1", 0), api_url=None).aes_key is None

"""Signatures, safe-mode crypto, XML, Chinese command words, passive-reply bookkeeping and the
customer-service sender's error handling."""

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.delivery import PermanentFailure, RetryAfter
from bot.wechat.crypto import MessageCrypto, PayloadError, SignatureError, check_signature
from bot.wechat.customer_service import AccessTokens, CustomerServiceSender
from bot.wechat.passive import PassiveReplies
from bot.wechat.translate import split_bytes
from bot.wechat.wire import WireError, parse_xml, text_reply
from handlers.aliases import expand_alias
from handlers.messages import HandlerResult, OutgoingMessage
from tests.fakes.wechat import FakeWeChatApi, wechat_decrypt, wechat_encrypt

# WeChat's published sample (as used by wechatpy's tests): token, EncodingAESKey, id and messages.
SAMPLE_TOKEN = "123456"
SAMPLE_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
SAMPLE_ID = "wx49f0ab532d5d035a"
SAMPLE_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
SAMPLE_SEALED_REPLY = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl"
    "5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf"
    "03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nT"
    "YjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)
SAMPLE_SEALED_MESSAGE = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6"
    "ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/"
    "TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/"
    "5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)


def sample_crypto() -> MessageCrypto:
    return MessageCrypto(token=SAMPLE_TOKEN, aes_key=SAMPLE_KEY, appid=SAMPLE_ID)


def test_signature_matches_wechat_sample_and_refuses_a_changed_nonce() -> None:
    echo = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
    check_signature("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", SAMPLE_TOKEN, "1411443780", "437374425", echo)
    with pytest.raises(SignatureError):
        check_signature("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", SAMPLE_TOKEN, "1411443780", "437374424", echo)


def test_encrypts_and_signs_exactly_like_wechat_sample() -> None:
    crypto = sample_crypto()
    sealed = crypto.encrypt(SAMPLE_REPLY.encode(), prefix=b"1234567890123456")
    assert sealed == SAMPLE_SEALED_REPLY
    assert crypto.sign("1411525903", "461056294", sealed) == "407518b7649e86ef23978113f92d27afa9296533"


def test_decrypts_wechat_sample_message() -> None:
    message = parse_xml(sample_crypto().decrypt(SAMPLE_SEALED_MESSAGE))
    assert (message["Content"], message["FromUserName"]) == ("test", "messense")
    check_signature(
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", SAMPLE_TOKEN, "1411525903", "461056294", SAMPLE_SEALED_MESSAGE
    )


def test_round_trip_with_the_independent_fake_and_refusals() -> None:
    crypto = sample_crypto()
    hello = "<xml>你好</xml>".encode()
    assert crypto.decrypt(wechat_encrypt(SAMPLE_KEY, SAMPLE_ID, hello)) == hello
    assert wechat_decrypt(SAMPLE_KEY, SAMPLE_ID, crypto.encrypt(b"<xml>x</xml>")) == b"<xml>x</xml>"
    for bad in (
        wechat_encrypt(SAMPLE_KEY, "wx_other", b"<xml/>"),  # sealed for another AppID
        wechat_encrypt("A" * 43, SAMPLE_ID, b"<xml/>"),  # another key: padding or AppID fails
        "not base64 at all!",
        "QUJD",  # whole base64, not whole AES blocks
    ):
        with pytest.raises(PayloadError):
            crypto.decrypt(bad)
    with pytest.raises(ValueError, match="43"):
        MessageCrypto(token="t", aes_key="short", appid="a")


def test_xml_parsing_refuses_dtds_and_other_roots_and_escapes_cdata() -> None:
    with pytest.raises(WireError):
        parse_xml(b'<!DOCTYPE xml [<!ENTITY e "x">]><xml><A>&e;</A></xml>')
    with pytest.raises(WireError):
        parse_xml(b"<html><A>1</A></html>")
    with pytest.raises(WireError):
        parse_xml(b"<xml><A>")
    reply = text_reply(to_user="o1", from_user="gh", create_time=1, content="a]]>b <c> & d")
    assert parse_xml(reply.encode())["Content"] == "a]]>b <c> & d"


def test_split_bytes_keeps_every_piece_within_the_limit_and_loses_nothing() -> None:
    text = "\n".join(["第一行" * 50, "第二行" * 400, "short"])
    pieces = split_bytes(text, 600)
    assert all(len(p.encode()) <= 600 for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    assert split_bytes("短", 600) == ["短"]


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("绑定 3幢2单元301", "/bind 3幢2单元301"),
        ("绑定3幢2单元301", "/bind 3幢2单元301"),
        ("我的诉求", "/my"),
        ("我的诉求。", "/my"),
        ("帮助", "/help"),
        ("回复 MQ-2026-000123 已联系物业", "/reply MQ-2026-000123 已联系物业"),
        ("回复：mq-2026-000123 明天上门", "/reply MQ-2026-000123 明天上门"),
        ("办结MQ-2026-000001 已修好", "/resolve MQ-2026-000001 已修好"),
        ("评价 MQ-2026-000001 基本满意。", "/rate MQ-2026-000001 基本满意"),
        ("转办 MQ-2026-000001 GH-02 不属本网格", "/transfer MQ-2026-000001 GH-02 不属本网格"),
        ("查询 MQ-2026-000001", "/case MQ-2026-000001"),
        ("加入 ABCD234567", "/join ABCD234567"),
        # Ordinary posts that merely start with a command word stay posts.
        ("回复一下我的问题吧", None),
        ("回复：楼道灯还是不亮", None),
        ("我的诉求还没人管", None),
        ("绑定手机号怎么弄", None),
        ("帮助一下孤寡老人", None),
    ],
)
def test_chinese_command_words(text: str, command: str | None) -> None:
    assert expand_alias(text) == command


def _message(chat: str, text: str, reply_to: str = "m1") -> OutgoingMessage:
    return OutgoingMessage("wechat", chat, text, kind="ack", reply_to_message_id=reply_to)


async def test_sender_waits_for_an_undecided_exchange_instead_of_sending_twice() -> None:
    replies = PassiveReplies()
    loop = asyncio.get_running_loop()
    handled: asyncio.Future[HandlerResult] = loop.create_future()
    exchange = replies.begin(("o1", "m1"), handled)
    exchange.waiting = 1  # a request is still within its budget
    ack, notice = _message("o1", "已受理 MQ-2026-000001"), _message("o2", "新诉求", reply_to="x")
    # The outbox row is visible (committed) before the endpoint decided: the sender must wait.
    asking = asyncio.ensure_future(replies.answered(ack))
    await asyncio.sleep(0.01)
    assert not asking.done()
    handled.set_result(HandlerResult(messages=[ack, notice]))
    assert await asking is True
    assert await replies.answered(notice) is False  # another chat: through the API
    assert exchange.reply == ack.text


async def test_nobody_waiting_means_everything_goes_through_the_api() -> None:
    replies = PassiveReplies()
    handled: asyncio.Future[HandlerResult] = asyncio.get_running_loop().create_future()
    exchange = replies.begin(("o1", "m1"), handled)
    ack = _message("o1", "已受理")
    handled.set_result(HandlerResult(messages=[ack]))
    await asyncio.sleep(0)
    assert exchange.decided.is_set() and exchange.reply is None
    assert await replies.answered(ack) is False


@pytest.fixture
async def api() -> AsyncIterator[FakeWeChatApi]:
    fake = FakeWeChatApi()
    await fake.start()
    yield fake
    await fake.close()


async def test_sender_refreshes_an_expired_token_once_and_maps_errors(api: FakeWeChatApi) -> None:
    async with aiohttp.ClientSession() as http:
        tokens = AccessTokens(http=http, api_url=api.url, appid=api.appid, secret=api.secret)
        sender = CustomerServiceSender(http=http, tokens=tokens)
        await sender.send(_message("o1", "第一条"))
        api.fail_next.append(42001)  # the token expired between two sends
        await sender.send(_message("o1", "第二条"))
        api.fail_next.append(45015)  # the resident has not written for 48 hours
        with pytest.raises(PermanentFailure):
            await sender.send(_message("o1", "第三条"))
        api.fail_next.append(45047)  # too many messages since the resident's last one
        with pytest.raises(RetryAfter):
            await sender.send(_message("o1", "第四条"))
    assert api.texts_to("o1") == ["第一条", "第二条"]
    assert api.token_fetches == 2


async def test_sender_splits_long_texts_and_resumes_after_a_failed_part(api: FakeWeChatApi) -> None:
    long = "\n".join(f"第{i}行：" + "情况说明" * 40 for i in range(12))
    async with aiohttp.ClientSession() as http:
        sender = CustomerServiceSender(
            http=http, tokens=AccessTokens(http=http, api_url=api.url, appid=api.appid, secret=api.secret)
        )
        await sender.send(_message("o1", "热身"))
        api.fail_next.append(-1)  # the first part of the long message fails: retried later
        with pytest.raises(RetryAfter):
            await sender.send(_message("o1", long))
        await sender.send(_message("o1", long))
    parts = api.texts_to("o1")[1:]
    assert len(parts) > 1 and all(len(p.encode()) <= 2048 for p in parts)
    assert "\n".join(parts) == long


def test_category_buttons_become_tappable_category_commands() -> None:
    from bot.wechat.translate import render_text
    from handlers.aliases import expand_alias
    from handlers.messages import Button, OutgoingMessage

    code = "MQ-2026-000001"
    likely = (Button("1. 物业服务", f"cat:{code}:property"), Button("2. 公共设施", f"cat:{code}:facilities"))
    buttons = (likely, (Button("3. 其他类别…", f"cat:{code}:?"),))
    text = render_text(OutgoingMessage("wechat", "officer", "【新诉求】", buttons=buttons))
    assert f'msgmenucontent=更正类别 {code} property&msgmenuid=1">1. 物业服务</a>' in text
    assert f'msgmenucontent=更正类别 {code}&msgmenuid=1">3. 其他类别…</a>' in text
    assert expand_alias(f"更正类别 {code} property") == f"/category {code} property"

"""The WeCom robot's pieces without a server: callback JSON, rendering, the URL store, settings."""

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import Settings
from bot.wechat.crypto import MessageCrypto
from bot.wecom.run import WeComConfigError, wecom_options
from bot.wecom.sender import ResponseUrls
from bot.wecom.wire import (
    AnswerOnly,
    Ignore,
    Press,
    RecentPosts,
    ToCore,
    WireError,
    active_payload,
    parse_callback,
    translate,
)
from handlers.messages import Button, OutgoingMessage
from tests.fakes.wechat import wechat_decrypt, wechat_encrypt

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def call(**body: object) -> bytes:
    base: dict[str, object] = {"msgid": "M1", "aibotid": "B", "from": {"userid": "lisi"}, "response_url": "u"}
    return json.dumps({**base, **body}, ensure_ascii=False).encode()


def test_empty_receive_id_crypto_agrees_with_the_test_side_implementation() -> None:
    crypto = MessageCrypto(token="t", aes_key=AES_KEY, appid="")
    sealed = wechat_encrypt(AES_KEY, "", b'{"msgid": "x"}')
    assert crypto.decrypt(sealed) == b'{"msgid": "x"}'
    assert wechat_decrypt(AES_KEY, "", crypto.encrypt(b"reply")) == b"reply"


def test_group_text_loses_the_mention_and_goes_to_triage() -> None:
    parsed = parse_callback(call(chatid="wr1", chattype="group", msgtype="text", text={"content": "@民情通 电梯坏了"}))
    action = translate(parsed, recent=RecentPosts(), now=NOW)
    assert isinstance(action, ToCore)
    message = action.message
    assert (message.chat_id, message.user_id, message.message_id) == ("wr1", "lisi", "M1")
    assert message.is_group and not message.mentions_bot and message.text == "电梯坏了"


def test_mention_files_makes_every_group_mention_explicit() -> None:
    body = call(chatid="wr1", chattype="group", msgtype="text", text={"content": "@民情通 谢谢"})
    action = translate(parse_callback(body), recent=RecentPosts(), now=NOW, mention_files=True)
    assert isinstance(action, ToCore) and action.message.mentions_bot and action.message.text == "谢谢"


def test_single_chat_is_private_with_the_userid_as_chat() -> None:
    action = translate(
        parse_callback(call(chattype="single", msgtype="text", text={"content": "/my"})), recent=RecentPosts(), now=NOW
    )
    assert isinstance(action, ToCore) and action.message.chat_id == "lisi" and not action.message.is_group


def test_mixed_and_quote_become_text_attachments_and_a_quoted_message() -> None:
    recent = RecentPosts()
    first = parse_callback(
        call(msgid="M0", chatid="wr1", chattype="group", msgtype="text", text={"content": "@bot 3幢漏水"})
    )
    translate(first, recent=recent, now=NOW)
    mixed = {
        "msg_item": [
            {"msgtype": "text", "text": {"content": "@bot /file"}},
            {"msgtype": "image", "image": {"url": "https://img"}},
        ]
    }
    quote = {"msgtype": "text", "text": {"content": "@bot 3幢漏水"}}
    body = call(msgid="M2", chatid="wr1", chattype="group", msgtype="mixed", mixed=mixed, quote=quote)
    action = translate(parse_callback(body), recent=recent, now=NOW)
    assert isinstance(action, ToCore)
    assert action.message.text == "/file" and action.message.attachments[0].file_id == "https://img"
    quoted = action.message.reply_to
    assert quoted is not None and (quoted.message_id, quoted.user_id, quoted.text) == ("M0", "lisi", "3幢漏水")
    # A quote of something this process never saw gets a stable id, so /file twice finds the same case.
    unseen = {"msgtype": "text", "text": {"content": "别的住户说的话"}}
    one = translate(
        parse_callback(
            call(msgid="M3", chatid="wr1", chattype="group", msgtype="text", text={"content": "/file"}, quote=unseen)
        ),
        recent=recent,
        now=NOW,
    )
    two = translate(
        parse_callback(
            call(msgid="M4", chatid="wr1", chattype="group", msgtype="text", text={"content": "/file"}, quote=unseen)
        ),
        recent=recent,
        now=NOW,
    )
    assert isinstance(one, ToCore) and isinstance(two, ToCore)
    assert one.message.reply_to is not None and one.message.reply_to == two.message.reply_to
    assert one.message.reply_to.message_id.startswith("quote:")


def test_events_clicks_refreshes_and_unsupported_types() -> None:
    recent = RecentPosts()
    event = {
        "eventtype": "template_card_event",
        "template_card_event": {"event_key": "rate:MQ-2026-000001:satisfied", "task_id": "T1"},
    }
    press = translate(
        parse_callback(call(chatid="wr1", chattype="group", msgtype="event", event=event)), recent=recent, now=NOW
    )
    assert isinstance(press, Press) and press.query.data == "rate:MQ-2026-000001:satisfied" and press.task_id == "T1"
    assert press.query.chat_id == "wr1" and press.query.is_group
    enter = translate(
        parse_callback(call(chattype="single", msgtype="event", event={"eventtype": "enter_chat"})),
        recent=recent,
        now=NOW,
    )
    assert isinstance(enter, ToCore) and enter.welcome and enter.message.text == "/start"
    assert isinstance(
        translate(parse_callback(call(msgtype="stream", stream={"id": "x"})), recent=recent, now=NOW), Ignore
    )
    assert isinstance(translate(parse_callback(call(msgtype="video", video={})), recent=recent, now=NOW), AnswerOnly)
    assert isinstance(
        translate(parse_callback(call(msgtype="file", file={"url": "f"})), recent=recent, now=NOW), AnswerOnly
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        call(msgtype=""),
        json.dumps({"msgid": "M", "msgtype": "text"}).encode(),
        call(msgtype="text", chattype="group"),
    ],
)
def test_unreadable_callbacks_are_refused(raw: bytes) -> None:
    with pytest.raises(WireError):
        parse_callback(raw)


def test_buttons_become_a_button_card_and_text_becomes_markdown() -> None:
    buttons = ((Button("满意", "rate:MQ-1:satisfied"), Button("不满意", "rate:MQ-1:unsatisfied")),)
    card = active_payload(OutgoingMessage("wecom", "wr1", "请评价", buttons=buttons))
    assert card["msgtype"] == "template_card"
    assert card["template_card"]["card_type"] == "button_interaction"
    assert [b["key"] for b in card["template_card"]["button_list"]] == ["rate:MQ-1:satisfied", "rate:MQ-1:unsatisfied"]
    task = card["template_card"]["task_id"]
    assert task.isalnum() and len(task) <= 128
    assert active_payload(OutgoingMessage("wecom", "wr1", "你好")) == {
        "msgtype": "markdown",
        "markdown": {"content": "你好"},
    }


def test_response_urls_are_used_once_oldest_first_and_expire() -> None:
    now = [0.0]
    urls = ResponseUrls(ttl=10.0, monotonic=lambda: now[0])
    urls.add("wr1", "u1", is_group=True)
    now[0] = 5.0
    urls.add("wr1", "u2", is_group=True)
    urls.add("wr1", "u2", is_group=True)  # a retried callback repeats its URL
    assert urls.count("wr1") == 2 and "wr1" in urls.groups
    now[0] = 11.0  # u1 expired
    assert urls.take("wr1") == "u2"
    assert urls.take("wr1") is None and urls.take("nobody") is None
    now[0] = 30.0
    urls.add("wr1", "u1", is_group=True)  # long forgotten: a new URL again (WeCom never reuses one)
    assert urls.count("wr1") == 1 and len(urls._known) == 1


def test_options_name_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MINQING_WECOM_BOT_TOKEN", "MINQING_WECOM_BOT_AES_KEY", "MINQING_WECOM_GROUP_ROBOTS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(WeComConfigError, match="MINQING_WECOM_BOT_TOKEN"):
        wecom_options(Settings(), listen=("127.0.0.1", 0), api_url=None)
    monkeypatch.setenv("MINQING_WECOM_BOT_TOKEN", "t")
    monkeypatch.setenv("MINQING_WECOM_BOT_AES_KEY", "short")
    with pytest.raises(WeComConfigError, match="43"):
        wecom_options(Settings(), listen=("127.0.0.1", 0), api_url=None)
    monkeypatch.setenv("MINQING_WECOM_BOT_AES_KEY", AES_KEY)
    monkeypatch.setenv("MINQING_WECOM_GROUP_ROBOTS", '{"wr1": "nobody"}')
    with pytest.raises(WeComConfigError, match="nobody"):
        wecom_options(Settings(), listen=("127.0.0.1", 0), api_url=None)
    monkeypatch.setenv("MINQING_WECOM_GROUP_ROBOTS", "{}")
    options = wecom_options(Settings(), listen=("127.0.0.1", 8080), api_url=None)
    assert options.token == "t" and options.listen == ("127.0.0.1", 8080)


def test_run_wecom_without_listen_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINQING_WECOM_BOT_TOKEN", "t")
    monkeypatch.setenv("MINQING_WECOM_BOT_AES_KEY", AES_KEY)
    result = CliRunner().invoke(app, ["run", "--platform", "wecom"])
    assert result.exit_code == 2 and "--listen" in result.output

"""The shared translation: both frameworks' updates read the same, mentions count UTF-16, text is escaped and split."""

from typing import Any

import pytest
from aiogram.types import Update as AiogramUpdate
from telegram import Update as PTBUpdate

from bot.telegram.translate import (
    ALLOWED_UPDATES,
    AddedToGroup,
    BotIdentity,
    chat_key,
    render,
    split_text,
    translate,
)
from handlers.messages import Button, CallbackQuery, IncomingMessage, OutgoingMessage
from tests.fakes.telegram_api import FakeTelegram

BOT = BotIdentity(id=424242, username="minqing_test_bot")


def as_ptb(raw: dict[str, Any]) -> dict[str, Any]:
    update = PTBUpdate.de_json(raw, None)
    assert update is not None
    return update.to_dict()


def as_aiogram(raw: dict[str, Any]) -> dict[str, Any]:
    return AiogramUpdate.model_validate(raw).model_dump(mode="json", by_alias=True, exclude_none=True)


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram(bot_id=BOT.id, username=BOT.username)


@pytest.mark.parametrize("through", [as_ptb, as_aiogram], ids=["ptb", "aiogram"])
def test_both_frameworks_translate_a_group_reply_with_photo_identically(fake: FakeTelegram, through: Any) -> None:
    quoted = fake.message(user_id=2001, text="楼下的路灯不亮", chat_id=-100111)
    raw = {
        "update_id": 1,
        "message": fake.message(
            user_id=1003, text=f"😀 @{BOT.username} 看这张图", chat_id=-100111, reply_to=quoted, photo=True
        ),
    }

    expected = translate(raw, BOT)
    seen = translate(through(raw), BOT)

    assert isinstance(seen, IncomingMessage) and seen == expected
    assert seen.mentions_bot and seen.is_group and seen.chat_id == "-100111"
    assert seen.reply_to is not None and seen.reply_to.user_id == "2001" and seen.reply_to.text == "楼下的路灯不亮"
    assert [a.file_id for a in seen.attachments] == [f"photo-{seen.message_id}-l"]


@pytest.mark.parametrize("through", [as_ptb, as_aiogram], ids=["ptb", "aiogram"])
def test_both_frameworks_translate_button_presses_and_joins(fake: FakeTelegram, through: Any) -> None:
    bot_message = {"message_id": 9, "date": 1, "chat": fake.chat(-100111), "text": "已办结"}
    press = {
        "update_id": 2,
        **fake.button_press(user_id=2001, message=bot_message, data="rate:MQ-2026-000001:satisfied"),
    }
    joined = {"update_id": 3, **fake.added_to_group(-100999, by_user=2001)}

    assert translate(through(press), BOT) == CallbackQuery(
        platform="telegram",
        chat_id="-100111",
        user_id="2001",
        query_id=press["callback_query"]["id"],
        data="rate:MQ-2026-000001:satisfied",
        message_id="9",
        is_group=True,
    )
    assert translate(through(joined), BOT) == AddedToGroup(chat_id="-100999", title="新建的群", event_id="joined:3")


def test_mention_of_another_bot_or_in_private_is_not_a_mention(fake: FakeTelegram) -> None:
    other = translate({"update_id": 1, "message": fake.message(user_id=1, text="@other_bot 你好", chat_id=-5)}, BOT)
    private = translate({"update_id": 2, "message": fake.message(user_id=1, text=f"@{BOT.username} 你好")}, BOT)

    assert isinstance(other, IncomingMessage) and not other.mentions_bot
    assert isinstance(private, IncomingMessage) and not private.is_group


def test_messages_from_bots_and_service_messages_are_ignored(fake: FakeTelegram) -> None:
    from_bot = fake.message(user_id=1, text="hi", chat_id=-5)
    from_bot["from"]["is_bot"] = True
    service = fake.message(user_id=1, chat_id=-5)
    service["new_chat_title"] = "新群名"

    assert translate({"update_id": 1, "message": from_bot}, BOT) is None
    assert translate({"update_id": 2, "message": service}, BOT) is None
    assert chat_key({"update_id": 3, "message": service}) == "-5"


def test_render_escapes_html_replies_on_the_first_part_and_buttons_on_the_last() -> None:
    buttons = ((Button("满意", "rate:X:satisfied"),),)
    message = OutgoingMessage("telegram", "-1", "a<b>&" + "\n" + "x" * 15, reply_to_message_id="7", buttons=buttons)

    first, second = render(message, limit=20)

    assert first.text == "a&lt;b&gt;&amp;" and first.reply_to_message_id == 7 and first.keyboard == ()
    assert second.text == "x" * 15 and second.reply_to_message_id is None
    assert second.keyboard == buttons


def test_split_text_cuts_at_line_breaks_and_never_loses_text() -> None:
    text = "第一行\n" + "长" * 50 + "\n末行"

    pieces = split_text(text, 20)

    assert all(len(p) <= 20 for p in pieces) and pieces[0] == "第一行"
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")


@pytest.mark.parametrize("through", [as_ptb, as_aiogram], ids=["ptb", "aiogram"])
def test_an_edited_message_keeps_its_id_and_carries_the_edit_time(fake: FakeTelegram, through: Any) -> None:
    edited = {**fake.message(user_id=2001, text="3幢电梯坏了，已经两天"), "edit_date": 1_790_000_123}
    raw = {"update_id": 7, "edited_message": edited}

    seen = translate(through(raw), BOT)

    assert isinstance(seen, IncomingMessage) and seen == translate(raw, BOT)
    assert seen.message_id == str(edited["message_id"]) and seen.edit_id == "1790000123"
    assert seen.text == "3幢电梯坏了，已经两天"
    assert "edited_message" in ALLOWED_UPDATES

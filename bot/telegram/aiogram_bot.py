"""The aiogram 3 adapter: its Dispatcher and Router dispatch, the bridge decides."""

import logging
from collections.abc import Sequence
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    BufferedInputFile,
    CallbackQuery,
    ChatMemberUpdated,
    ErrorEvent,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)

from bot.delivery import PermanentFailure, RetryAfter
from bot.telegram.adapter import DEFAULT_API_URL, Keyboard, TelegramAdapter
from bot.telegram.bridge import Menu, MenuScope
from bot.telegram.translate import ALLOWED_UPDATES, BotIdentity, Json

log = logging.getLogger(__name__)

_Scope = BotCommandScopeDefault | BotCommandScopeAllGroupChats | BotCommandScopeChat


class AiogramAdapter(TelegramAdapter[Update]):
    framework = "aiogram"

    def __init__(self, *, token: str, api_url: str = DEFAULT_API_URL, connections: int = 32) -> None:
        super().__init__(token=token, api_url=api_url)
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.api_url), limit=connections)
        self.bot = Bot(token, session=session)
        self.dispatcher = Dispatcher()
        # Every handler the bot has, in one place.
        router = Router(name="minqing")
        router.message.register(self.on_message)
        router.edited_message.register(self.on_message)
        router.callback_query.register(self.on_button)
        router.my_chat_member.register(self.on_membership)
        self.dispatcher.include_router(router)
        self.dispatcher.errors.register(self.on_error)

    # ------------------------------------------------------------------ handlers

    async def on_message(self, message: Message, event_update: Update) -> None:
        """File a post or run a command."""
        await self.bridge.on_update(self.to_json(event_update))

    async def on_button(self, query: CallbackQuery, event_update: Update) -> None:
        """Record a satisfaction rating pressed on an inline keyboard."""
        await self.bridge.on_update(self.to_json(event_update))

    async def on_membership(self, change: ChatMemberUpdated, event_update: Update) -> None:
        """Greet a group the bot was added to, if it is not linked to a community yet."""
        await self.bridge.on_update(self.to_json(event_update))

    async def on_error(self, event: ErrorEvent) -> None:
        """Log the failure and tell the user in safe words."""
        await self.bridge.on_error(self.to_json(event.update), event.exception)

    # ------------------------------------------------------------------ lifecycle and updates

    async def start(self) -> BotIdentity:
        try:
            me = await self.bot.get_me()
        except TelegramUnauthorizedError as error:
            raise SystemExit(f"Telegram refused the token: {error}") from error
        return BotIdentity(id=me.id, username=me.username or "")

    async def close(self) -> None:
        await self.bot.session.close()

    async def get_updates(self, *, offset: int | None, wait_seconds: int, limit: int) -> Sequence[Update]:
        return await self.bot.get_updates(
            offset=offset,
            limit=limit,
            timeout=wait_seconds,
            allowed_updates=list(ALLOWED_UPDATES),
            request_timeout=wait_seconds + 10,
        )

    def parse(self, raw: Json) -> Update:
        return Update.model_validate(dict(raw), context={"bot": self.bot})

    def update_id(self, update: Update) -> int:
        return update.update_id

    def to_json(self, update: Update) -> Json:
        return update.model_dump(mode="json", by_alias=True, exclude_none=True)

    async def feed(self, update: Update) -> None:
        await self.dispatcher.feed_update(self.bot, update)

    def bot_api(self) -> Bot:
        return self.bot

    # ------------------------------------------------------------------ direct calls

    async def edit_message(self, chat_id: str, message_id: str, html_text: str) -> None:
        await self.bot.edit_message_text(text=html_text, chat_id=chat_id, message_id=int(message_id), parse_mode="HTML")

    async def set_commands(self, menu: Menu, scope: MenuScope) -> None:
        commands = [BotCommand(command=name, description=text) for name, text in menu]
        await self.bot.set_my_commands(commands, scope=_scope(scope))

    def _reply_options(self, reply_to: int | None, keyboard: Keyboard) -> dict[str, Any]:
        return {"reply_parameters": _reply(reply_to), "reply_markup": _markup(keyboard)}

    def _photo_file(self, png: bytes) -> BufferedInputFile:
        return BufferedInputFile(png, filename="chart.png")

    def classify(self, error: Exception) -> Exception:
        if isinstance(error, TelegramRetryAfter):
            return RetryAfter(float(error.retry_after))
        if isinstance(error, TelegramForbiddenError | TelegramBadRequest | TelegramMigrateToChat):
            return PermanentFailure(str(error))
        return error


def _reply(message_id: int | None) -> ReplyParameters | None:
    # The original may have been deleted meanwhile; the answer still goes out, just not as a reply.
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True) if message_id else None


def _markup(keyboard: Keyboard) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.label, callback_data=b.callback_data) for b in row] for row in keyboard
        ]
    )


def _scope(scope: MenuScope) -> _Scope:
    if scope.kind == "all_group_chats":
        return BotCommandScopeAllGroupChats()
    if scope.kind == "chat" and scope.chat_id is not None:
        return BotCommandScopeChat(chat_id=int(scope.chat_id))
    return BotCommandScopeDefault()

"""The python-telegram-bot 22 adapter: its Application dispatches, the bridge decides."""

import logging
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken
from telegram.error import RetryAfter as PTBRetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from bot.delivery import PermanentFailure, RetryAfter
from bot.telegram.adapter import DEFAULT_API_URL, Keyboard, TelegramAdapter
from bot.telegram.bridge import Menu, MenuScope
from bot.telegram.translate import ALLOWED_UPDATES, BotIdentity, Json

log = logging.getLogger(__name__)


class PTBAdapter(TelegramAdapter[Update]):
    framework = "ptb"

    def __init__(self, *, token: str, api_url: str = DEFAULT_API_URL, connections: int = 32) -> None:
        super().__init__(token=token, api_url=api_url)
        self.application: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(token)
            .base_url(f"{self.api_url}/bot")
            .base_file_url(f"{self.api_url}/file/bot")
            .connection_pool_size(connections)
            # Polling and webhooks are ours: the offset may only move after the core committed.
            .updater(None)
            .build()
        )
        # Every handler the bot has, in one place.
        self.application.add_handler(MessageHandler(filters.UpdateType.MESSAGES, self.on_message))
        self.application.add_handler(CallbackQueryHandler(self.on_button))
        self.application.add_handler(ChatMemberHandler(self.on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
        self.application.add_error_handler(self.on_error)

    @property
    def bot(self) -> Bot:
        bot: Bot = self.application.bot
        return bot

    # ------------------------------------------------------------------ handlers

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """File a post or run a command."""
        await self.bridge.on_update(self.to_json(update))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Record a satisfaction rating pressed on an inline keyboard."""
        await self.bridge.on_update(self.to_json(update))

    async def on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Greet a group the bot was added to, if it is not linked to a community yet."""
        await self.bridge.on_update(self.to_json(update))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the failure and tell the user in safe words."""
        raw = self.to_json(update) if isinstance(update, Update) else None
        await self.bridge.on_error(raw, context.error or RuntimeError("unknown error"))

    # ------------------------------------------------------------------ lifecycle and updates

    async def start(self) -> BotIdentity:
        try:
            await self.application.initialize()
        except InvalidToken as error:
            raise SystemExit(f"Telegram refused the token: {error}") from error
        me = self.bot.bot
        return BotIdentity(id=me.id, username=me.username or "")

    async def close(self) -> None:
        await self.application.shutdown()

    async def get_updates(self, *, offset: int | None, wait_seconds: int, limit: int) -> Sequence[Update]:
        return await self.bot.get_updates(
            offset=offset,
            limit=limit,
            timeout=timedelta(seconds=wait_seconds),
            allowed_updates=list(ALLOWED_UPDATES),
            read_timeout=wait_seconds + 10,
        )

    def parse(self, raw: Json) -> Update:
        update = Update.de_json(dict(raw), self.bot)
        if update is None:
            raise ValueError("empty update")
        return update

    def update_id(self, update: Update) -> int:
        return update.update_id

    def to_json(self, update: Update) -> Json:
        return update.to_dict()

    async def feed(self, update: Update) -> None:
        await self.application.process_update(update)

    def bot_api(self) -> Bot:
        return self.bot

    # ------------------------------------------------------------------ direct calls

    async def edit_message(self, chat_id: str, message_id: str, html_text: str) -> None:
        await self.bot.edit_message_text(
            html_text, chat_id=chat_id, message_id=int(message_id), parse_mode=ParseMode.HTML
        )

    async def set_commands(self, menu: Menu, scope: MenuScope) -> None:
        await self.bot.set_my_commands([BotCommand(name, text) for name, text in menu], scope=_scope(scope))

    def _reply_options(self, reply_to: int | None, keyboard: Keyboard) -> dict[str, Any]:
        return {"reply_parameters": _reply(reply_to), "reply_markup": _markup(keyboard)}

    def _photo_file(self, png: bytes) -> InputFile:
        return InputFile(png, filename="chart.png")

    def classify(self, error: Exception) -> Exception:
        if isinstance(error, PTBRetryAfter):
            return RetryAfter(_seconds(error))
        if isinstance(error, Forbidden | BadRequest | ChatMigrated | PermanentFailure):
            return PermanentFailure(str(error))
        return error


def _seconds(error: PTBRetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 returns an int unless PTB_TIMEDELTA is set, and warns about that either way.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _reply(message_id: int | None) -> ReplyParameters | None:
    # The original may have been deleted meanwhile; the answer still goes out, just not as a reply.
    return ReplyParameters(message_id, allow_sending_without_reply=True) if message_id else None


def _markup(keyboard: Keyboard) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.callback_data) for b in row] for row in keyboard]
    )


def _scope(scope: MenuScope) -> BotCommandScope:
    if scope.kind == "all_group_chats":
        return BotCommandScopeAllGroupChats()
    if scope.kind == "chat" and scope.chat_id is not None:
        return BotCommandScopeChat(int(scope.chat_id))
    return BotCommandScopeDefault()

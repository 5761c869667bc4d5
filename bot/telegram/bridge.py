"""What the bot does with an update, written once for both frameworks.

An adapter's handlers hand the update's Bot API JSON to ``Bridge.on_update`` and its error
handler to ``Bridge.on_error``; the few calls that answer at once rather than through the outbox
(callback answers, the edited rating message, command menus, the apology after a crash) go back
through the adapter's ``BotActions``.
"""

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from bot.telegram.translate import (
    PLATFORM,
    AddedToGroup,
    BotIdentity,
    Json,
    rated_text,
    translate,
)
from handlers import catalogue
from handlers.clock import Clock
from handlers.digests import chart_png
from handlers.errors import UserFacingError
from handlers.messages import CallbackQuery, HandlerResult, IncomingMessage
from handlers.service import Minqing
from storage.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MenuScope:
    """Where a command menu shows: everyone's private chats, all groups, or one chat."""

    kind: str  # "default", "all_group_chats" or "chat"
    chat_id: str | None = None


Menu = tuple[tuple[str, str], ...]


class BotActions(Protocol):
    """Bot API calls made directly by the bridge (everything else goes through the outbox)."""

    async def answer_callback(self, query_id: str, text: str) -> None: ...

    async def edit_message(self, chat_id: str, message_id: str, html_text: str) -> None: ...

    async def set_commands(self, menu: Menu, scope: MenuScope) -> None: ...

    async def send_html(self, chat_id: str, html_text: str, reply_to_message_id: str | None) -> None: ...


class Bridge:
    """Translate, run the synchronous core in worker threads, and answer what must be answered now."""

    def __init__(
        self,
        *,
        core: Minqing,
        db: Database,
        bot: BotIdentity,
        actions: BotActions,
        executor: Executor | None = None,
        on_queued: Callable[[], None] = lambda: None,
        handle: Callable[[IncomingMessage], HandlerResult] | None = None,
    ) -> None:
        self.core = core
        #: The core's ``handle``, or a wrapper of it (``DeadLetters.guard`` keeps what it fails on).
        self.handle = handle or core.handle
        self.db = db
        self.bot = bot
        self.actions = actions
        self.executor = executor
        self.on_queued = on_queued
        self.clock: Clock = core.clock

    async def _in_thread(self, function: Callable[..., T], *args: object) -> T:
        # The core is synchronous (SQLAlchemy sessions); keep the event loop free while it runs.
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    async def on_update(self, update: Json) -> None:
        """Handle one update; returns after everything it changed is committed."""
        item = translate(update, self.bot)
        if isinstance(item, IncomingMessage):
            result: HandlerResult = await self._in_thread(self.handle, item)
            self._queued(result)
            if result.enrolled:
                await self.refresh_officer_menu(item.user_id)
        elif isinstance(item, CallbackQuery):
            await self._on_button(item, update["callback_query"])
        elif isinstance(item, AddedToGroup) and await self._in_thread(self._greet_if_unlinked, item):
            self.on_queued()

    async def _on_button(self, query: CallbackQuery, raw: Json) -> None:
        result: HandlerResult = await self._in_thread(self.core.handle_callback, query)
        self._queued(result)
        await self._best_effort(self.actions.answer_callback(query.query_id, result.toast))
        original = raw.get("message") or {}
        if result.case_codes and original.get("text") and query.message_id:
            # Take the buttons away so the rating reads as done in the chat, not only in a toast.
            edited = rated_text(str(original["text"]), result.toast)
            await self._best_effort(self.actions.edit_message(query.chat_id, query.message_id, edited))

    def _queued(self, result: HandlerResult) -> None:
        if result.messages:
            self.on_queued()

    async def on_error(self, update: Json | None, error: BaseException) -> None:
        """The adapters' single error handler: log, then tell the user in safe words."""
        if isinstance(error, UserFacingError):
            text = error.message
        else:
            log.error("update %s failed", (update or {}).get("update_id"), exc_info=error)
            text = catalogue.SOMETHING_WENT_WRONG
        if not update:
            return
        query = update.get("callback_query")
        if query:
            await self._best_effort(self.actions.answer_callback(str(query["id"]), text))
            return
        message = update.get("message")
        if message:
            await self._best_effort(
                self.actions.send_html(str(message["chat"]["id"]), _escape(text), str(message["message_id"]))
            )

    async def _best_effort(self, call: Awaitable[None]) -> None:
        """Await a direct Bot API call whose failure must not fail the update (it is already committed)."""
        try:
            await call
        except Exception as error:  # the network or Telegram refused; the outbox path is unaffected
            log.warning("direct Bot API call failed: %r", error)

    # -------------------------------------------------------------------------------- groups

    def _greet_if_unlinked(self, event: AddedToGroup) -> bool:
        """Ask the core to say, once per membership event, how to link an unlinked group."""
        return self.core.bot_added_to_group(platform=PLATFORM, chat_id=event.chat_id, event_id=event.event_id)

    # -------------------------------------------------------------------------------- menus

    async def register_menus(self) -> None:
        """Set the resident, group and per-officer command menus (setMyCommands with scopes)."""
        await self.actions.set_commands(catalogue.COMMAND_MENUS["resident"], MenuScope("default"))
        await self.actions.set_commands(catalogue.COMMAND_MENUS["group"], MenuScope("all_group_chats"))
        for user_id, menu in await self._in_thread(self._staff_menus):
            await self._best_effort(
                self.actions.set_commands(catalogue.COMMAND_MENUS[menu], MenuScope("chat", user_id))
            )

    async def refresh_officer_menu(self, user_id: str) -> None:
        """Show the officer menu (a unit's liaison: the unit menu) in the private chat of someone who just joined."""
        for _, menu in await self._in_thread(self._staff_menus, user_id):
            await self._best_effort(
                self.actions.set_commands(catalogue.COMMAND_MENUS[menu], MenuScope("chat", user_id))
            )

    def _staff_menus(self, only: str | None = None) -> list[tuple[str, str]]:
        return self.core.staff_menus(PLATFORM, only=only)

    # -------------------------------------------------------------------------------- photos

    async def load_photo(self, ref: str) -> bytes | None:
        """The PNG a ``photo_ref`` names ("digest:12"), or None when there is no such image."""
        return await self._in_thread(chart_png, self.db, ref)


def _escape(text: str) -> str:
    return html.escape(text, quote=False)

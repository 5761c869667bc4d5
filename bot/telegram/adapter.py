"""What the polling/webhook runners and ``Delivery`` need from a framework adapter, and the shared parts."""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from bot.delivery import PermanentFailure, RetryAfter
from bot.telegram.bridge import Bridge, Menu, MenuScope
from bot.telegram.translate import ALLOWED_UPDATES, CAPTION_LIMIT, BotIdentity, Json, Rendered, render
from handlers.messages import Button, OutgoingMessage

#: The framework's own update type (``telegram.Update`` or ``aiogram.types.Update``).
U = TypeVar("U")

DEFAULT_API_URL = "https://api.telegram.org"
Keyboard = tuple[tuple[Button, ...], ...]


class TelegramAdapter(ABC, Generic[U]):
    """One framework's bot: Bot API calls, update dispatch into the bridge, and a ``Sender`` for delivery."""

    framework: str = ""

    def __init__(self, *, token: str, api_url: str = DEFAULT_API_URL) -> None:
        self.token = token
        self.api_url = api_url.rstrip("/")
        self._bridge: Bridge | None = None

    @property
    def bridge(self) -> Bridge:
        if self._bridge is None:
            raise RuntimeError("attach a Bridge before feeding updates")
        return self._bridge

    def attach(self, bridge: Bridge) -> None:
        self._bridge = bridge

    # ------------------------------------------------------------------ lifecycle and updates

    @abstractmethod
    async def start(self) -> BotIdentity:
        """Initialise the framework and ask Telegram who the bot is (getMe)."""

    @abstractmethod
    async def close(self) -> None:
        """Release the HTTP sessions."""

    @abstractmethod
    async def get_updates(self, *, offset: int | None, wait_seconds: int, limit: int) -> Sequence[U]:
        """Long-poll getUpdates; passing ``offset`` confirms every update before it."""

    @abstractmethod
    def parse(self, raw: Json) -> U:
        """Decode a webhook body into the framework's update."""

    @abstractmethod
    def update_id(self, update: U) -> int: ...

    @abstractmethod
    def to_json(self, update: U) -> Json:
        """The update as Bot API JSON, for the shared translation."""

    @abstractmethod
    async def feed(self, update: U) -> None:
        """Run the framework's dispatcher (its handlers and its error handler) on one update."""

    @abstractmethod
    def bot_api(self) -> Any:
        """The framework's Bot object: both spell these Bot API calls the same way."""

    async def delete_webhook(self) -> None:
        await self.bot_api().delete_webhook(drop_pending_updates=False)

    async def set_webhook(self, url: str, secret: str) -> None:
        await self.bot_api().set_webhook(url, allowed_updates=list(ALLOWED_UPDATES), secret_token=secret)

    # ------------------------------------------------------------------ BotActions

    async def answer_callback(self, query_id: str, text: str) -> None:
        await self.bot_api().answer_callback_query(query_id, text=text[:200] or None)

    @abstractmethod
    async def edit_message(self, chat_id: str, message_id: str, html_text: str) -> None: ...

    @abstractmethod
    async def set_commands(self, menu: Menu, scope: MenuScope) -> None: ...

    async def send_html(self, chat_id: str, html_text: str, reply_to_message_id: str | None) -> None:
        reply_to = int(reply_to_message_id) if reply_to_message_id and reply_to_message_id.isdigit() else None
        await self._send_text(Rendered(chat_id, html_text, reply_to, ()))

    # ------------------------------------------------------------------ Sender (used by Delivery)

    async def send(self, message: OutgoingMessage) -> None:
        """Send one outbox message; framework errors become RetryAfter / PermanentFailure."""
        try:
            await self._send(message)
        except (RetryAfter, PermanentFailure):
            raise
        except Exception as error:
            mapped = self.classify(error)
            if mapped is error:
                raise
            raise mapped from error

    async def _send(self, message: OutgoingMessage) -> None:
        parts = render(message)
        if message.photo_ref:
            png = await self.bridge.load_photo(message.photo_ref)
            if png is None:
                raise PermanentFailure(f"no image for {message.photo_ref}")
            first = parts[0]
            if len(parts) == 1 and len(message.text) <= CAPTION_LIMIT:
                await self._send_photo(first.chat_id, png, first.text, first.reply_to_message_id, first.keyboard)
                return
            # Too long for a caption: the chart first, then the text as ordinary messages.
            await self._send_photo(first.chat_id, png, "", first.reply_to_message_id, ())
        for part in parts:
            await self._send_text(part)

    async def _send_text(self, part: Rendered) -> None:
        await self.bot_api().send_message(
            part.chat_id, part.text, parse_mode="HTML", **self._reply_options(part.reply_to_message_id, part.keyboard)
        )

    async def _send_photo(
        self, chat_id: str, png: bytes, caption_html: str, reply_to: int | None, keyboard: Keyboard
    ) -> None:
        await self.bot_api().send_photo(
            chat_id,
            self._photo_file(png),
            caption=caption_html or None,
            parse_mode="HTML",
            **self._reply_options(reply_to, keyboard),
        )

    @abstractmethod
    def _reply_options(self, reply_to: int | None, keyboard: Keyboard) -> dict[str, Any]:
        """``reply_parameters`` and ``reply_markup`` in the framework's types."""

    @abstractmethod
    def _photo_file(self, png: bytes) -> Any:
        """The chart PNG as the framework's upload type."""

    @abstractmethod
    def classify(self, error: Exception) -> Exception:
        """Map the framework's error to RetryAfter, PermanentFailure, or itself (retried with back-off)."""

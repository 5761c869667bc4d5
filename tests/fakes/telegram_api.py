"""A fake Telegram Bot API server: real HTTP on 127.0.0.1 that python-telegram-bot and aiogram both accept.

It serves ``/bot{TOKEN}/{method}`` for getMe, getUpdates (long poll with offset/timeout/limit),
sendMessage, sendPhoto, editMessageText, answerCallbackQuery, setMyCommands, deleteWebhook,
setWebhook and getWebhookInfo; answers 409 to getUpdates while a webhook is set and 429 with
``retry_after`` when a test asks for it; pushes updates to a webhook with the secret header; and
records every call the bot makes. Tests build updates the way Telegram does (``bot_command`` and
``mention`` entities with UTF-16 offsets, per-chat message ids).
"""

import asyncio
import html
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_JSON_FIELDS = {"reply_markup", "reply_parameters", "commands", "scope", "allowed_updates", "link_preview_options"}
_INT_FIELDS = {"offset", "limit", "timeout", "message_id"}
_TAG = re.compile(r"<[^>]+>")


@dataclass
class Call:
    """One Bot API request the bot made, with what the fake answered."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    result: Any = None

    @property
    def chat_id(self) -> str:
        return str(self.params.get("chat_id", ""))

    @property
    def text(self) -> str:
        """The text a user would read (HTML parsed away)."""
        raw = str(self.params.get("text") or self.params.get("caption") or "")
        return html.unescape(_TAG.sub("", raw))

    @property
    def reply_to(self) -> int | None:
        reply = self.params.get("reply_parameters") or {}
        value = reply.get("message_id") if isinstance(reply, dict) else None
        return int(value) if value is not None else None


@dataclass
class _Throttle:
    method: str
    retry_after: int
    chat_id: str | None
    times: int


@dataclass
class FakeTelegram:
    token: str = "123456:TEST-token_for-fake"
    bot_id: int = 424242
    username: str = "minqing_test_bot"
    calls: list[Call] = field(default_factory=list)
    #: Injection time of every update, by update_id (benchmarks measure from here).
    injected_at: dict[int, float] = field(default_factory=dict)
    webhook_url: str = ""
    webhook_secret: str = ""
    #: The highest offset the bot confirmed with getUpdates.
    confirmed: int = 0
    #: While set, getUpdates withholds updates from this id on (a test's way to stop a burst half-way).
    hold_from: int | None = None
    #: Enforce Telegram's limits (30 sends/s overall, 20/minute per group, 1/s per private chat) as
    #: Telegram does: a send that would break one is answered 429 with retry_after and not delivered.
    enforce_limits: bool = False
    #: Every send refused for a broken limit: (chat_id, which limit).
    limit_breaks: list[tuple[str, str]] = field(default_factory=list)
    #: Windows are read this much shorter: the fake times a send when its own event loop gets to it,
    #: which on a loaded machine can be a little after the request arrived.
    limit_tolerance: float = 0.0

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._throttles: list[_Throttle] = []
        self._delivered: deque[float] = deque()
        self._delivered_to: dict[str, deque[float]] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.url = ""

    # ------------------------------------------------------------------ server

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._endpoint)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self._closing = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _endpoint(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await _params(request)
        call = Call(method=method, params=params, at=time.monotonic())
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            status, body = 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        else:
            status, body = await handler(params)
        call.status, call.result = status, body.get("result")
        if method != "getUpdates" or body.get("result"):
            self.calls.append(call)
        await self._notify()
        return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    # ------------------------------------------------------------------ Bot API methods

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "民情通",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
        }

    async def _api_getMe(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"ok": True, "result": self._bot_user()}

    async def _api_getUpdates(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.webhook_url:
            return 409, {
                "ok": False,
                "error_code": 409,
                "description": "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            }
        offset = int(params.get("offset") or 0)
        if offset:
            self.confirmed = max(self.confirmed, offset)
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        limit = max(1, min(100, int(params.get("limit") or 100)))
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 50.0)
        async with self._changed:
            while not self._available() and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
        return 200, {"ok": True, "result": self._available()[:limit]}

    def _available(self) -> list[dict[str, Any]]:
        if self.hold_from is None:
            return self._updates
        return [u for u in self._updates if u["update_id"] < self.hold_from]

    def _throttled(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        for throttle in self._throttles:
            if throttle.method == method and throttle.chat_id in (None, str(params.get("chat_id"))):
                throttle.times -= 1
                if throttle.times <= 0:
                    self._throttles.remove(throttle)
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {throttle.retry_after}",
                    "parameters": {"retry_after": throttle.retry_after},
                }
        return None

    def _bot_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message = {
            "message_id": self.next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": self._bot_user(),
            **content,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _over_limit(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """429 when this send would break one of Telegram's limits; else count it as delivered."""
        if not self.enforce_limits:
            return None
        now, chat = time.monotonic(), str(params.get("chat_id"))
        span, limit = (60.0, 20) if chat.startswith("-") else (1.0, 1)
        mine = self._delivered_to.setdefault(chat, deque())
        for sent, window in ((self._delivered, 1.0), (mine, span)):
            while sent and now - sent[0] >= window - self.limit_tolerance:
                sent.popleft()
        broken = "overall" if len(self._delivered) >= 30 else ("chat" if len(mine) >= limit else None)
        if broken is not None:
            self.limit_breaks.append((chat, broken))
            retry = 1 if broken == "overall" or span == 1.0 else int(span - (now - mine[0])) + 1
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry}",
                "parameters": {"retry_after": retry},
            }
        self._delivered.append(now)
        mine.append(now)
        return None

    def sends_per_chat(self) -> dict[str, int]:
        """Messages delivered (answered 200) to each chat."""
        counts: dict[str, int] = {}
        for call in self.calls:
            if call.method in ("sendMessage", "sendPhoto") and call.status == 200:
                counts[call.chat_id] = counts.get(call.chat_id, 0) + 1
        return counts

    async def _api_sendMessage(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        refused = self._throttled("sendMessage", params) or self._over_limit(params)
        if refused is not None:
            return refused
        text = html.unescape(_TAG.sub("", str(params.get("text", ""))))
        return 200, {"ok": True, "result": self._bot_message(params, text=text)}

    async def _api_sendPhoto(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        refused = self._throttled("sendPhoto", params) or self._over_limit(params)
        if refused is not None:
            return refused
        photo = [{"file_id": "sent-photo", "file_unique_id": "sent-photo-u", "width": 800, "height": 600}]
        caption = html.unescape(_TAG.sub("", str(params.get("caption") or "")))
        content: dict[str, Any] = {"photo": photo}
        if caption:
            content["caption"] = caption
        return 200, {"ok": True, "result": self._bot_message(params, **content)}

    async def _api_editMessageText(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        text = html.unescape(_TAG.sub("", str(params.get("text", ""))))
        message = {
            "message_id": int(params["message_id"]),
            "date": int(time.time()),
            "chat": self.chat(int(params["chat_id"])),
            "from": self._bot_user(),
            "text": text,
        }
        return 200, {"ok": True, "result": message}

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"ok": True, "result": True}

    async def _api_setMyCommands(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"ok": True, "result": True}

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.webhook_url, self.webhook_secret = "", ""
        return 200, {"ok": True, "result": True}

    async def _api_setWebhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.webhook_url = str(params.get("url", ""))
        self.webhook_secret = str(params.get("secret_token", ""))
        return 200, {"ok": True, "result": True}

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        info = {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        return 200, {"ok": True, "result": info}

    # ------------------------------------------------------------------ what tests control

    def throttle(self, method: str = "sendMessage", *, retry_after: int = 1, chat_id: str | None = None) -> None:
        """Answer the next matching call with 429 and this ``retry_after``."""
        self._throttles.append(_Throttle(method, retry_after, chat_id, 1))

    def next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def chat(self, chat_id: int, title: str = "幸福小区业主群") -> dict[str, Any]:
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup", "title": title}
        return {"id": chat_id, "type": "private", "first_name": f"用户{chat_id}"}

    @staticmethod
    def user(user_id: int, first_name: str = "") -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"用户{user_id}",
            "language_code": "zh-hans",
        }

    def message(
        self,
        *,
        user_id: int,
        text: str = "",
        chat_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
        photo: bool = False,
        voice: bool = False,
    ) -> dict[str, Any]:
        """A message as Telegram would send it, with entities for commands and @mentions."""
        chat = chat_id if chat_id is not None else user_id
        message: dict[str, Any] = {
            "message_id": self.next_message_id(chat),
            "date": int(time.time()),
            "chat": self.chat(chat),
            "from": self.user(user_id),
        }
        field_name = "caption" if (photo or voice) else "text"
        if text:
            message[field_name] = text
            entities = _entities(text)
            if entities:
                message["caption_entities" if field_name == "caption" else "entities"] = entities
        if photo:
            message["photo"] = [
                {"file_id": f"photo-{message['message_id']}-s", "file_unique_id": "ps", "width": 90, "height": 90},
                {"file_id": f"photo-{message['message_id']}-l", "file_unique_id": "pl", "width": 1280, "height": 960},
            ]
        if voice:
            message["voice"] = {"file_id": f"voice-{message['message_id']}", "file_unique_id": "v", "duration": 3}
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return message

    def added_to_group(self, chat_id: int, *, by_user: int) -> dict[str, Any]:
        bot = self._bot_user()
        return {
            "my_chat_member": {
                "chat": self.chat(chat_id, "新建的群"),
                "from": self.user(by_user),
                "date": int(time.time()),
                "old_chat_member": {"status": "left", "user": bot},
                "new_chat_member": {"status": "member", "user": bot},
            }
        }

    def button_press(self, *, user_id: int, message: dict[str, Any], data: str) -> dict[str, Any]:
        return {
            "callback_query": {
                "id": f"cq-{next(self._update_ids)}",
                "from": self.user(user_id),
                "chat_instance": "ci-1",
                "message": message,
                "data": data,
            }
        }

    async def inject(self, payload: dict[str, Any], *, update_id: int | None = None) -> dict[str, Any]:
        """Queue an update for getUpdates (``payload`` is ``{"message": ...}`` or similar)."""
        update = {"update_id": update_id if update_id is not None else next(self._update_ids), **payload}
        self.injected_at.setdefault(update["update_id"], time.monotonic())
        self._updates.append(update)
        self._updates.sort(key=lambda u: u["update_id"])
        await self._notify()
        return update

    async def inject_text(self, *, user_id: int, text: str, chat_id: int | None = None) -> dict[str, Any]:
        return await self.inject({"message": self.message(user_id=user_id, text=text, chat_id=chat_id)})

    async def push(self, payload: dict[str, Any], *, secret: str | None = None) -> int:
        """POST an update to the webhook, as Telegram does; returns the HTTP status the bot answered."""
        update = payload if "update_id" in payload else {"update_id": next(self._update_ids), **payload}
        headers = {SECRET_HEADER: self.webhook_secret if secret is None else secret}
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.webhook_url, json=update, headers=headers) as r,
        ):
            return r.status

    # ------------------------------------------------------------------ what tests read

    def sent(self, *, chat_id: int | str | None = None, method: str | None = None) -> list[Call]:
        """Messages the bot sent successfully (sendMessage, sendPhoto), optionally to one chat."""
        methods = {method} if method else {"sendMessage", "sendPhoto"}
        return [
            c
            for c in self.calls
            if c.method in methods and c.status == 200 and (chat_id is None or c.chat_id == str(chat_id))
        ]

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, condition: Callable[[], bool], *, within: float = 15.0) -> None:
        """Wait until ``condition()`` holds, re-checking whenever the bot calls the API."""
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(condition)

    async def wait_sent(self, chat_id: int | str, count: int = 1, *, within: float = 15.0) -> list[Call]:
        await self.wait_for(lambda: len(self.sent(chat_id=chat_id)) >= count, within=within)
        return self.sent(chat_id=chat_id)


def _entities(text: str) -> list[dict[str, Any]]:
    """``bot_command`` and ``mention`` entities, with offsets and lengths in UTF-16 code units."""

    def units(s: str) -> int:
        return len(s.encode("utf-16-le")) // 2

    entities = []
    command = re.match(r"/[A-Za-z0-9_]+(@\w+)?", text)
    if command:
        entities.append({"type": "bot_command", "offset": 0, "length": units(command.group(0))})
    for mention in re.finditer(r"@[A-Za-z0-9_]{5,32}", text):
        if command and mention.start() < command.end():
            continue
        entities.append({"type": "mention", "offset": units(text[: mention.start()]), "length": units(mention.group())})
    return entities


async def _params(request: web.Request) -> dict[str, Any]:
    """Request parameters from the query string, a JSON body, or a (multipart) form."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        params.update(body or {})
    elif request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = {"filename": value.filename, "size": len(value.file.read())}
            else:
                params[key] = value
    for key in _JSON_FIELDS & params.keys():
        if isinstance(params[key], str):
            params[key] = json.loads(params[key])
    for key in _INT_FIELDS & params.keys():
        if isinstance(params[key], str) and params[key].lstrip("-").isdigit():
            params[key] = int(params[key])
    if "chat_id" in params:
        params["chat_id"] = str(params["chat_id"])
    return params

"""The intelligent robot's callback URL at ``/wecom``: verify, decrypt, answer within WeCom's limit.

GET is the URL check: ``msg_signature`` over (token, timestamp, nonce, echostr), and the answer is
the decrypted echostr. POST carries ``{"encrypt": …}`` signed the same way; the plaintext is the
callback JSON (WeCom's callback encryption with an empty ReceiveId). Refused before the core runs:
a timestamp outside the window or a wrong signature (403), a body over the limit (413), anything
that does not decrypt or parse (400).

Each POST is answered within ``passive_budget``: with an encrypted stream message (finished, so
WeCom asks for no refresh) when the core is done by then, else with an empty body while the core
goes on and its replies leave through the outbox (response_url, then the fallbacks). Retries of a
``msgid`` join the run under way; the core's claim on (chat, msgid) keeps it to one case anyway.
Button clicks (``template_card_event``) go to the core's button handler and are answered with a
card update carrying its toast.
"""

import asyncio
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from aiohttp import web

from bot.wechat.crypto import MessageCrypto, PayloadError, SignatureError, check_signature
from bot.wechat.passive import Exchange, PassiveReplies, report_handled
from bot.wecom.sender import ResponseUrls
from bot.wecom.wire import (
    AnswerOnly,
    Ignore,
    Press,
    RecentPosts,
    ToCore,
    WireError,
    card_update,
    parse_callback,
    stream_reply,
    text_reply,
    translate,
)
from handlers import catalogue
from handlers.clock import Clock
from handlers.messages import CallbackQuery, HandlerResult, IncomingMessage

log = logging.getLogger(__name__)

PATH = "/wecom"
MAX_BODY_BYTES = 64 * 1024
#: Requests signed more than this many seconds away from our clock are refused (replays).
TIMESTAMP_WINDOW = 300


class WeComEndpoint:
    def __init__(
        self,
        *,
        handle: Callable[[IncomingMessage], HandlerResult],
        press: Callable[[CallbackQuery], HandlerResult],
        crypto: MessageCrypto,
        replies: PassiveReplies,
        urls: ResponseUrls,
        clock: Clock,
        executor: Executor | None = None,
        passive_budget: float = 4.0,
        timestamp_window: float = TIMESTAMP_WINDOW,
        on_handled: Callable[[HandlerResult], None] = lambda result: None,
        greet: Callable[[str], bool] | None = None,
        on_greeted: Callable[[], None] = lambda: None,
        mention_files: bool = False,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.handle = handle
        self.press = press
        self.crypto = crypto
        self.replies = replies
        self.urls = urls
        self.clock = clock
        self.executor = executor
        self.passive_budget = passive_budget
        self.timestamp_window = timestamp_window
        self.on_handled = on_handled
        self.wall = wall
        self.mention_files = mention_files
        #: Tells an unlinked group how to link it (the core queues it once per group); True if queued.
        self.greet = greet
        self.on_greeted = on_greeted
        self._groups_seen: set[str] = set()
        self.recent = RecentPosts()
        self._clicks: OrderedDict[str, asyncio.Future[HandlerResult]] = OrderedDict()

    def routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.verify)
        app.router.add_post(PATH, self.receive)

    def _check(self, request: web.Request, encrypted: str) -> None:
        """Raise SignatureError unless the request is fresh and signed with our token."""
        query = request.query
        timestamp = query.get("timestamp", "")
        if not timestamp.isdigit() or abs(self.wall() - int(timestamp)) > self.timestamp_window:
            raise SignatureError("timestamp outside the window")
        check_signature(query.get("msg_signature", ""), self.crypto.token, timestamp, query.get("nonce", ""), encrypted)

    async def verify(self, request: web.Request) -> web.Response:
        echostr = request.query.get("echostr", "")
        try:
            self._check(request, echostr)
            plain = self.crypto.decrypt(echostr)
        except SignatureError:
            log.warning("WeCom URL verification from %s refused (signature or timestamp)", request.remote)
            return web.Response(status=403, text="forbidden")
        except PayloadError:
            return web.Response(status=400, text="bad request")
        return web.Response(body=plain, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.passive_budget
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="too large")
        try:
            envelope = json.loads(body)
            encrypted = str(envelope.get("encrypt", "")) if isinstance(envelope, dict) else ""
            if not encrypted:
                raise WireError("no encrypt field")
            self._check(request, encrypted)
            call = parse_callback(self.crypto.decrypt(encrypted))
        except SignatureError:
            log.warning("WeCom callback from %s refused (signature or timestamp)", request.remote)
            return web.Response(status=403, text="forbidden")
        except (WireError, PayloadError, ValueError) as error:
            log.warning("unreadable WeCom callback from %s: %s", request.remote, error)
            return web.Response(status=400, text="bad request")

        if call.is_group and call.chat_id not in self._groups_seen:
            self._first_from_group(call.chat_id)
        action = translate(call, recent=self.recent, now=self.clock.now(), mention_files=self.mention_files)
        if isinstance(action, Ignore):
            return _empty()
        if isinstance(action, AnswerOnly):
            return self._passive(stream_reply(action.text, call.msgid))
        # The URL is there before the core runs: replies that miss the passive answer can use it at once
        # (delivery waits for the exchange's decision before it sends anything to this chat).
        self.urls.add(call.chat_id, call.response_url, is_group=call.is_group)
        if isinstance(action, Press):
            return await self._press(action, deadline)
        assert isinstance(action, ToCore)
        exchange = await self._run(action.message, deadline)
        if exchange.failed:
            return self._passive(stream_reply(catalogue.SOMETHING_WENT_WRONG, call.msgid))
        if exchange.reply is None:
            return _empty()
        reply = text_reply(exchange.reply) if action.welcome else stream_reply(exchange.reply, call.msgid)
        return self._passive(reply)

    async def _run(self, message: IncomingMessage, deadline: float) -> Exchange:
        return await self.replies.join_or_start(
            (message.chat_id, message.message_id),
            lambda: asyncio.get_running_loop().run_in_executor(self.executor, self.handle, message),
            deadline=deadline,
            on_done=self._handled,
        )

    async def _press(self, action: Press, deadline: float) -> web.Response:
        """A button click: the core's button handler once per msgid, the card updated with its toast."""
        loop = asyncio.get_running_loop()
        pressed = self._clicks.get(action.query.query_id)
        if pressed is None:
            pressed = loop.run_in_executor(self.executor, self.press, action.query)
            pressed.add_done_callback(self._handled)
            self._clicks[action.query.query_id] = pressed
            while len(self._clicks) > 2000:
                self._clicks.popitem(last=False)
        try:
            result = await asyncio.wait_for(asyncio.shield(pressed), timeout=max(0.0, deadline - loop.time()))
        except TimeoutError:
            return _empty()
        except Exception:  # logged by _handled; the click may be retried
            self._clicks.pop(action.query.query_id, None)
            return _empty()
        if not result.toast or not action.task_id:
            return _empty()
        return self._passive(card_update(result.toast, action.task_id))

    def _first_from_group(self, chat_id: str) -> None:
        """The first callback from a group in this run: log its chatid, greet it if it is not linked."""
        self._groups_seen.add(chat_id)
        log.info("WeCom group %s: first callback in this run", chat_id)
        if self.greet is None:
            return
        greeted = asyncio.get_running_loop().run_in_executor(self.executor, self.greet, chat_id)

        def done(future: "asyncio.Future[bool]") -> None:
            if future.cancelled():
                return
            if future.exception() is not None:
                log.error("greeting WeCom group %s failed", chat_id, exc_info=future.exception())
                self._groups_seen.discard(chat_id)  # try again with its next callback
            elif future.result():
                self.on_greeted()

        greeted.add_done_callback(done)

    def _handled(self, handled: "asyncio.Future[HandlerResult]") -> None:
        report_handled(self.on_handled, "WeCom callback")(handled)

    def _passive(self, reply: dict[str, Any]) -> web.Response:
        timestamp, nonce = str(int(self.wall())), secrets.token_hex(8)
        encrypted = self.crypto.encrypt(json.dumps(reply, ensure_ascii=False).encode())
        signed = {
            "encrypt": encrypted,
            "msgsignature": self.crypto.sign(timestamp, nonce, encrypted),
            "timestamp": int(timestamp),
            "nonce": nonce,
        }
        return web.json_response(signed)


def _empty() -> web.Response:
    # An empty answer: WeCom shows nothing now; replies (if any) follow through the response_url.
    return web.Response(status=200, body=b"")

"""The Official Account endpoint at ``/wechat``: verify, decrypt, and answer within 5 seconds.

WeChat waits 5 seconds for an answer and then posts the same message again (three tries in
all). So every POST is answered within ``passive_budget`` (4 s by default): with a passive reply
when the core's result is ready by then, else with "success" while the core goes on and its
replies leave through the outbox (customer-service API). WeChat's retries of a message join the
run already under way instead of starting another, and the core's claim on (chat, message id)
stops a second case even across processes or restarts.

Everything that can be refused is refused before the core runs: a bad signature (403), a body
over the size limit (413), XML that is not a WeChat message or a payload that does not decrypt
for our AppID (400).
"""

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Executor

from aiohttp import web

from bot.wechat.crypto import MessageCrypto, PayloadError, SignatureError, check_signature
from bot.wechat.passive import Exchange, PassiveReplies, report_handled
from bot.wechat.translate import AnswerOnly, Envelope, Ignore, ToCore, envelope, translate
from bot.wechat.wire import WireError, encrypted_envelope, parse_xml, text_reply
from handlers import catalogue
from handlers.messages import HandlerResult, IncomingMessage

log = logging.getLogger(__name__)

PATH = "/wechat"
#: A signed request whose timestamp is further than this from our clock is refused (a replay).
TIMESTAMP_WINDOW = 300
#: WeChat's messages are a few KiB at most (2048-byte texts, base64 and XML around them).
MAX_BODY_BYTES = 64 * 1024


class WeChatEndpoint:
    """GET: URL verification; POST: one message."""

    def __init__(
        self,
        *,
        handle: Callable[[IncomingMessage], HandlerResult],
        token: str,
        crypto: MessageCrypto | None,
        replies: PassiveReplies,
        executor: Executor | None = None,
        passive_budget: float = 4.0,
        on_handled: Callable[[HandlerResult], None] = lambda result: None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.now = now
        self.handle = handle
        self.token = token
        self.crypto = crypto
        self.replies = replies
        self.executor = executor
        self.passive_budget = passive_budget
        self.on_handled = on_handled

    def routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.verify)
        app.router.add_post(PATH, self.receive)

    async def verify(self, request: web.Request) -> web.Response:
        """Answer WeChat's URL check with ``echostr`` when the signature is ours."""
        query = request.query
        try:
            check_signature(query.get("signature", ""), self.token, query.get("timestamp", ""), query.get("nonce", ""))
            self._check_fresh(query.get("timestamp", ""))
        except SignatureError as error:
            log.warning("WeChat URL verification from %s refused: %s", request.remote, error)
            return web.Response(status=403, text="forbidden")
        return web.Response(text=query.get("echostr", ""))

    async def receive(self, request: web.Request) -> web.Response:
        """Handle one message; the answer always leaves within the passive budget."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.passive_budget
        query = request.query
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        try:
            check_signature(query.get("signature", ""), self.token, timestamp, nonce)
            self._check_fresh(timestamp)
        except SignatureError as error:
            log.warning("WeChat message from %s refused: %s", request.remote, error)
            return web.Response(status=403, text="forbidden")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="too large")
        try:
            fields = parse_xml(body)
            if self.crypto is not None:
                encrypted = fields.get("Encrypt", "")
                if query.get("encrypt_type") != "aes" or not encrypted:
                    raise WireError("safe mode is on: the message must be encrypted")
                check_signature(query.get("msg_signature", ""), self.token, timestamp, nonce, encrypted)
                fields = parse_xml(self.crypto.decrypt(encrypted))
            where = envelope(fields)
            action = translate(fields, where)
        except SignatureError:
            log.warning("WeChat message from %s with a wrong msg_signature refused", request.remote)
            return web.Response(status=403, text="forbidden")
        except (WireError, PayloadError) as error:
            log.warning("unreadable WeChat message from %s: %s", request.remote, error)
            return web.Response(status=400, text="bad request")

        if isinstance(action, Ignore):
            return _success()
        if isinstance(action, AnswerOnly):
            return self._passive(where, action.text)
        assert isinstance(action, ToCore)
        exchange = await self._run(action.message, where, deadline)
        if exchange.failed:
            return self._passive(where, catalogue.SOMETHING_WENT_WRONG)
        if exchange.reply is not None:
            return self._passive(where, exchange.reply)
        return _success()

    def _check_fresh(self, timestamp: str) -> None:
        """Refuse a signed request from outside the window: a captured request cannot be replayed later."""
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 11:
            raise SignatureError("timestamp is not a number of seconds")
        if abs(self.now() - int(timestamp)) > TIMESTAMP_WINDOW:
            raise SignatureError("timestamp outside the allowed window")

    async def _run(self, message: IncomingMessage, where: Envelope, deadline: float) -> Exchange:
        """Start the core for this message, or join the run a retry of it started; wait at most till ``deadline``."""
        return await self.replies.join_or_start(
            (where.openid, where.message_id),
            lambda: asyncio.get_running_loop().run_in_executor(self.executor, self.handle, message),
            deadline=deadline,
            on_done=report_handled(lambda result: self.on_handled(result), "WeChat message"),
        )

    def _passive(self, where: Envelope, content: str) -> web.Response:
        reply = text_reply(to_user=where.openid, from_user=where.account, create_time=int(time.time()), content=content)
        if self.crypto is None:
            return web.Response(text=reply, content_type="application/xml")
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
        encrypted = self.crypto.encrypt(reply.encode())
        signature = self.crypto.sign(timestamp, nonce, encrypted)
        signed = encrypted_envelope(encrypted=encrypted, signature=signature, timestamp=timestamp, nonce=nonce)
        return web.Response(text=signed, content_type="application/xml")


def _success() -> web.Response:
    # "success" (or an empty body) tells WeChat the message arrived and no passive reply follows.
    return web.Response(text="success")

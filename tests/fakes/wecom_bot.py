"""Fake WeCom intelligent robot: callbacks signed and encrypted as WeCom does, the response_url
endpoint (one use, expiry on demand), and the self-built app's message API.

The encryption is not imported from ``bot``: it is the test-side implementation in
``tests.fakes.wechat`` (written from the documentation), used with the robot's empty ReceiveId, so
a mistake in the bot's crypto cannot hide behind the same mistake here. Every response_url call
and app message is recorded.
"""

import asyncio
import contextlib
import itertools
import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.wechat import _Server, sha1_signature, wechat_decrypt, wechat_encrypt

_ids = itertools.count(1)
#: What the fake answers for a used or expired response_url (the real code is not documented).
URL_REFUSED = 60020


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float
    reply: dict[str, Any] | None = None

    @property
    def content(self) -> str | None:
        """The passive stream's (or text's) words, if the answer carried one."""
        if self.reply is None:
            return None
        section = self.reply.get(str(self.reply.get("msgtype", "")), {})
        return str(section.get("content", "")) if isinstance(section, dict) else None


@dataclass
class Posted:
    """One call the bot made to a response_url."""

    chat_id: str
    code: str
    body: dict[str, Any]
    at: float
    accepted: bool

    @property
    def text(self) -> str:
        if self.body.get("msgtype") == "template_card":
            return str(self.body["template_card"].get("sub_title_text", ""))
        section = self.body.get(str(self.body.get("msgtype", "")), {})
        return str(section.get("content", "")) if isinstance(section, dict) else ""


@dataclass
class FakeResponseUrls(_Server):
    """``/cgi-bin/aibot/response?response_code=…``: each code once, refused when used or expired."""

    posted: list[Posted] = field(default_factory=list)
    #: Seconds the fake waits before answering (to measure what the bot does meanwhile).
    delay: float = 0.0

    def __post_init__(self) -> None:
        _Server.__init__(self)
        self.codes: dict[str, str] = {}
        self.used: set[str] = set()
        self.expired: set[str] = set()
        self.arrived = asyncio.Event()
        self.app.router.add_post("/cgi-bin/aibot/response", self._respond)

    def new(self, chat_id: str) -> str:
        code = f"RC{next(_ids):08d}"
        self.codes[code] = chat_id
        return f"{self.url}/cgi-bin/aibot/response?response_code={code}"

    def expire(self, chat_id: str) -> None:
        self.expired |= {code for code, chat in self.codes.items() if chat == chat_id}

    async def _respond(self, request: web.Request) -> web.Response:
        code = request.query.get("response_code", "")
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        ok = code in self.codes and code not in self.used and code not in self.expired
        if code in self.codes:
            self.used.add(code)
        self.posted.append(Posted(self.codes.get(code, ""), code, body, time.monotonic(), ok))
        self.arrived.set()
        if not ok:
            return web.json_response({"errcode": URL_REFUSED, "errmsg": "response_code expired or used"})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def to(self, chat_id: str) -> list[Posted]:
        return [p for p in self.posted if p.chat_id == chat_id and p.accepted]

    async def wait_for(self, chat_id: str, count: int = 1, *, within: float = 10.0) -> list[Posted]:
        deadline = time.monotonic() + within
        while len(self.to(chat_id)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.to(chat_id))} of {count} posts to {chat_id}: {self.posted}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout=0.1)
        return self.to(chat_id)


@dataclass
class FakeAppApi(_Server):
    """``/cgi-bin/gettoken`` and ``/cgi-bin/message/send`` of a self-built app."""

    corpid: str = "ww_test_corp"
    secret: str = "app-secret"
    sent: list[dict[str, Any]] = field(default_factory=list)
    fail_next: deque[int] = field(default_factory=deque)

    def __post_init__(self) -> None:
        _Server.__init__(self)
        self.token = ""
        self.app.router.add_get("/cgi-bin/gettoken", self._token)
        self.app.router.add_post("/cgi-bin/message/send", self._send)

    async def _token(self, request: web.Request) -> web.Response:
        if request.query.get("corpid") != self.corpid or request.query.get("corpsecret") != self.secret:
            return web.json_response({"errcode": 40001, "errmsg": "invalid secret"})
        self.token = f"TOKEN{next(_ids)}"
        return web.json_response({"errcode": 0, "access_token": self.token, "expires_in": 7200})

    async def _send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != self.token:
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        if self.fail_next:
            return web.json_response({"errcode": self.fail_next.popleft(), "errmsg": "injected"})
        self.sent.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def texts_to(self, user_id: str) -> list[str]:
        return [str(s["text"]["content"]) for s in self.sent if s["touser"] == user_id]


class FakeWeComRobot:
    """Posts callbacks to the bot the way WeCom's servers do, and reads its encrypted answers."""

    def __init__(
        self, http: aiohttp.ClientSession, url: str, *, token: str, aes_key: str, urls: FakeResponseUrls
    ) -> None:
        self.http = http
        self.url = url
        self.token = token
        self.aes_key = aes_key
        self.urls = urls
        self.aibotid = "AIBOT_TEST"

    def _query(self, encrypted: str, *, forge: bool = False, skew: int = 0) -> dict[str, str]:
        timestamp, nonce = str(int(time.time()) + skew), str(int.from_bytes(os.urandom(4), "big"))
        signature = sha1_signature("not-the-token" if forge else self.token, timestamp, nonce, encrypted)
        return {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}

    async def verify(self, echo: str, *, forge: bool = False, skew: int = 0) -> Answer:
        echostr = wechat_encrypt(self.aes_key, "", echo.encode())
        started = time.perf_counter()
        params = {**self._query(echostr, forge=forge, skew=skew), "echostr": echostr}
        async with self.http.get(self.url, params=params) as response:
            return Answer(response.status, await response.read(), time.perf_counter() - started)

    def callback(
        self, *, user: str, chat: str | None = None, msgtype: str = "text", msgid: str | None = None, **content: Any
    ) -> dict[str, Any]:
        """A message or event as WeCom writes it; ``chat`` given = a group chat."""
        where = chat or user
        body: dict[str, Any] = {
            "msgid": msgid or f"CAIQ{next(_ids):012d}",
            "aibotid": self.aibotid,
            "chattype": "group" if chat else "single",
            "from": {"userid": user},
            "response_url": self.urls.new(where),
            "msgtype": msgtype,
            **content,
        }
        if chat:
            body["chatid"] = chat
        return body

    def text(self, text: str, *, user: str, chat: str | None = None, **extra: Any) -> dict[str, Any]:
        content = f"@民情通 {text}" if chat else text
        return self.callback(user=user, chat=chat, text={"content": content}, **extra)

    def click(self, key: str, *, user: str, chat: str | None = None, task_id: str = "") -> dict[str, Any]:
        event = {"eventtype": "template_card_event", "template_card_event": {
            "card_type": "button_interaction", "event_key": key, "task_id": task_id}}  # fmt: skip
        return self.callback(user=user, chat=chat, msgtype="event", event=event)

    async def post(
        self, callback: dict[str, Any], *, forge: bool = False, skew: int = 0, raw: bytes | None = None
    ) -> Answer:
        """Post one callback, encrypted with the empty ReceiveId and signed; decode the answer."""
        encrypted = wechat_encrypt(self.aes_key, "", json.dumps(callback, ensure_ascii=False).encode())
        query = self._query(encrypted, forge=forge, skew=skew)
        body = raw if raw is not None else json.dumps({"encrypt": encrypted}).encode()
        started = time.perf_counter()
        async with self.http.post(self.url, params=query, data=body) as response:
            answer = Answer(response.status, await response.read(), time.perf_counter() - started)
        if answer.status == 200 and answer.body:
            signed = json.loads(answer.body)
            expected = sha1_signature(self.token, str(signed["timestamp"]), signed["nonce"], signed["encrypt"])
            assert signed["msgsignature"] == expected, "passive reply signed wrongly"
            answer.reply = json.loads(wechat_decrypt(self.aes_key, "", signed["encrypt"]))
        return answer

    async def send(self, text: str, *, user: str, chat: str | None = None, retries: int = 0) -> Answer:
        """A message, plus ``retries`` copies of the same callback at once (WeCom's redelivery)."""
        callback = self.text(text, user=user, chat=chat)
        answers = await asyncio.gather(*(self.post(callback) for _ in range(retries + 1)))
        return answers[0]

"""Fake WeChat: an Official Account client that signs (and in safe mode encrypts) requests exactly
as WeChat's servers do, a fake customer-service API and a fake WeCom robot webhook.

The crypto here is written again from WeChat's documentation rather than imported from
``bot.wechat``, so a mistake in the bot's code cannot hide behind the same mistake in the test.
Both API fakes are real aiohttp servers on 127.0.0.1 and record every request the bot makes.
"""

import asyncio
import base64
import contextlib
import hashlib
import itertools
import os
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_msg_ids = itertools.count(24_000_000_000_000_000)


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _aes(aes_key: str) -> tuple[bytes, Cipher[modes.CBC]]:
    key = base64.b64decode(aes_key + "=")
    return key, Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def wechat_encrypt(aes_key: str, appid: str, xml: bytes) -> str:
    """What WeChat puts in <Encrypt>: random(16) + length + message + AppID, PKCS#7 to 32-byte blocks."""
    _, cipher = _aes(aes_key)
    plain = os.urandom(16) + len(xml).to_bytes(4, "big") + xml + appid.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = cipher.encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def wechat_decrypt(aes_key: str, appid: str, encrypted: str) -> bytes:
    _, cipher = _aes(aes_key)
    decryptor = cipher.decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    length = int.from_bytes(plain[16:20], "big")
    assert plain[20 + length :] == appid.encode(), "reply sealed for another AppID"
    return plain[20 : 20 + length]


def _fields(xml: bytes | str) -> dict[str, str]:
    return {child.tag: child.text or "" for child in ET.fromstring(xml)}


def _cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


@dataclass
class Answer:
    """The endpoint's HTTP answer, with a passive reply decoded (and decrypted) when there is one."""

    status: int
    body: str
    seconds: float
    content: str | None = None
    msg_type: str | None = None
    to_user: str | None = None

    @property
    def is_success(self) -> bool:
        return self.status == 200 and self.body in ("success", "")


class FakeWeChat:
    """Posts to the Official Account endpoint the way WeChat's servers do."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        *,
        token: str,
        appid: str,
        aes_key: str | None = None,
        account: str = "gh_minqing0001",
    ) -> None:
        self.http = http
        self.url = url
        self.token = token
        self.appid = appid
        self.aes_key = aes_key
        self.account = account
        self.clock = 1_795_000_000
        #: Seconds added to the signed timestamp (a replayed or badly clocked request).
        self.skew = 0

    def _query(self, *, forge: bool = False) -> dict[str, str]:
        timestamp, nonce = str(int(time.time()) + self.skew), str(int.from_bytes(os.urandom(4), "big"))
        signature = sha1_signature(self.token, timestamp, nonce)
        if forge:
            signature = sha1_signature("not-the-token", timestamp, nonce)
        return {"signature": signature, "timestamp": timestamp, "nonce": nonce}

    async def verify(self, echostr: str, *, forge: bool = False) -> Answer:
        started = time.perf_counter()
        async with self.http.get(self.url, params={**self._query(forge=forge), "echostr": echostr}) as response:
            return Answer(response.status, await response.text(), time.perf_counter() - started)

    def message_xml(self, openid: str, msg_type: str, *, msg_id: int | None = None, **fields: str) -> str:
        """A message as WeChat writes it; events get no MsgId."""
        self.clock += 1
        parts = [
            f"<ToUserName>{_cdata(self.account)}</ToUserName>",
            f"<FromUserName>{_cdata(openid)}</FromUserName>",
            f"<CreateTime>{fields.pop('CreateTime', self.clock)}</CreateTime>",
            f"<MsgType>{_cdata(msg_type)}</MsgType>",
        ]
        parts += [f"<{name}>{_cdata(value)}</{name}>" for name, value in fields.items()]
        if msg_type != "event":
            parts.append(f"<MsgId>{msg_id if msg_id is not None else next(_msg_ids)}</MsgId>")
        return "<xml>" + "".join(parts) + "</xml>"

    async def post(
        self,
        xml: str,
        *,
        forge: bool = False,
        forge_msg_signature: bool = False,
        seal_with: tuple[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> Answer:
        """Post one message; in safe mode encrypt it (``seal_with`` = another (aes_key, appid)) and sign it."""
        query = self._query(forge=forge)
        body = raw_body if raw_body is not None else xml.encode()
        if self.aes_key is not None and raw_body is None:
            aes_key, appid = seal_with or (self.aes_key, self.appid)
            encrypted = wechat_encrypt(aes_key, appid, xml.encode())
            msg_signature = sha1_signature(self.token, query["timestamp"], query["nonce"], encrypted)
            if forge_msg_signature:
                msg_signature = sha1_signature("not-the-token", query["timestamp"], query["nonce"], encrypted)
            query |= {"encrypt_type": "aes", "msg_signature": msg_signature}
            body = (
                f"<xml><ToUserName>{_cdata(self.account)}</ToUserName><Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
            ).encode()
        started = time.perf_counter()
        async with self.http.post(self.url, params=query, data=body) as response:
            answer = Answer(response.status, await response.text(), time.perf_counter() - started)
        if answer.status == 200 and answer.body.startswith("<xml>"):
            self._decode(answer)
        return answer

    def _decode(self, answer: Answer) -> None:
        fields = _fields(answer.body)
        if self.aes_key is not None:
            # WeChat checks the reply's signature before it shows anything.
            expected = sha1_signature(self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
            assert fields["MsgSignature"] == expected, "passive reply signed wrongly"
            fields = _fields(wechat_decrypt(self.aes_key, self.appid, fields["Encrypt"]))
        assert fields["FromUserName"] == self.account
        answer.content, answer.msg_type, answer.to_user = fields.get("Content"), fields["MsgType"], fields["ToUserName"]

    async def send_text(self, openid: str, text: str, *, msg_id: int | None = None) -> Answer:
        return await self.post(self.message_xml(openid, "text", msg_id=msg_id, Content=text))


@dataclass
class Sent:
    """One customer-service or robot message the bot sent."""

    to: str
    msg_type: str
    body: dict[str, Any]
    at: float

    @property
    def text(self) -> str:
        section = self.body.get(self.msg_type, {})
        return str(section.get("content", "")) if isinstance(section, dict) else ""


class _Server:
    def __init__(self) -> None:
        self.app = web.Application(client_max_size=8 * 1024 * 1024)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class FakeWeChatApi(_Server):
    """``/cgi-bin/token``, ``/cgi-bin/message/custom/send`` and ``/cgi-bin/media/upload``."""

    appid: str = "wx_test_appid"
    secret: str = "test-secret"
    sent: list[Sent] = field(default_factory=list)
    uploads: list[bytes] = field(default_factory=list)
    token_fetches: int = 0
    #: Error codes to answer to the next sends, in order (e.g. 42001 for an expired token).
    fail_next: deque[int] = field(default_factory=deque)

    def __post_init__(self) -> None:
        _Server.__init__(self)
        self.token = ""
        self.arrived = asyncio.Event()
        self.app.router.add_get("/cgi-bin/token", self._token)
        self.app.router.add_post("/cgi-bin/message/custom/send", self._send)
        self.app.router.add_post("/cgi-bin/media/upload", self._upload)

    async def _token(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("appid") != self.appid or query.get("secret") != self.secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.token_fetches += 1
        self.token = f"ACCESS_TOKEN_{self.token_fetches}"
        return web.json_response({"access_token": self.token, "expires_in": 7200})

    def _check_token(self, request: web.Request) -> web.Response | None:
        if request.query.get("access_token") != self.token:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        return None

    async def _send(self, request: web.Request) -> web.Response:
        refused = self._check_token(request)
        if refused is not None:
            return refused
        if self.fail_next:
            code = self.fail_next.popleft()
            if code == 42001:
                self.token = ""  # expired: the old token stops working
            return web.json_response({"errcode": code, "errmsg": "injected"})
        body = await request.json()
        self.sent.append(Sent(str(body["touser"]), str(body["msgtype"]), body, time.monotonic()))
        self.arrived.set()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _upload(self, request: web.Request) -> web.Response:
        refused = self._check_token(request)
        if refused is not None:
            return refused
        form = await request.post()
        media = form["media"]
        assert isinstance(media, web.FileField)
        self.uploads.append(media.file.read())
        return web.json_response({"type": "image", "media_id": f"MEDIA_{len(self.uploads)}", "created_at": 1})

    def texts_to(self, openid: str) -> list[str]:
        return [s.text for s in self.sent if s.to == openid and s.msg_type == "text"]

    async def wait_for(self, count: int, *, within: float = 10.0) -> list[Sent]:
        """Wait until at least ``count`` messages arrived."""
        deadline = time.monotonic() + within
        while len(self.sent) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.sent)} of {count} messages arrived: {self.sent}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout=0.1)
        return self.sent


@dataclass
class FakeWeComWebhook(_Server):
    """``/cgi-bin/webhook/send?key=…`` enforcing WeCom's per-robot limit (errcode 45009 above it)."""

    per_window: int = 20
    window: float = 60.0
    sent: list[Sent] = field(default_factory=list)
    over_limit: int = 0
    #: Error codes (or HTTP statuses ≥ 500) to answer to the next posts, in order.
    fail_next: deque[int] = field(default_factory=deque)

    def __post_init__(self) -> None:
        _Server.__init__(self)
        self._recent: dict[str, deque[float]] = {}
        self.app.router.add_post("/cgi-bin/webhook/send", self._send)

    def robot_url(self, key: str) -> str:
        return f"{self.url}/cgi-bin/webhook/send?key={key}"

    async def _send(self, request: web.Request) -> web.Response:
        key = request.query.get("key", "")
        if self.fail_next:
            code = self.fail_next.popleft()
            if code >= 500:
                return web.Response(status=code, text="unavailable")
            return web.json_response({"errcode": code, "errmsg": "injected"})
        now = time.monotonic()
        recent = self._recent.setdefault(key, deque())
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if len(recent) >= self.per_window:
            self.over_limit += 1
            return web.json_response({"errcode": 45009, "errmsg": "api freq out of limit"})
        recent.append(now)
        body = await request.json()
        msg_type = str(body["msgtype"])
        if msg_type == "image":
            image = base64.b64decode(body["image"]["base64"])
            if hashlib.md5(image).hexdigest() != body["image"]["md5"]:
                return web.json_response({"errcode": 301019, "errmsg": "media md5 not match"})
        elif len(str(body[msg_type]["content"]).encode()) > (4096 if msg_type == "markdown" else 2048):
            return web.json_response({"errcode": 40058, "errmsg": "content exceed max length"})
        self.sent.append(Sent(key, msg_type, body, now))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

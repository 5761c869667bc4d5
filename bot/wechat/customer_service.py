"""Replies that miss the 5-second window, and messages the bot starts: WeChat's customer-service API.

``CustomerServiceSender`` is the outbox ``Sender`` for platform "wechat": it skips what already went
out as a passive reply, sends the rest with ``/cgi-bin/message/custom/send``, and maps WeChat's
error codes onto Delivery's retry rules. ``AccessTokens`` caches the access token (valid 2 hours)
and fetches a new one once for everyone when it expires or WeChat says it is no longer valid.
"""

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.delivery import PermanentFailure, RetryAfter
from bot.wechat.passive import PassiveReplies
from bot.wechat.translate import render_text, split_bytes
from handlers.messages import OutgoingMessage

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.weixin.qq.com"
#: The access token is no longer valid: fetch a new one and try again.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
#: The user cannot get this message, now or later (unfollowed, 48-hour window closed, bad OpenID).
PERMANENT_ERRORS = frozenset({40003, 43004, 43019, 45015})
#: Waits WeChat asks for: API rate (45011), per-user count since their last message (45047), daily quota.
WAIT_SECONDS = {45011: 1.0, 45047: 600.0, 45009: 3600.0, -1: 2.0}

PhotoLoader = Callable[[str], Awaitable[bytes | None]]


class WeChatApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"WeChat API error {code}: {message}")
        self.code = code


class AccessTokens:
    """One access token shared by every send, refreshed before it expires."""

    def __init__(
        self, *, http: aiohttp.ClientSession, api_url: str, appid: str, secret: str, margin: float = 300.0
    ) -> None:
        self.http = http
        self.api_url = api_url.rstrip("/")
        self.appid = appid
        self.secret = secret
        self.margin = margin
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if self._token is not None and time.monotonic() < self._expires:
            return self._token
        async with self._lock:  # one fetch for everyone waiting
            if self._token is None or time.monotonic() >= self._expires:
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (WeChat refused it); a newer one fetched meanwhile is kept."""
        if self._token == token:
            self._token = None

    async def _fetch(self) -> None:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        async with self.http.get(f"{self.api_url}/cgi-bin/token", params=params) as response:
            response.raise_for_status()
            data: dict[str, Any] = await response.json(content_type=None)
        if "access_token" not in data:
            raise WeChatApiError(int(data.get("errcode", -1)), str(data.get("errmsg", "no access_token")))
        self._token = str(data["access_token"])
        lifetime = float(data.get("expires_in", 7200))
        self._expires = time.monotonic() + max(lifetime - self.margin, lifetime / 2)


class CustomerServiceSender:
    """Delivery's sender for platform "wechat"."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        tokens: AccessTokens,
        passive: PassiveReplies | None = None,
        load_photo: PhotoLoader | None = None,
    ) -> None:
        self.http = http
        self.tokens = tokens
        self.api_url = tokens.api_url
        self.passive = passive
        self.load_photo = load_photo
        #: Parts already sent of a long message whose later part failed, so a retry resumes there.
        self._progress: dict[str, int] = {}

    async def send(self, message: OutgoingMessage) -> None:
        if self.passive is not None:
            try:
                if await self.passive.answered(message):
                    return
            except TimeoutError as error:
                raise RetryAfter(1.0) from error
        parts = await self._parts(message)
        key = hashlib.sha1(message.to_json().encode()).hexdigest()
        done = self._progress.get(key, 0)
        for number, part in enumerate(parts):
            if number < done:
                continue
            await self._call("message/custom/send", {"touser": message.chat_id, **part})
            self._progress[key] = number + 1
        self._progress.pop(key, None)

    async def _parts(self, message: OutgoingMessage) -> list[dict[str, Any]]:
        if message.photo_ref is not None and self.load_photo is not None:
            png = await self.load_photo(message.photo_ref)
            if png is not None:
                media_id = await self._upload_image(png)
                parts: list[dict[str, Any]] = [{"msgtype": "image", "image": {"media_id": media_id}}]
                return parts
        return [{"msgtype": "text", "text": {"content": piece}} for piece in split_bytes(render_text(message))]

    async def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._post(f"cgi-bin/{method}", {}, json=body)

    async def _upload_image(self, png: bytes) -> str:
        def form() -> aiohttp.FormData:  # a FormData is consumed by one request
            data = aiohttp.FormData()
            data.add_field("media", png, filename="chart.png", content_type="image/png")
            return data

        return str((await self._post("cgi-bin/media/upload", {"type": "image"}, form=form))["media_id"])

    async def _post(
        self,
        path: str,
        params: dict[str, str],
        *,
        json: dict[str, Any] | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> dict[str, Any]:
        """One API call with the access token; a token WeChat says is stale is fetched again once."""
        for attempt in range(2):
            token = await self.tokens.get()
            url = f"{self.api_url}/{path}"
            query = {"access_token": token, **params}
            payload = form() if form is not None else None
            async with self.http.post(url, params=query, json=json, data=payload) as response:
                response.raise_for_status()
                data: dict[str, Any] = await response.json(content_type=None)
            code = int(data.get("errcode", 0))
            if code in TOKEN_ERRORS and attempt == 0:
                self.tokens.invalidate(token)
                continue
            _raise_for(code, str(data.get("errmsg", "")))
            return data
        raise AssertionError("unreachable")  # pragma: no cover


def _raise_for(code: int, message: str) -> None:
    if code == 0:
        return
    if code in PERMANENT_ERRORS:
        raise PermanentFailure(f"WeChat refused for good ({code}): {message}")
    if code in WAIT_SECONDS:
        raise RetryAfter(WAIT_SECONDS[code])
    raise WeChatApiError(code, message)  # anything else: Delivery retries with back-off

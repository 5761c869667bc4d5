"""WeCom (企业微信) group robots: alerts and digests for officers' and leaders' groups.

A robot is addressed as platform "wecom" with chat_id = the robot's configured name; it becomes an
officer's chat identity through the ordinary ``/join`` with an invite code (``minqing wecom link``),
so the core sends it exactly what that officer's role and scope receive (alerts, digests). Digests go
as markdown (4096 bytes a message), everything else as text (2048 bytes), split at line ends; a chart
goes as an image message (base64 + MD5). A robot takes about 20 messages a minute: the sender keeps
its own sliding window per robot and answers ``RetryAfter`` when it is full, so Delivery queues
rather than drops.
"""

import base64
import hashlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from bot.delivery import PermanentFailure, RetryAfter
from bot.wechat.customer_service import PhotoLoader
from bot.wechat.translate import render_text, split_bytes
from handlers.messages import OutgoingMessage

PLATFORM = "wecom"
TEXT_LIMIT_BYTES = 2000
MARKDOWN_LIMIT_BYTES = 4000
IMAGE_LIMIT_BYTES = 2 * 1024 * 1024
#: WeCom's answer when a robot sent more than 20 messages within a minute.
RATE_LIMITED = 45009
#: The webhook key is wrong or the robot was removed from its group.
PERMANENT_ERRORS = frozenset({93000, 93004, 93008})


class RobotError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"WeCom robot error {code}: {message}")
        self.code = code


class SlidingWindow:
    """At most ``limit`` events within any ``span`` seconds."""

    def __init__(self, limit: int, span: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.span = span
        self._monotonic = monotonic
        self._sent: deque[float] = deque()

    def wait_time(self) -> float:
        now = self._monotonic()
        while self._sent and now - self._sent[0] >= self.span:
            self._sent.popleft()
        return 0.0 if len(self._sent) < self.limit else self.span - (now - self._sent[0])

    def record(self) -> None:
        self._sent.append(self._monotonic())


def robot_payloads(message: OutgoingMessage, chart: bytes | None) -> list[dict[str, Any]]:
    """The webhook bodies for one outgoing message."""
    if message.photo_ref is not None and chart is not None and len(chart) <= IMAGE_LIMIT_BYTES:
        image = {"base64": base64.b64encode(chart).decode(), "md5": hashlib.md5(chart).hexdigest()}
        return [{"msgtype": "image", "image": image}]
    text = render_text(message)
    if message.kind == "digest":
        return [{"msgtype": "markdown", "markdown": {"content": p}} for p in split_bytes(text, MARKDOWN_LIMIT_BYTES)]
    return [{"msgtype": "text", "text": {"content": p}} for p in split_bytes(text, TEXT_LIMIT_BYTES)]


class RobotSender:
    """Delivery's sender for platform "wecom"."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        robots: Mapping[str, str],
        load_photo: PhotoLoader | None = None,
        per_minute: int = 20,
        span: float = 60.0,
    ) -> None:
        self.http = http
        self.robots = dict(robots)
        self.load_photo = load_photo
        self._windows = {name: SlidingWindow(per_minute, span) for name in self.robots}
        self._progress: dict[str, int] = {}

    async def send(self, message: OutgoingMessage) -> None:
        url = self.robots.get(message.chat_id)
        if url is None:
            raise PermanentFailure(f"no WeCom robot named {message.chat_id!r} is configured")
        chart = None
        if message.photo_ref is not None and self.load_photo is not None:
            chart = await self.load_photo(message.photo_ref)
        window = self._windows[message.chat_id]
        key = hashlib.sha1(message.to_json().encode()).hexdigest()
        done = self._progress.get(key, 0)
        for number, payload in enumerate(robot_payloads(message, chart)):
            if number < done:
                continue  # sent before a later part failed
            wait = window.wait_time()
            if wait > 0:
                raise RetryAfter(wait)
            window.record()  # a refused attempt still counts against WeCom's budget
            async with self.http.post(url, json=payload) as response:
                response.raise_for_status()
                data: dict[str, Any] = await response.json(content_type=None)
            code = int(data.get("errcode", 0))
            if code == RATE_LIMITED:
                raise RetryAfter(window.span)
            if code in PERMANENT_ERRORS:
                raise PermanentFailure(f"WeCom robot {message.chat_id!r} refused for good ({code})")
            if code != 0:
                raise RobotError(code, str(data.get("errmsg", "")))
            self._progress[key] = number + 1
        self._progress.pop(key, None)

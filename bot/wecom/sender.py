"""Delivery's sender for platform "wecom": response_url first, then the push robot or the app API.

Every callback brings a ``response_url`` that posts once into the chat it came from (a group, or
the member's one-to-one chat) within an hour. ``ResponseUrls`` keeps the unused ones per chat,
oldest first (they expire first). ``WeComSender`` sends an outbox message:

1. not at all when it already went out in the passive reply (``PassiveReplies``);
2. to a configured push robot when the chat id is a robot's name (officers' alert groups, as before);
3. through the chat's oldest valid response_url (markdown, or a template card with buttons);
4. else through the group's push robot (``MINQING_WECOM_GROUP_ROBOTS``: chatid → robot name),
   or, for a one-to-one chat, through the self-built app's message API (``message/send``);
5. else it waits (``RetryAfter``) for the next callback from that chat to bring a fresh URL.

The URLs live in this process's memory: after a restart, messages use the fallbacks until members
write again.
"""

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from bot.delivery import PermanentFailure, RetryAfter
from bot.wechat.passive import PassiveReplies
from bot.wechat.wecom import RobotSender
from bot.wecom.wire import active_payload, render_text
from handlers.messages import OutgoingMessage

log = logging.getLogger(__name__)

#: WeCom keeps a response_url for an hour; stop using one a minute early.
URL_TTL = 3600.0 - 60.0
#: How long a message without any route waits before it looks again.
NO_ROUTE_WAIT = 30.0
#: The access token is stale or invalid: fetch another and try once more.
TOKEN_ERRORS = frozenset({40014, 42001})


@dataclass(slots=True)
class _Url:
    url: str
    expires: float


class ResponseUrls:
    """Unused response URLs per chat, and which chats are groups."""

    def __init__(self, *, ttl: float = URL_TTL, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._monotonic = monotonic
        self._urls: dict[str, deque[_Url]] = {}
        #: Every URL seen within its lifetime, oldest first (retries repeat theirs).
        self._known: OrderedDict[str, float] = OrderedDict()
        self.groups: set[str] = set()
        #: Set when a URL arrives, so delivery can look at waiting chats again.
        self.on_added: Callable[[str], None] = lambda chat_id: None

    def add(self, chat_id: str, url: str, *, is_group: bool) -> None:
        if is_group:
            self.groups.add(chat_id)
        now = self._monotonic()
        while self._known and next(iter(self._known.values())) <= now:
            self._known.popitem(last=False)
        if not url or url in self._known:
            return  # a retried callback repeats its URL
        self._known[url] = now + self.ttl
        queue = self._urls.setdefault(chat_id, deque())
        while queue and queue[0].expires <= now:
            queue.popleft()  # a busy chat that we never answer keeps only live URLs
        queue.append(_Url(url, now + self.ttl))
        self.on_added(chat_id)

    def take(self, chat_id: str) -> str | None:
        """The oldest URL still valid for ``chat_id``, removed (each is good for one call)."""
        queue = self._urls.get(chat_id)
        now = self._monotonic()
        while queue:
            entry = queue.popleft()
            if entry.expires > now:
                return entry.url
        self._urls.pop(chat_id, None)
        return None

    def count(self, chat_id: str) -> int:
        now = self._monotonic()
        return sum(1 for entry in self._urls.get(chat_id, ()) if entry.expires > now)


class AppMessages:
    """The self-built app's message API (应用消息) for one-to-one messages to members."""

    def __init__(self, *, http: aiohttp.ClientSession, api_url: str, corpid: str, secret: str, agentid: int) -> None:
        self.http = http
        self.api_url = api_url.rstrip("/")
        self.corpid = corpid
        self.secret = secret
        self.agentid = agentid
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def _access_token(self, *, fresh: bool = False) -> str:
        async with self._lock:
            if self._token is not None and not fresh and self._token[1] > time.monotonic():
                return self._token[0]
            params = {"corpid": self.corpid, "corpsecret": self.secret}
            async with self.http.get(f"{self.api_url}/cgi-bin/gettoken", params=params) as response:
                response.raise_for_status()
                data: dict[str, Any] = await response.json(content_type=None)
            if int(data.get("errcode", 0)) != 0 or "access_token" not in data:
                raise RuntimeError(f"WeCom gettoken failed: {data.get('errcode')} {data.get('errmsg')}")
            lifetime = float(data.get("expires_in", 7200))
            self._token = (str(data["access_token"]), time.monotonic() + lifetime - 300)
            return self._token[0]

    async def send(self, user_id: str, content: str) -> None:
        body = {"touser": user_id, "msgtype": "text", "agentid": self.agentid, "text": {"content": content}}
        for attempt in range(2):
            token = await self._access_token(fresh=attempt > 0)
            url = f"{self.api_url}/cgi-bin/message/send"
            async with self.http.post(url, params={"access_token": token}, json=body) as response:
                response.raise_for_status()
                data: dict[str, Any] = await response.json(content_type=None)
            code = int(data.get("errcode", 0))
            if code == 0:
                if data.get("invaliduser"):
                    raise PermanentFailure(f"WeCom user {user_id!r} cannot receive app messages")
                return
            if code not in TOKEN_ERRORS:
                raise RuntimeError(f"WeCom message/send failed: {code} {data.get('errmsg')}")
        raise RuntimeError("WeCom access token refused twice")


class WeComSender:
    """Delivery's sender for platform "wecom" (see the module docstring for the order of routes)."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        urls: ResponseUrls,
        passive: PassiveReplies,
        robots: RobotSender | None = None,
        group_robots: Mapping[str, str] | None = None,
        app: AppMessages | None = None,
        no_route_wait: float = NO_ROUTE_WAIT,
    ) -> None:
        self.http = http
        self.urls = urls
        self.passive = passive
        self.robots = robots
        self.group_robots = dict(group_robots or {})
        self.app = app
        self.no_route_wait = no_route_wait
        #: How many messages left by each route (for logs and the benchmark).
        self.sent: dict[str, int] = {"response_url": 0, "robot": 0, "app": 0, "passive": 0}

    async def send(self, message: OutgoingMessage) -> None:
        if await self.passive.answered(message):
            self.sent["passive"] += 1
            return
        chat = message.chat_id
        if self.robots is not None and chat in self.robots.robots:
            await self.robots.send(message)  # an officers' alert group, addressed by robot name
            self.sent["robot"] += 1
            return
        while (url := self.urls.take(chat)) is not None:
            if await self._post(url, message):
                self.sent["response_url"] += 1
                return
        robot = self.group_robots.get(chat)
        if robot is not None and self.robots is not None:
            # A push robot shows no buttons: the text carries the /rate hint instead.
            await self.robots.send(replace(message, chat_id=robot, text=render_text(message), buttons=()))
            self.sent["robot"] += 1
            return
        if self.app is not None and chat not in self.urls.groups and chat not in self.group_robots:
            await self.app.send(chat, render_text(message))
            self.sent["app"] += 1
            return
        raise RetryAfter(self.no_route_wait)

    async def _post(self, url: str, message: OutgoingMessage) -> bool:
        """True when WeCom took the message; a URL that failed is spent either way."""
        try:
            async with self.http.post(url, json=active_payload(message)) as response:
                if response.status >= 500:
                    return False
                data: dict[str, Any] = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            log.warning("response_url for %s failed: %r", message.chat_id, error)
            return False
        code = int(data.get("errcode", 0)) if isinstance(data, dict) else -1
        if code != 0:
            log.info("response_url for %s refused (%s); trying the next route", message.chat_id, code)
        return code == 0

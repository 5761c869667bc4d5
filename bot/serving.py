"""Serving a webhook platform beside its dead-letter retries and the scheduler, until told to stop."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from bot.deadletters import DeadLetters
from bot.delivery import Delivery
from bot.wiring import App

#: Starts the digest and overdue jobs beside a bot (``bot.run.start_scheduler``); returns a handle.
SchedulerStarter = Callable[[App, Callable[[], None]], Any]


class WebhookService(Protocol):
    """A platform's endpoint and delivery (the WeChat Official Account, the WeCom robot)."""

    async def start(self) -> int: ...

    async def close(self) -> None: ...

    def wake_delivery(self) -> None: ...


class WebhookParts:
    """What a webhook service owns and releases the same way: its HTTP server, client session,
    delivery loop and worker threads (the WeChat and WeCom services build them in ``start``)."""

    stop: asyncio.Event
    executor: ThreadPoolExecutor
    http: aiohttp.ClientSession | None
    delivery: Delivery | None
    _runner: web.AppRunner | None
    _tasks: list["asyncio.Task[None]"]

    def wake_delivery(self) -> None:
        if self.delivery is not None:
            self.delivery.wakeup.set()

    async def close(self) -> None:
        self.stop.set()
        if self._runner is not None:
            await self._runner.cleanup()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.close()
        self.executor.shutdown(wait=True)


async def serve_until_stopped(
    service: WebhookService,
    *,
    app: App,
    dead_letters: DeadLetters,
    stop: asyncio.Event,
    start_scheduler: SchedulerStarter | None,
) -> None:
    """Start ``service``, retry its dead letters, run the scheduler beside it; close all when ``stop`` is set."""
    scheduler: Any = None
    retries: asyncio.Task[None] | None = None
    try:
        await service.start()
        retries = asyncio.create_task(dead_letters.run(stop, on_handled=service.wake_delivery))
        # Digests and alerts go out through the same outbox and delivery as replies.
        if start_scheduler is not None:
            scheduler = start_scheduler(app, service.wake_delivery)
        await stop.wait()
    finally:
        if scheduler is not None:
            scheduler.shutdown()
        if retries is not None:
            retries.cancel()
        await service.close()

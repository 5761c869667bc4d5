"""`minqing run`: build the app and serve one platform until interrupted."""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

import schedules
from bot.delivery import RateLimits
from bot.settings import Settings
from bot.telegram.adapter import DEFAULT_API_URL
from bot.telegram.runner import FRAMEWORKS, TelegramOptions, serve_telegram
from bot.wiring import App, build_app

log = logging.getLogger(__name__)


class RunError(ValueError):
    """A configuration problem worth a clear message and exit status 2."""


def hold_sqlite_alone(settings: Settings) -> Any:
    """SQLite is the one-process backend: take a lock beside the file, or say why another process cannot start.

    Returns the open lock file (keep it open while running); None for PostgreSQL, which any number of
    processes share.
    """
    import fcntl

    import sqlalchemy as sa

    from storage.db import normalise_url

    url = sa.make_url(normalise_url(settings.database_url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".run-lock").open("a+")  # held open while running
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RunError(
            f"another `minqing run` is already serving the SQLite database {path}: SQLite is the one-process "
            "backend; stop that process, or use PostgreSQL (MINQING_DATABASE_URL=postgresql://…) to run several"
        ) from None
    return lock


class TelegramTuning(BaseSettings):
    """Limits and sizes for unusual deployments (a local Bot API server, load tests); defaults suit Telegram."""

    model_config = SettingsConfigDict(env_prefix="MINQING_TELEGRAM_", env_file=".env", extra="ignore")

    per_second: int = 30
    per_group_per_minute: int = 20
    per_private_per_second: int = 1
    workers: int = 4
    poll_limit: int = 100
    webhook_secret: str | None = None
    #: How long a process's claim on an outbox row lasts; after a crash its rows wait this long (issue 16).
    lease_seconds: float = 30.0


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise RunError(f"--listen must be HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)


def telegram_options(
    *,
    settings: Settings,
    framework: str,
    token: str | None,
    api_url: str | None,
    webhook_url: str | None,
    listen: str | None,
    health: str | None = None,
) -> TelegramOptions:
    if framework not in FRAMEWORKS:
        raise RunError(f"--framework must be one of {', '.join(FRAMEWORKS)}")
    secret = token or (settings.token.get_secret_value() if settings.token else "")
    if not secret:
        raise RunError("a bot token is needed: --token or MINQING_TOKEN (from @BotFather)")
    if listen and not webhook_url:
        raise RunError("--listen serves a webhook: give --webhook-url too")
    tuning = TelegramTuning()
    return TelegramOptions(
        framework=framework,
        token=secret,
        api_url=api_url or DEFAULT_API_URL,
        webhook_url=webhook_url,
        listen=parse_listen(listen) if listen else ("0.0.0.0", 8080),
        webhook_secret=tuning.webhook_secret,
        health_listen=parse_listen(health) if health else None,
        poll_limit=tuning.poll_limit,
        workers=tuning.workers,
        limits=RateLimits(
            per_second=tuning.per_second,
            per_group_per_minute=tuning.per_group_per_minute,
            per_private_per_second=tuning.per_private_per_second,
            lease_seconds=tuning.lease_seconds,
        ),
    )


def start_scheduler(app: App, wake_delivery: Callable[[], None]) -> Any:
    """Start the digest and overdue jobs beside a bot (see ``schedules.start_scheduler``)."""
    return schedules.start_scheduler(app, wake_delivery)


def serve_until_signalled(settings: Settings, serve: Callable[[App, asyncio.Event], Awaitable[None]]) -> None:
    """Build the app (migrations, jieba, model) and run ``serve`` until SIGINT or SIGTERM."""
    alone = hold_sqlite_alone(settings)
    app = build_app(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(app, stop)

    try:
        asyncio.run(main())
    finally:
        app.db.dispose()
        if alone is not None:
            alone.close()


def run_telegram(settings: Settings, options: TelegramOptions) -> None:
    """Serve Telegram until SIGINT or SIGTERM."""
    serve_until_signalled(
        settings, lambda app, stop: serve_telegram(app, options, stop=stop, start_scheduler=start_scheduler)
    )

"""/healthz, /readyz and /metrics, and JSON log lines."""

import json
import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

from bot.deadletters import DeadLetters
from bot.health import Health, JsonFormatter
from handlers.admin import Admin
from handlers.clock import FixedClock
from handlers.service import Minqing
from storage.db import Database
from storage.migrate import downgrade
from tests.support.factories import build_world, message


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Database], "object"]]:
    runners: list[tuple[web.AppRunner, Health]] = []

    async def start(db: Database, *, model: bool = True) -> str:
        health = Health(db, model_loaded=lambda: model)
        app = web.Application()
        health.routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append((runner, health))
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner, health in runners:
        health.close()
        await runner.cleanup()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def test_alive_and_ready_on_a_migrated_database(serve: Callable[..., object], database: Database) -> None:
    base = await serve(database)  # type: ignore[misc]

    assert (await get(f"{base}/healthz"))[0] == 200
    status, body = await get(f"{base}/readyz")
    assert status == 200 and json.loads(body) == {"ready": True, "database": "ok", "migrations": "ok", "model": "ok"}


async def test_not_ready_when_migrations_are_behind(serve: Callable[..., object], sqlite_url: str) -> None:
    downgrade(sqlite_url, "0001")
    db = Database.from_url(sqlite_url)
    base = await serve(db)  # type: ignore[misc]

    status, body = await get(f"{base}/readyz")

    assert status == 503 and "db upgrade" in json.loads(body)["migrations"]
    db.dispose()


async def test_not_ready_when_the_database_cannot_be_reached(serve: Callable[..., object]) -> None:
    db = Database.from_url("postgresql://nobody@127.0.0.1:1/none")
    base = await serve(db, model=False)  # type: ignore[misc]

    status, body = await get(f"{base}/readyz")

    checks = json.loads(body)
    assert status == 503 and checks["database"].startswith("unreachable") and checks["model"] == "not loaded"
    assert (await get(f"{base}/healthz"))[0] == 200  # alive all the same: only readiness fails
    db.dispose()


async def test_metrics_count_updates_cases_and_read_the_outbox(
    serve: Callable[..., object], core: Minqing, admin: Admin, clock: FixedClock, database: Database
) -> None:
    build_world(core, admin, clock)
    guarded = DeadLetters(db=database, handle=core.handle, clock=clock).guard()
    guarded(message("1幢楼道灯坏了", user="res_1_1_301", sent_at=clock.now()))
    base = await serve(database)  # type: ignore[misc]

    status, text = await get(f"{base}/metrics")

    assert status == 200
    lines = {line.split(" ")[0]: line.split(" ")[1] for line in text.splitlines() if line and not line.startswith("#")}
    assert float(lines['minqing_cases_filed_total{platform="telegram"}']) >= 1
    assert float(lines['minqing_updates_total{outcome="ok",platform="telegram"}']) >= 1
    assert float(lines["minqing_outbox_depth"]) > 0  # nothing here delivers the world's replies
    assert "minqing_dead_letters" in lines and "minqing_outbox_oldest_seconds" in lines


def test_json_log_lines_carry_level_logger_and_message() -> None:
    record = logging.LogRecord("bot.delivery", logging.WARNING, __file__, 1, "outbox %s failed", ("42",), None)

    entry = json.loads(JsonFormatter().format(record))

    assert entry["level"] == "WARNING" and entry["logger"] == "bot.delivery" and entry["message"] == "outbox 42 failed"
    assert entry["time"].endswith("+00:00")


def test_the_command_line_refuses_an_unknown_log_format() -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    result = CliRunner().invoke(app, ["--log-format", "xml", "db", "upgrade", "--db", "sqlite:///:memory:"])

    assert result.exit_code == 2

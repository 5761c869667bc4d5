"""The operations surface: ``/healthz`` (alive), ``/readyz`` (database, migrations, model), ``/metrics``.

Served on the webhook port in webhook mode and on ``--health HOST:PORT`` otherwise (polling, or a
separate port for WeChat deployments that want one). ``/readyz`` answers 503 with the failing
check named while the process should get no traffic: the database cannot be reached, its schema
is not at the migrations' head, or the model is not loaded.
"""

import asyncio
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from aiohttp import web
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from bot.metrics import DatabaseCollector
from storage.db import Database
from storage.migrate import alembic_config

log = logging.getLogger(__name__)


def migrations_current(db: Database) -> bool:
    """Is the database's schema at the head of the packaged migrations?"""
    heads = set(ScriptDirectory.from_config(alembic_config(str(db.engine.url))).get_heads())
    with db.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads


class Health:
    """The three endpoints, over one database and a check that the model is loaded."""

    def __init__(self, db: Database, *, model_loaded: Callable[[], bool]) -> None:
        self.db = db
        self.model_loaded = model_loaded
        self._collector = DatabaseCollector(db)
        self._registered = False

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def _checks(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            with self.db.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
            checks["migrations"] = "ok" if migrations_current(self.db) else "behind: run `minqing db upgrade`"
        except sa.exc.SQLAlchemyError as error:
            checks["database"] = f"unreachable: {type(error).__name__}"
            checks["migrations"] = "unknown"
        checks["model"] = "ok" if self.model_loaded() else "not loaded"
        return checks

    async def readyz(self, request: web.Request) -> web.Response:
        checks = await asyncio.to_thread(self._checks)
        ready = all(value == "ok" for value in checks.values())
        return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        if not self._registered:
            REGISTRY.register(self._collector)
            self._registered = True
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def close(self) -> None:
        if self._registered:
            REGISTRY.unregister(self._collector)
            self._registered = False


async def serve_health(health: Health, host: str, port: int) -> web.AppRunner:
    """Serve the endpoints alone on ``host:port`` (polling mode's ``--health``)."""
    app = web.Application()
    health.routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("health endpoints on http://%s:%s/healthz, /readyz, /metrics", host, port)
    return runner


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(*, verbose: bool, log_format: str) -> None:
    """Logs go to stderr, as text (default) or JSON lines (``--log-format json``)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Not forced: whoever configured logging first (a test harness, an embedding program) keeps it.
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])

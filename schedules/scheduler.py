"""APScheduler wiring: cron triggers in the deployment's zone, leadership, catch-up at start-up.

Use from ``minqing run`` (inside the bot's asyncio loop)::

    handle = start_scheduler(app, settings.schedule())   # in a coroutine, loop running
    ...
    handle.shutdown()                                     # on exit: stops jobs, releases the lock

or alone with ``minqing scheduler`` (``run_scheduler``). APScheduler 3 cannot share a job store
between processes, so each process keeps its jobs in memory and only the *leader* runs them: on
PostgreSQL the holder of a session-level advisory lock, which the server releases when the
holder's connection dies, so a standby takes over within ``standby_poll_seconds`` and catches up.
On SQLite (one machine) every scheduler is a leader; the unique constraints still make each
digest and alert happen once.
"""

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import sqlalchemy as sa
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from analysis.taxonomy import Taxonomy
from handlers.clock import Clock, SystemClock
from handlers.digests import Digests
from schedules import metrics
from schedules.jobs import OVERDUE, PACK_DAYS, Jobs, ScheduleSettings
from storage.db import Database

log = logging.getLogger(__name__)

#: One advisory-lock key per deployment database, derived from a fixed name.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"minqing.scheduler").digest()[:8], "big", signed=True)


class Leadership(Protocol):
    def is_leader(self) -> bool:
        """True while this process may run jobs; tries to become leader when it is not."""

    def release(self) -> None: ...


class SoleLeader:
    """SQLite: one machine, so every scheduler leads (exactly-once rests on the unique keys)."""

    def is_leader(self) -> bool:
        return True

    def release(self) -> None:
        return None


class AdvisoryLockLeader:
    """PostgreSQL session advisory lock on a dedicated autocommit connection.

    The lock lives as long as the connection: a crashed or killed holder loses it when the server
    notices the connection is gone, and the next ``is_leader()`` of a standby takes it.
    """

    def __init__(self, engine: sa.Engine, key: int = LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._connection: sa.Connection | None = None
        self._held = False
        self._guard = threading.Lock()  # jobs run in executor threads

    def is_leader(self) -> bool:
        with self._guard:
            if self._held and self._alive():
                return True
            self._held = False
            return self._try_acquire()

    def _alive(self) -> bool:
        try:
            assert self._connection is not None
            self._connection.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            log.warning("scheduler lock connection lost; leadership dropped")
            self._close()
            return False

    def _try_acquire(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = self._connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
        except sa.exc.SQLAlchemyError as error:
            log.warning("could not try the scheduler lock: %s", error)
            self._close()
            return False
        self._held = bool(got)
        if self._held:
            log.info("this process is now the scheduler leader")
        return self._held

    def release(self) -> None:
        with self._guard:
            if self._connection is not None and self._held:
                # Closing the connection below releases the lock even if this fails.
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    self._connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._held = False
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._connection.close()
            self._connection = None


def leadership_for(db: Database) -> Leadership:
    return SoleLeader() if db.is_sqlite else AdvisoryLockLeader(db.engine)


class _Core(Protocol):
    @property
    def taxonomy(self) -> Taxonomy: ...

    @property
    def clock(self) -> Clock: ...


class SchedulerApp(Protocol):
    """What the scheduler needs of ``bot.wiring.App``."""

    @property
    def db(self) -> Database: ...

    @property
    def core(self) -> _Core: ...


@runtime_checkable
class _DeploymentSettings(Protocol):
    """``bot.settings.Settings``: the schedule comes from the deployment's environment."""

    def schedule(self) -> ScheduleSettings: ...


@dataclass(slots=True)
class SchedulerHandle:
    scheduler: AsyncIOScheduler
    jobs: Jobs
    leadership: Leadership

    def shutdown(self) -> None:
        """Stop firing jobs (on the loop's next turn) and give up leadership so a standby takes over."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.leadership.release()


class _Leading:
    """Runs a job only while this process leads; on becoming leader, catches up first."""

    def __init__(self, jobs: Jobs, leadership: Leadership) -> None:
        self.jobs = jobs
        self.leadership = leadership
        self._was_leader = False
        self._lock = threading.Lock()

    def guard(self, name: str) -> Callable[[], None]:
        def run() -> None:
            if self.ensure_leader():
                try:
                    self.jobs.run(name)
                except BaseException:
                    metrics.JOB_RUNS.labels(name, "failed").inc()
                    raise
                metrics.JOB_RUNS.labels(name, "ok").inc()

        run.__name__ = f"minqing_{name}"
        return run

    def ensure_leader(self) -> bool:
        with self._lock:
            leader = self.leadership.is_leader()
            became = leader and not self._was_leader
            self._was_leader = leader
            metrics.LEADER.set(1 if leader else 0)
            if became:
                self.jobs.catch_up()
            return leader


def start_scheduler(
    app: SchedulerApp,
    wake_delivery: Callable[[], None] | None = None,
    settings: ScheduleSettings | None = None,
    *,
    clock: Clock | None = None,
) -> SchedulerHandle:
    """Start the digest and overdue jobs in the running asyncio loop; returns a handle to stop them.

    Call from a coroutine (the bot's loop). ``wake_delivery`` is called (on the loop) after a job
    queued messages, so the outbox is drained at once. ``settings`` defaults to
    ``app.settings.schedule()``. Job functions touch the database, so APScheduler runs them in
    the loop's thread pool; one run of a job at a time, missed runs coalesced. At start, and
    whenever this process becomes leader, missed digests are caught up once.
    """
    explicit = settings
    if settings is None:
        deployment = getattr(app, "settings", None)
        settings = deployment.schedule() if isinstance(deployment, _DeploymentSettings) else ScheduleSettings()
    loop = asyncio.get_running_loop()

    def queued() -> None:
        if wake_delivery is not None:
            loop.call_soon_threadsafe(wake_delivery)

    # The deployment's one digest service when the app carries it (``bot.wiring.App``) and the
    # caller did not ask for another clock or other settings.
    digests = getattr(app, "digests", None) if clock is None and explicit is None else None
    jobs = Jobs(
        db=app.db,
        taxonomy=app.core.taxonomy,
        clock=clock or SystemClock(),
        settings=settings,
        on_queued=queued,
        digests=digests if isinstance(digests, Digests) else None,
    )
    leadership = leadership_for(app.db)
    leading = _Leading(jobs, leadership)
    scheduler = AsyncIOScheduler(timezone=settings.zone, event_loop=loop)
    for name, trigger in jobs.triggers.items():
        scheduler.add_job(
            leading.guard(name),
            trigger,
            id=name,
            max_instances=1,
            coalesce=True,
            # A digest delayed by a busy loop is still wanted; a stale overdue check is not.
            misfire_grace_time=30 if name == OVERDUE else 6 * 3600,
        )
    if jobs.pack_days_trigger is not None:
        scheduler.add_job(
            leading.guard(PACK_DAYS),
            jobs.pack_days_trigger,
            id=PACK_DAYS,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
    # Standbys poll for leadership; the first poll (at once) also does the start-up catch-up.
    scheduler.add_job(
        leading.ensure_leader,
        IntervalTrigger(seconds=settings.standby_poll_seconds, timezone=settings.zone),
        id="leadership",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(settings.zone),  # APScheduler fires on the wall clock
    )
    scheduler.start()
    return SchedulerHandle(scheduler, jobs, leadership)


async def run_scheduler(app: SchedulerApp, stop: asyncio.Event, settings: ScheduleSettings | None = None) -> None:
    """``minqing scheduler``: run the jobs alone until ``stop`` is set (SIGINT/SIGTERM)."""
    handle = start_scheduler(app, None, settings)
    try:
        await stop.wait()
    finally:
        handle.shutdown()
        await asyncio.sleep(0)  # let APScheduler's shutdown run on the loop

"""The scheduled jobs, their cron triggers, catch-up after downtime, and a fake-clock driver.

Jobs are plain functions over the database; APScheduler only decides *when* they run. Running one
twice is harmless: digests and alerts are keyed by unique constraints in the transaction that
queues their messages. So the catch-up at start-up, a second scheduler process, and the demo's
simulated quarter all go through the same functions.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from analysis.taxonomy import Taxonomy
from handlers.clock import Clock, FixedClock
from handlers.context import CoreSettings
from handlers.digests import (
    KINDS,
    DigestBuilder,
    DigestFigures,
    Digests,
    DigestSettings,
    ProducedDigest,
    period_just_ended,
)
from handlers.handover import close_unrated
from handlers.ops_notice import operations_notice
from handlers.overdue import AlertRecord, OverdueChecker, default_ladder
from handlers.surveys import SurveySettings, run_monthly, send_reminders
from handlers.unit_overdue import UnitOverdueChecker
from handlers.visits import DEFAULT_PLANS, parse_plans, send_weekly_lists, week_start
from storage.db import Database

log = logging.getLogger(__name__)

OVERDUE = "overdue"
#: Issue 13: each grid officer's weekly list of households due a visit.
VISITS = "visits"
#: Issue 13: the monthly 回访 / 知晓率 sample, and the one reminder to those who have not answered.
SURVEYS = "surveys"
SURVEY_REMINDERS = "survey_reminders"
#: The nightly job that packs the days digests read (``storage.digest_days``).
PACK_DAYS = "pack_days"
#: The admin's daily notice of unreachable grids and failed messages (issue 16).
OPS_NOTICE = "ops_notice"
#: Cron fields (APScheduler's order): minute hour day month day_of_week.
DEFAULT_CRONS = {
    "week": "0 8 * * mon",
    "month": "0 8 1 * *",
    "quarter": "0 8 1 jan,apr,jul,oct *",
    OVERDUE: "* * * * *",
    VISITS: "0 8 * * mon",
    SURVEYS: "0 9 1 * *",
    SURVEY_REMINDERS: "0 10 * * *",
    OPS_NOTICE: "0 9 * * *",
}


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """When the jobs run and how the overdue ladder climbs; built from ``bot.settings.Settings``."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    crons: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CRONS))
    chief_after: float = 0.5
    leader_after: float = 1.0
    digest: DigestSettings = field(default_factory=DigestSettings)
    charts: bool = True
    #: When the days the digests read are packed again ("" = never; digests then pack what they need).
    pack_days_cron: str = "30 3 * * *"
    #: Issue 13: visit plans by household tag ("独居老人=14;*=91", days).
    visit_plans: str = DEFAULT_PLANS
    surveys: SurveySettings = field(default_factory=SurveySettings)
    #: How often a standby scheduler tries to take over leadership.
    standby_poll_seconds: float = 15.0
    #: The core's settings the 吹哨报到 ladder and the 未评价 closing read (issue 15).
    core: CoreSettings = field(default_factory=CoreSettings)


def cron_trigger(expression: str, zone: ZoneInfo) -> CronTrigger:
    """A crontab line whose day-of-week field must use names (mon, tue, ...).

    APScheduler counts weekdays from Monday = 0, crontab and python-telegram-bot from Sunday = 0;
    a number would silently shift the digest by a day, so numbers are refused.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expression!r} needs 5 fields: minute hour day month day_of_week")
    if any(ch.isdigit() for ch in fields[4]):
        raise ValueError(f"cron {expression!r}: write weekdays as names (mon-sun), not numbers")
    return CronTrigger.from_crontab(expression, timezone=zone)


def next_fire(trigger: CronTrigger, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after``."""
    fire: datetime | None = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    return fire


def last_fire(trigger: CronTrigger, now: datetime, *, lookback: timedelta = timedelta(days=400)) -> datetime | None:
    """The latest fire time at or before ``now`` (APScheduler 3 has no previous-fire query)."""
    found: datetime | None = None
    fire = next_fire(trigger, now - lookback)
    while fire is not None and fire <= now:
        found = fire
        fire = next_fire(trigger, fire)
    return found


def chart_renderer(builder: DigestBuilder) -> Callable[[DigestFigures], bytes | None]:
    """The digest chart, drawn with matplotlib, which is imported only when the first chart is drawn."""

    def draw(figures: DigestFigures) -> bytes | None:
        from schedules.charts import render_chart

        return render_chart(figures, builder)

    return draw


class Jobs:
    """The job functions, wired to one database, taxonomy and clock."""

    def __init__(
        self,
        *,
        db: Database,
        taxonomy: Taxonomy,
        clock: Clock,
        settings: ScheduleSettings | None = None,
        chart: Callable[[DigestFigures], bytes | None] | None = None,
        on_queued: Callable[[], None] | None = None,
        digests: Digests | None = None,
    ) -> None:
        """``digests`` is the deployment's digest service (``bot.wiring``); without one, a service
        with ``settings.digest`` is built here (tests, the standalone scheduler of old)."""
        self.settings = settings or ScheduleSettings()
        #: Called after a run queued messages (wakes the delivery loop).
        self.on_queued = on_queued
        self.clock = clock
        self.db = db
        zone = self.settings.zone
        self.triggers = {name: cron_trigger(line, zone) for name, line in self.settings.crons.items()}
        line = self.settings.pack_days_cron.strip()
        self.pack_days_trigger = cron_trigger(line, zone) if line else None
        self.overdue = OverdueChecker(
            db=db,
            taxonomy=taxonomy,
            clock=clock,
            zone=zone,
            ladder=default_ladder(chief_after=self.settings.chief_after, leader_after=self.settings.leader_after),
        )
        self.units_overdue = UnitOverdueChecker(db=db, clock=clock, settings=self.settings.core)

        self.db = db
        self.digests = digests or Digests(
            db=db, taxonomy=taxonomy, clock=clock, zone=zone, settings=self.settings.digest
        )
        if chart is not None:
            self.digests.chart = chart
        elif self.digests.chart is None and self.settings.charts:
            self.digests.chart = chart_renderer(self.digests.builder)

    def check_overdue(self) -> list[AlertRecord]:
        """Send the overdue alerts that are due (every minute), the units' and 督办单's too; close
        resolved cases nobody rated in time (未评价)."""
        alerts = self.overdue.check() + self.units_overdue.check()
        closed = close_unrated(self.db, now=self.clock.now(), after=self.settings.core.unrated_close_after)
        if closed:
            log.info("closed %d resolved cases nobody rated", len(closed))
        if alerts:
            log.info("overdue check: %d alerts", len(alerts))
            self._queued()
        return alerts

    def digest(self, kind: str) -> list[ProducedDigest]:
        """Produce the digests of the period of ``kind`` that has just ended."""
        produced = self.digests.produce(kind)
        if any(p.messages for p in produced):
            self._queued()
        return produced

    def _queued(self) -> None:
        if self.on_queued is not None:
            self.on_queued()

    def pack_days(self) -> int:
        """Pack the days changed since the digests last read them, ahead of the morning's digests."""
        return self.digests.refresh_days()

    def visit_lists(self) -> int:
        """Send the grid officers their weekly lists of households due a visit (once per week)."""
        sent = send_weekly_lists(
            self.db, plans=parse_plans(self.settings.visit_plans), zone=self.settings.zone, now=self.clock.now()
        )
        if sent:
            log.info("visit lists: %d sent", sent)
            self._queued()
        return sent

    def survey_round(self) -> int:
        """Sample last month's closed cases and residents per grid and ask them (once per month)."""
        asked = run_monthly(self.db, settings=self.settings.surveys, zone=self.settings.zone, now=self.clock.now())
        if asked:
            log.info("surveys: %d people asked", asked)
            self._queued()
        return asked

    def survey_reminders(self) -> int:
        reminded = send_reminders(
            self.db, settings=self.settings.surveys, zone=self.settings.zone, now=self.clock.now()
        )
        if reminded:
            self._queued()
        return reminded

    def operations_notice(self) -> int:
        """Tell the admins, once a day, which grids have nobody reachable and what failed."""
        sent = operations_notice(self.db, now=self.clock.now(), zone=self.settings.zone)
        if sent:
            self._queued()
        return len(sent)

    def run(self, name: str) -> list[AlertRecord] | list[ProducedDigest]:
        if name == SURVEYS:
            self.survey_round()
            return []
        if name == SURVEY_REMINDERS:
            self.survey_reminders()
            return []
        if name == PACK_DAYS:
            self.pack_days()
            return []
        if name == VISITS:
            self.visit_lists()
            return []
        if name == OPS_NOTICE:
            self.operations_notice()
            return []
        return self.check_overdue() if name == OVERDUE else self.digest(name)

    def catch_up(self) -> list[ProducedDigest]:
        """At start-up (or on taking over): produce each digest whose last run was missed, once.

        Only the latest missed period of each kind is produced; older ones would be stale news.
        A period whose digest exists already costs one lookup.
        """
        now = self.clock.now()
        produced: list[ProducedDigest] = []
        for kind in KINDS:
            trigger = self.triggers.get(kind)
            fired = last_fire(trigger, now) if trigger is not None else None
            if fired is None:
                continue
            produced += self.digests.produce(kind, period_just_ended(kind, fired, self.settings.zone))
        made = [p for p in produced if p.created]
        if made:
            log.warning("caught up %d missed digests at start-up", len(made))
            self._queued()
        visits = self.triggers.get(VISITS)
        fired_visits = last_fire(visits, now) if visits is not None else None
        if fired_visits is not None and fired_visits >= week_start(now, self.settings.zone):
            self.visit_lists()  # this week's lists, if the Monday run was missed (sent once either way)
        self.check_overdue()
        return produced


@dataclass(slots=True)
class FiredJob:
    name: str
    at: datetime
    result: list[AlertRecord] | list[ProducedDigest]


class SimulatedSchedule:
    """Fires the real triggers against a ``FixedClock``: the demo's quarter and the time-travel tests.

    ``run_until(t)`` sets the clock to every fire time up to ``t`` in order, runs the jobs due then,
    and leaves the clock at ``t``. Moving backwards runs nothing.
    """

    def __init__(self, jobs: Jobs, clock: FixedClock, *, names: tuple[str, ...] | None = None) -> None:
        self.jobs = jobs
        self.clock = clock
        self.names = names or tuple(jobs.triggers)
        self.cursor = clock.now()
        self.fired: list[FiredJob] = []

    def run_until(self, moment: datetime) -> list[FiredJob]:
        fired: list[FiredJob] = []
        while True:
            upcoming = [(next_fire(self.jobs.triggers[n], self.cursor), n) for n in self.names]
            due = sorted((at, name) for at, name in upcoming if at is not None and at <= moment)
            if not due:
                break
            at = due[0][0]
            self.clock.set(at)
            # Overdue checks before digests at the same minute, as a leader would expect.
            for _, name in sorted((d for d in due if d[0] == at), key=lambda d: d[1] != OVERDUE):
                fired.append(FiredJob(name, at, self.jobs.run(name)))
            self.cursor = at
        if moment > self.cursor:
            self.cursor = moment
        if moment > self.clock.now():
            self.clock.set(moment)
        self.fired += fired
        return fired

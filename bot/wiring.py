"""The one place that builds the application from settings (ports and adapters' bootstrap)."""

from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from analysis.analyzer import Analyzer
from analysis.default_model import load_classifier
from analysis.taxonomy import Taxonomy, load_taxonomy
from bot.dbcheck import check_database
from bot.settings import Settings
from bot.telegram.translate import TEXT_LIMIT as TELEGRAM_TEXT_LIMIT
from handlers.admin import Admin
from handlers.clock import Clock, SystemClock
from handlers.digests import Digests
from handlers.service import Minqing
from schedules.jobs import chart_renderer
from storage.db import Database
from storage.migrate import upgrade

#: The longest digest part: Telegram's message limit (the WeChat senders split again by bytes).
DIGEST_MESSAGE_LIMIT = TELEGRAM_TEXT_LIMIT


@dataclass(frozen=True, slots=True)
class App:
    settings: Settings
    db: Database
    core: Minqing
    admin: Admin
    digests: Digests


def open_database(settings: Settings, *, migrate: bool = True, create: bool = False) -> Database:
    """The deployment's database, migrated to the current schema.

    Refuses in one line a server it cannot use or a SQLite file that is not there; only ``create``
    (``minqing db upgrade``, the demo) makes a new SQLite database.
    """
    check_database(settings.database_url, create=create)
    if migrate:
        upgrade(settings.database_url)
    return Database.from_url(settings.database_url)


def build_digests(settings: Settings, db: Database, taxonomy: Taxonomy, clock: Clock) -> Digests:
    """The one digest service: the scheduler's runs, ``/digest`` and ``minqing digest`` share it."""
    schedule = settings.schedule()
    digests = Digests(
        db=db,
        taxonomy=taxonomy,
        clock=clock,
        zone=ZoneInfo(settings.timezone),
        settings=replace(schedule.digest, message_limit=DIGEST_MESSAGE_LIMIT),
    )
    if schedule.charts:
        digests.chart = chart_renderer(digests.builder)
    return digests


def build_app(settings: Settings, *, clock: Clock | None = None, migrate: bool = True, create: bool = False) -> App:
    """Migrate the database, load jieba and the model once, and wire the core."""
    db = open_database(settings, migrate=migrate, create=create)
    taxonomy = load_taxonomy(settings.taxonomy_path)
    clock = clock or SystemClock()
    # The trained model by default; load_classifier falls back to keyword rules (with a warning) if
    # the default cannot be built, and fails loudly if an admin-named model file is bad.
    analyzer = Analyzer(classifier=load_classifier(taxonomy, settings.model_path), taxonomy=taxonomy)
    analyzer.warm_up()  # at start-up, not inside the first resident's post
    digests = build_digests(settings, db, taxonomy, clock)
    core = Minqing(db=db, analyzer=analyzer, clock=clock, settings=settings.core(), digests=digests)
    return App(settings=settings, db=db, core=core, admin=Admin(db), digests=digests)

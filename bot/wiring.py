"""The one place that builds the application from settings (ports and adapters' bootstrap)."""

from dataclasses import dataclass

from analysis.analyzer import Analyzer
from analysis.default_model import load_classifier
from analysis.taxonomy import load_taxonomy
from bot.settings import Settings
from handlers.admin import Admin
from handlers.clock import Clock, SystemClock
from handlers.service import Minqing
from storage.db import Database
from storage.migrate import upgrade


@dataclass(frozen=True, slots=True)
class App:
    settings: Settings
    db: Database
    core: Minqing
    admin: Admin


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The deployment's database, migrated to the current schema."""
    if migrate:
        upgrade(settings.database_url)
    return Database.from_url(settings.database_url)


def build_app(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> App:
    """Migrate the database, load jieba and the model once, and wire the core."""
    db = open_database(settings, migrate=migrate)
    taxonomy = load_taxonomy(settings.taxonomy_path)
    # The trained model by default; load_classifier falls back to keyword rules (with a warning) if
    # the default cannot be built, and fails loudly if an admin-named model file is bad.
    analyzer = Analyzer(classifier=load_classifier(taxonomy, settings.model_path), taxonomy=taxonomy)
    analyzer.warm_up()  # at start-up, not inside the first resident's post
    core = Minqing(db=db, analyzer=analyzer, clock=clock or SystemClock(), settings=settings.core())
    return App(settings=settings, db=db, core=core, admin=Admin(db))

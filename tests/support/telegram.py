"""Telegram test helpers: limits lifted for tests that are not about limits, a quiet outbox."""

import sqlalchemy as sa

from bot.delivery import RateLimits
from bot.wiring import App
from handlers.clock import SystemClock
from storage.models import Outbox

NO_LIMITS = RateLimits(per_second=10_000, per_group_per_minute=10_000, per_private_per_second=10_000)


def quiet_outbox(app: App) -> None:
    """Mark the world-building replies (/join, /bind) as sent, so tests see only their own messages."""
    with app.db.transaction() as session:
        session.execute(sa.update(Outbox).values(sent_at=SystemClock().now()))

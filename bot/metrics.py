"""Prometheus metrics (``prometheus-client``), served at ``/metrics`` beside ``/healthz`` and ``/readyz``.

Counters and histograms live in the default registry; gauges that need the database (outbox depth
and age, dead letters) are read when Prometheus scrapes, by ``DatabaseCollector``.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from storage import operations as ops
from storage import outbox
from storage.db import Database

UPDATES = Counter("minqing_updates_total", "Incoming updates handled, by platform and outcome", ["platform", "outcome"])
CASES = Counter("minqing_cases_filed_total", "Cases filed", ["platform"])
SENDS = Counter(
    "minqing_sends_total", "Outbox sends by outcome (sent, retry_after, error, refused)", ["platform", "outcome"]
)
HANDLE_SECONDS = Histogram(
    "minqing_handle_seconds", "Time the core took for one update", ["platform"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)  # fmt: skip
# Scheduler leadership and job runs are counted in schedules/metrics.py (the same registry).


class DatabaseCollector(Collector):
    """Outbox depth and age and unresolved dead letters, read at scrape time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.db.transaction() as session:
            depth, age = outbox.depth(session=session, now=datetime.now(UTC))
            letters = ops.count_dead_letters(session=session)
        yield GaugeMetricFamily("minqing_outbox_depth", "Messages waiting in the outbox", value=depth)
        yield GaugeMetricFamily("minqing_outbox_oldest_seconds", "Age of the oldest waiting message", value=age)
        yield GaugeMetricFamily("minqing_dead_letters", "Messages the core failed on, not yet handled", value=letters)

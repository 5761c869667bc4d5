"""The one digest service: the scheduler's runs, a leader's ``/digest`` and ``minqing digest``.

Built once (``bot/wiring.py``) with the deployment's settings, so all three read the same figures.
A digest is stored once per (kind, period, scope) — the unique constraint decides, in the
transaction that queues its messages.
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from analysis.taxonomy import Taxonomy
from handlers import catalogue
from handlers.clock import Clock
from handlers.digests.builder import DigestBuilder
from handlers.digests.figures import DigestFigures, DigestSettings
from handlers.digests.periods import Period, period_just_ended
from handlers.digests.text import split_message
from handlers.errors import NotFound
from handlers.jurisdiction import Scope, digest_readers, scope_of_officer, scopes
from handlers.messages import OutgoingMessage
from storage import digests as store
from storage import repositories as repo
from storage.db import Database
from storage.digest_days import DayCache, first_day_of
from storage.models import Digest, Officer

log = logging.getLogger(__name__)

#: Renders a digest's chart as PNG bytes (matplotlib lives in ``schedules``; handlers stay light).
ChartRenderer = Callable[[DigestFigures], bytes | None]
#: How a digest's chart is named in an outgoing message (``photo_ref``); adapters load it back.
CHART_REF = "digest:{id}"


@dataclass(frozen=True, slots=True)
class ProducedDigest:
    """One scope's digest for one period; ``created`` is False when it already existed."""

    digest_id: int
    kind: str
    scope_code: str
    period_label: str
    period_start: datetime
    created: bool
    messages: int
    parts: tuple[str, ...]
    has_chart: bool


@dataclass(frozen=True, slots=True)
class Preview:
    """A scope's digest computed now and not stored (``minqing digest``)."""

    scope: Scope
    figures: DigestFigures
    messages: list[str]


class Digests:
    """Produces each scope's digest once, stores it, and queues it for the scope's leaders."""

    def __init__(
        self,
        *,
        db: Database,
        taxonomy: Taxonomy,
        clock: Clock,
        zone: ZoneInfo,
        settings: DigestSettings | None = None,
        chart: ChartRenderer | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.zone = zone
        self.builder = DigestBuilder(taxonomy=taxonomy, zone=zone, settings=settings)
        self.settings = self.builder.settings
        self.chart = chart

    # ---------------------------------------------------------------------- reading

    def preview(self, period: Period, *, scope_code: str | None = None) -> list[Preview]:
        """Every scope's digest (or one scope's) for ``period``, computed now; nothing is stored."""
        found: list[Preview] = []
        with self.db.session() as session:
            cache = DayCache(self.zone)
            for scope in scopes(session):
                if scope_code is None or scope.code == scope_code:
                    figures = self.builder.figures(session, scope, period, cache=cache)
                    found.append(Preview(scope, figures, self.builder.render(figures)))
        return found

    def for_leader(
        self, session: Session, *, officer: Officer, kind: str, now: datetime
    ) -> list[tuple[str, str | None]]:
        """``/digest week``: the leader's scope for the period just ended, as (text, photo ref) replies.

        The stored digest is shown as it was sent (with its chart) when it exists; otherwise the
        figures are computed now and nothing is stored, so the scheduled run still happens once.
        """
        scope = scope_of_officer(session, officer)
        if scope is None:
            raise NotFound(catalogue.DIGEST_NO_SCOPE)
        period = period_just_ended(kind, now, self.zone)
        stored = _find(session, scope, period)
        if stored is None:
            return [(p, None) for p in self.builder.render(self.builder.figures(session, scope, period))]
        parts = self.stored_parts(stored)
        replies: list[tuple[str, str | None]] = [(p, None) for p in parts]
        if stored.chart_png is not None:
            replies.append((_chart_caption(parts), CHART_REF.format(id=stored.id)))
        return replies

    def stored_parts(self, digest: Digest) -> list[str]:
        """A stored digest's text as chat messages again."""
        return split_message(digest.text.split("\n\n"), limit=self.settings.message_limit)

    # ---------------------------------------------------------------------- producing

    def produce(self, kind: str, period: Period | None = None) -> list[ProducedDigest]:
        """Every scope's digest for ``period`` (default: the period just ended); each exactly once."""
        period = period or period_just_ended(kind, self.clock.now(), self.zone)
        with self.db.session() as session:
            all_scopes = scopes(session)
        # One read of the period's packed days serves every scope.
        cache = DayCache(self.zone, now=self.clock.now())
        return [self.produce_one(scope, period, cache=cache) for scope in all_scopes]

    def produce_one(self, scope: Scope, period: Period, *, cache: DayCache | None = None) -> ProducedDigest:
        """One scope's digest, once; the days it had to pack are stored for the next digests."""
        with self.db.session() as session:
            existing = _find(session, scope, period)
        if existing is not None:
            return self._as_produced(existing, created=False, messages=0)
        cache = cache if cache is not None else DayCache(self.zone, now=self.clock.now())
        with self.db.session() as session:
            figures = self.builder.figures(session, scope, period, cache=cache)
        self.store_days(cache)  # before the digest row: whoever sees the digest finds its days kept
        paragraphs = self.builder.sections(figures)
        parts = split_message(paragraphs, limit=self.settings.message_limit)
        png = self.chart(figures) if self.chart is not None and not figures.is_empty else None
        now = self.clock.now()
        with self.db.transaction() as session:
            claimed = store.claim_digest(
                session=session,
                kind=period.kind,
                scope_code=scope.code,
                period_start=period.start,
                period_end=period.end,
                text="\n\n".join(paragraphs),
                figures=figures.to_json(),
                chart_png=png,
                at=now,
            )
            digest = _find(session, scope, period)
            if digest is None:  # pragma: no cover - needs a concurrent delete
                raise LookupError(f"digest {period.kind} {scope.code} {period.start} vanished")
            if not claimed:
                # Another process produced it first; it has queued the messages.
                return self._as_produced(digest, created=False, messages=0)
            messages = delivery_messages(session, digest, parts, digest_readers(session, scope))
            repo.queue_outgoing(session=session, rows=[m.outbox_row(now) for m in messages])
        log.info("digest %s %s %s: %d messages", period.kind, scope.code, period.label, len(messages))
        return self._as_produced(digest, created=True, messages=len(messages), parts=parts)

    def store_days(self, cache: DayCache) -> int:
        """Keep the days a run packed from the cases, so later digests read them packed."""
        if not cache.to_store:
            return 0
        with self.db.transaction() as session:
            return cache.save(session)

    def refresh_days(self) -> int:
        """Pack again the changed days of the quarter so far and the last week (the nightly job).

        The digests at 08:00 then find their days ready and read again only cases changed since.
        """
        now = self.clock.now()
        yesterday = now.astimezone(self.zone).date() - timedelta(days=1)
        first_day = min(first_day_of("quarter", yesterday), yesterday - timedelta(days=6))
        cache = DayCache(self.zone, now=now)
        with self.db.session() as session:
            cache.facts(session, first_day, yesterday + timedelta(days=1))
        stored = self.store_days(cache)
        log.info("packed days: %d rebuilt, %d patched, %d stored", len(cache.rebuilt), len(cache.patched), stored)
        return stored

    def _as_produced(
        self, digest: Digest, *, created: bool, messages: int, parts: Sequence[str] | None = None
    ) -> ProducedDigest:
        start = digest.period_start.astimezone(self.zone)
        last = digest.period_end.astimezone(self.zone) - timedelta(days=1)
        return ProducedDigest(
            digest_id=digest.id or 0,
            kind=digest.kind,
            scope_code=digest.scope_code,
            period_label=catalogue.period_label(digest.kind, start, last),
            period_start=digest.period_start,
            created=created,
            messages=messages,
            parts=tuple(parts) if parts is not None else tuple(self.stored_parts(digest)),
            has_chart=digest.chart_png is not None,
        )


def _find(session: Session, scope: Scope, period: Period) -> Digest | None:
    return store.stored_digest(session=session, kind=period.kind, scope_code=scope.code, period_start=period.start)


def _chart_caption(parts: Sequence[str]) -> str:
    return catalogue.DIGEST_CHART_CAPTION.format(title=parts[0].split("\n", 1)[0] if parts else "")


def delivery_messages(
    session: Session, digest: Digest, parts: Sequence[str], officers: Iterable[Officer]
) -> list[OutgoingMessage]:
    """Text parts in order, then the chart as a photo the sender loads by the digest's id."""
    caption = _chart_caption(parts)
    messages: list[OutgoingMessage] = []
    for officer in officers:
        for identity in repo.identities_of_officer(session=session, officer_id=officer.id or 0):
            messages += [OutgoingMessage(identity.platform, identity.user_id, p, kind="digest") for p in parts]
            if digest.chart_png is not None:
                messages.append(
                    OutgoingMessage(
                        identity.platform,
                        identity.user_id,
                        caption,
                        kind="digest",
                        photo_ref=CHART_REF.format(id=digest.id),
                    )
                )
    return messages


def chart_png(db: Database, ref: str) -> bytes | None:
    """The PNG a ``photo_ref`` names ("digest:12"), or None when there is no such image.

    The one chart loader: every adapter's sender calls it (off its event loop).
    """
    kind, _, key = ref.partition(":")
    if kind != "digest" or not key.isdigit():
        return None
    with db.session() as session:
        return store.digest_chart(session=session, digest_id=int(key))

"""民情分析 digests: a community's or street's figures for a week, month or quarter, and their text.

- ``periods``: the calendar periods a digest covers (kinds defined once, with the packed days);
- ``figures``: what a digest computes, and the settings that shape it;
- ``builder``: the figures of a scope for a period, from the packed days (``storage.digest_days``);
- ``text``: the figures as the sections leaders read, split into chat messages;
- ``service``: the one digest service behind the scheduler, ``/digest`` and ``minqing digest``.
"""

from handlers.digests.builder import DigestBuilder
from handlers.digests.figures import DigestFigures, DigestSettings, Outcome, PeriodCounts, parse_counts
from handlers.digests.periods import KINDS, Period, period_ending_on, period_just_ended
from handlers.digests.service import ChartRenderer, Digests, Preview, ProducedDigest, chart_png, delivery_messages
from handlers.digests.text import split_message

__all__ = [
    "KINDS",
    "ChartRenderer",
    "DigestBuilder",
    "DigestFigures",
    "DigestSettings",
    "Digests",
    "Outcome",
    "Period",
    "PeriodCounts",
    "Preview",
    "ProducedDigest",
    "chart_png",
    "delivery_messages",
    "parse_counts",
    "period_ending_on",
    "period_just_ended",
    "split_message",
]

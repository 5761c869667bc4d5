"""Delivery: limits queue instead of dropping, 429s and failures hold back only their chat, restarts lose nothing."""

from datetime import timedelta

from sqlmodel import col, select

from bot.delivery import Delivery, PermanentFailure, RateLimits, RetryAfter
from handlers.clock import FixedClock
from handlers.messages import Mention, OutgoingMessage
from storage import repositories as repo
from storage.db import Database
from storage.models import Outbox

GROUP, OFFICER, RESIDENT = "-100111", "1001", "2001"


class RecordingSender:
    """Accepts everything except what a test scripted to fail."""

    def __init__(self, failures: dict[str, list[Exception]] | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures = failures or {}

    async def send(self, message: OutgoingMessage) -> None:
        scripted = self.failures.get(message.text)
        if scripted:
            raise scripted.pop(0)
        self.sent.append((message.chat_id, message.text))


def queue(database: Database, clock: FixedClock, *messages: tuple[str, str]) -> None:
    with database.transaction() as session:
        repo.queue_outgoing(
            session=session,
            rows=[OutgoingMessage("telegram", chat, text).outbox_row(clock.now()) for chat, text in messages],
        )


def unsent(database: Database) -> list[str]:
    with database.transaction() as session:
        rows = session.exec(select(Outbox).where(col(Outbox.sent_at).is_(None)).order_by(col(Outbox.id))).all()
        return [OutgoingMessage.from_json(row.payload).text for row in rows]


def delivery(database: Database, clock: FixedClock, sender: RecordingSender, **limits: int) -> Delivery:
    return Delivery(db=database, senders={"telegram": sender}, clock=clock, limits=RateLimits(**limits))


async def test_group_limit_queues_the_rest_instead_of_dropping(database: Database, clock: FixedClock) -> None:
    queue(database, clock, (GROUP, "a"), (GROUP, "b"), (GROUP, "c"))
    sender = RecordingSender()
    outbox = delivery(database, clock, sender, per_group_per_minute=2)

    assert await outbox.drain_once() == 1  # one head per chat per pass
    assert await outbox.drain_once() == 1
    assert await outbox.drain_once() == 0  # the minute's budget is spent

    assert sender.sent == [(GROUP, "a"), (GROUP, "b")]
    assert unsent(database) == ["c"]


async def test_retry_after_postpones_only_that_chat_and_keeps_its_order(database: Database, clock: FixedClock) -> None:
    queue(database, clock, (GROUP, "first"), (GROUP, "second"), (RESIDENT, "other chat"))
    sender = RecordingSender({"first": [RetryAfter(30)]})
    outbox = delivery(database, clock, sender, per_group_per_minute=100)

    await outbox.drain_once()
    await outbox.drain_once()
    assert sender.sent == [(RESIDENT, "other chat")]
    assert unsent(database) == ["first", "second"]

    clock.advance(timedelta(seconds=31))
    await outbox.drain_once()
    await outbox.drain_once()
    assert sender.sent[1:] == [(GROUP, "first"), (GROUP, "second")]


async def test_a_refused_message_is_kept_but_does_not_block_its_chat(database: Database, clock: FixedClock) -> None:
    queue(database, clock, (RESIDENT, "refused"), (RESIDENT, "next"))
    sender = RecordingSender({"refused": [PermanentFailure("bot was blocked")]})
    outbox = delivery(database, clock, sender, per_private_per_second=100)

    await outbox.drain_once()
    await outbox.drain_once()

    assert sender.sent == [(RESIDENT, "next")]
    with database.transaction() as session:
        refused = session.exec(select(Outbox).where(col(Outbox.sent_at).is_(None))).one()
        assert refused.error.startswith("gave up") and refused.attempts == 1


async def test_transport_errors_back_off_and_succeed_later(database: Database, clock: FixedClock) -> None:
    queue(database, clock, (RESIDENT, "flaky"))
    sender = RecordingSender({"flaky": [ConnectionError("reset"), ConnectionError("reset")]})
    outbox = delivery(database, clock, sender, per_private_per_second=100)

    for _ in range(3):
        await outbox.drain_once()
        clock.advance(timedelta(seconds=5))

    assert sender.sent == [(RESIDENT, "flaky")]
    assert unsent(database) == []


async def test_a_restarted_delivery_sends_what_was_queued_before(database: Database, clock: FixedClock) -> None:
    queue(database, clock, (RESIDENT, "before the crash"), (OFFICER, "also before"))
    crashed = delivery(database, clock, RecordingSender({"before the crash": [ConnectionError("down")]}))
    await crashed.drain_once()

    clock.advance(timedelta(minutes=1))
    sender = RecordingSender()
    await delivery(database, clock, sender).drain_once()

    assert sender.sent == [(RESIDENT, "before the crash")]
    assert unsent(database) == []


async def test_an_officer_backlog_does_not_hold_back_other_chats(database: Database, clock: FixedClock) -> None:
    queue(database, clock, *[(OFFICER, f"notice {i}") for i in range(5)], (GROUP, "ack"))
    sender = RecordingSender()
    outbox = Delivery(db=database, senders={"telegram": sender}, clock=clock, batch=2)

    await outbox.drain_once()
    await outbox.drain_once()  # the officer's 1/s window is closed; the group's is not

    assert sender.sent == [(OFFICER, "notice 0"), (GROUP, "ack")]
    assert len(unsent(database)) == 4


def queue_acks(database: Database, clock: FixedClock, chat: str, count: int) -> None:
    with database.transaction() as session:
        rows = [
            OutgoingMessage(
                "telegram", chat, f"已受理 MQ-2026-{n:06d} · 公共设施", kind="ack", mentions=(Mention(str(n), "@张*"),)
            ).outbox_row(clock.now())
            for n in range(count)
        ]
        repo.queue_outgoing(session=session, rows=rows)


async def test_acks_waiting_for_a_group_go_as_one_message(database: Database, clock: FixedClock) -> None:
    queue_acks(database, clock, GROUP, 5)
    queue_acks(database, clock, RESIDENT, 2)
    sender = RecordingSender()
    outbox = delivery(database, clock, sender, per_private_per_second=100)

    assert await outbox.drain_once() == 6  # the group's five (in one send) and the resident's first
    group = [text for chat, text in sender.sent if chat == GROUP]
    assert len(group) == 1 and all(f"MQ-2026-{n:06d}" in group[0] for n in range(5))
    assert [text for chat, text in sender.sent if chat == RESIDENT] == ["已受理 MQ-2026-000000 · 公共设施"]
    assert unsent(database) == ["已受理 MQ-2026-000001 · 公共设施"]  # private chats are never coalesced


async def test_a_failed_coalesced_send_keeps_every_ack_in_order(database: Database, clock: FixedClock) -> None:
    queue_acks(database, clock, GROUP, 3)

    class Refusing(RecordingSender):
        async def send(self, message: OutgoingMessage) -> None:
            raise RetryAfter(5)

    await delivery(database, clock, Refusing()).drain_once()
    assert unsent(database) == [f"已受理 MQ-2026-{n:06d} · 公共设施" for n in range(3)]
    clock.advance(timedelta(seconds=6))
    sender = RecordingSender()
    await delivery(database, clock, sender).drain_once()
    assert len(sender.sent) == 1 and unsent(database) == []

"""The kit on the real RabbitMQ and PostgreSQL: inbox, outbox relay, dead letters."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import aio_pika
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from contracts import BookingsCancelled, SubscriptionEnded
from services.kit import outbox
from services.kit.consuming import QueueConsumer
from services.kit.messaging import REASON_HEADER, Messaging
from services.kit.runtime import ServiceRuntime
from services.kit.settings import Settings
from tests.conftest import derived
from tests.integration.toy.service import FAIL_ONCE, create_runtime, effects
from tests.support.listening import publish, publish_raw
from tests.support.settling import outbox_drained
from tests.support.waiting import eventually

NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def toy(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    runtime = create_runtime(settings, f"toy{uuid.uuid4().hex[:6]}")
    app = runtime.app()
    await app.start()
    try:
        yield runtime
    finally:
        await app.stop()


async def _effects_for(runtime: ServiceRuntime, subscription_id: uuid.UUID) -> int:
    async with runtime.db.transaction() as tx:
        count = await tx.scalar(
            select(func.count()).where(effects.c.subscription_id == subscription_id)
        )
    return int(count or 0)


async def _all_handled(settings: Settings, toy: ServiceRuntime) -> None:
    """Return once the toy has handled every message published to its queues so far and
    every one its outbox holds: a sentinel through each queue after them (one consumer
    each, taking its queue in order), each once the outbox is drained."""
    await outbox_drained(toy.db)
    ended = SubscriptionEnded(occurred_at=NOW, subscription_id=uuid.uuid4(), ended_at=NOW)
    await publish(settings, ended)
    assert await eventually(lambda: _effects_for(toy, ended.subscription_id), lambda n: n > 0)
    await outbox_drained(toy.db)
    cancelled = BookingsCancelled(
        occurred_at=NOW, subscription_id=uuid.uuid4(), booking_ids=[], reason="subscription_ended"
    )
    await publish(settings, cancelled)
    assert await eventually(lambda: _effects_for(toy, cancelled.subscription_id), lambda n: n > 0)


async def test_a_duplicate_delivery_has_one_effect(settings: Settings, toy: ServiceRuntime) -> None:
    subscription_id = uuid.uuid4()
    event = SubscriptionEnded(occurred_at=NOW, subscription_id=subscription_id, ended_at=NOW)
    for _ in range(3):
        await publish_raw(settings, event.routing_key, event.body(), str(event.event_id))

    # One effect for subscription.ended and one for the bookings.cancelled it caused.
    assert await eventually(lambda: _effects_for(toy, subscription_id), lambda n: n == 2) == 2
    await _all_handled(settings, toy)
    assert await _effects_for(toy, subscription_id) == 2


async def test_a_failed_message_is_retried_while_its_batch_mates_are_acknowledged(
    settings: Settings,
) -> None:
    """The failing message waits for its retry unacknowledged while the batches
    behind it are acknowledged (one ack per message while it is pending, since a
    `multiple` ack would settle it too); once the service stops, nothing is left in
    the queues: every delivery was settled exactly once, the retried one included."""
    runtime = create_runtime(settings, f"toy{uuid.uuid4().hex[:6]}")
    app = runtime.app()
    await app.start()
    try:
        failing = uuid.uuid4()
        FAIL_ONCE.add(failing)
        ids = [failing, *(uuid.uuid4() for _ in range(200))]
        await publish(
            settings,
            *(SubscriptionEnded(occurred_at=NOW, subscription_id=s, ended_at=NOW) for s in ids),
        )

        async def all_effects() -> list[int]:
            return [await _effects_for(runtime, s) for s in ids]

        # Each subscription.ended: its effect and the bookings.cancelled it caused.
        counts = await eventually(all_effects, lambda c: c == [2] * len(ids), within=20)
        assert counts == [2] * len(ids)
        assert failing not in FAIL_ONCE  # it did fail once
    finally:
        await app.stop()
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        for routing_key in ("subscription.ended", "bookings.cancelled"):
            queue = await channel.declare_queue(
                settings.naming.queue(runtime.name, routing_key), passive=True
            )
            assert queue.declaration_result.message_count == 0, routing_key


async def test_a_gathering_consumer_applies_a_trickle_in_few_batches(
    settings: Settings, toy: ServiceRuntime
) -> None:
    batches: list[int] = []

    async def apply(msgs: Sequence[SubscriptionEnded]) -> None:
        batches.append(len(msgs))

    consumer = QueueConsumer(
        toy.messaging, "toy.trickle", SubscriptionEnded, apply, max_size=128, gather_seconds=0.5
    )
    await consumer.start(await toy.messaging.consuming_connection())
    try:
        for _ in range(10):  # one every 10 ms: without gathering, ten batches of one
            event = SubscriptionEnded(occurred_at=NOW, subscription_id=uuid.uuid4(), ended_at=NOW)
            await publish_raw(settings, "toy.trickle", event.body(), str(event.event_id))
            await asyncio.sleep(0.01)

        async def applied() -> int:
            return sum(batches)

        assert await eventually(applied, lambda n: n == 10) == 10
        assert len(batches) <= 2, batches
    finally:
        await consumer.stop(5)


async def _dead_letters(
    settings: Settings, queue: str
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    found = []
    async with connection:
        channel = await connection.channel()
        dlq = await channel.get_queue(f"{queue}.dlq")
        while (message := await dlq.get(fail=False)) is not None:
            await message.ack()
            found.append(message)
    return found


def _dead_lettered(service: str) -> float:
    labels = {"service": service, "routing_key": "subscription.ended"}
    return REGISTRY.get_sample_value("mentorship_messages_dead_lettered_total", labels) or 0.0


@pytest.mark.parametrize(
    ("body", "reason_part"),
    [
        (b"{not json", "not JSON"),
        (
            json.dumps(
                {"event_id": str(uuid.uuid4()), "occurred_at": "2026-03-02T18:00:00"}
            ).encode(),
            "subscription_id",
        ),
        (
            json.dumps(
                {
                    "event_id": str(uuid.uuid4()),
                    "occurred_at": "2026-03-02T18:00:00",
                    "subscription_id": str(uuid.uuid4()),
                    "ended_at": "2026-03-02T18:00:00",
                }
            ).encode(),
            "timezone",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"event_id": ' + b"1" * 5000 + b"}", "not JSON"),
    ],
    ids=["not-json", "missing-field", "naive-datetime", "deeply-nested", "huge-integer"],
)
async def test_a_poison_message_is_dead_lettered_and_the_next_is_handled(
    settings: Settings, toy: ServiceRuntime, body: bytes, reason_part: str
) -> None:
    queue = settings.naming.queue(toy.name, "subscription.ended")
    dead_lettered_before = _dead_lettered(toy.name)
    await publish_raw(settings, "subscription.ended", body, "poison")
    good = SubscriptionEnded(occurred_at=NOW, subscription_id=uuid.uuid4(), ended_at=NOW)
    await publish_raw(settings, good.routing_key, good.body(), str(good.event_id))

    assert await eventually(lambda: _effects_for(toy, good.subscription_id), lambda n: n == 2) == 2
    dead = await _dead_letters(settings, queue)
    assert [m.body for m in dead] == [body]
    reason = str(dead[0].headers[REASON_HEADER])
    assert reason_part in reason
    assert _dead_lettered(toy.name) == dead_lettered_before + 1


async def test_a_relay_killed_mid_batch_publishes_everything_after_restart(
    settings: Settings, toy: ServiceRuntime
) -> None:
    subscription_id = uuid.uuid4()
    events = [
        SubscriptionEnded(occurred_at=NOW, subscription_id=subscription_id, ended_at=NOW)
        for _ in range(300)
    ]
    started = confirmed = 0
    at_the_broker, crashed = asyncio.Event(), asyncio.Event()

    async def publish_then_die(routing_key: str, body: bytes, event_id: uuid.UUID) -> None:
        nonlocal started, confirmed
        started += 1
        if started > 120:
            # Killed once the first 120 are at the broker, confirmed but not marked
            # sent: after the restart they are published again and reach the consumer
            # twice (cancelled with the relay, they might never have left).
            await at_the_broker.wait()
            crashed.set()
            await asyncio.sleep(3600)  # hangs here until the relay is killed
        await toy.messaging.publish(routing_key, body, event_id)
        confirmed += 1
        if confirmed == 120:
            at_the_broker.set()

    def duplicates() -> float:
        labels = {"service": toy.name, "routing_key": "subscription.ended", "outcome": "duplicate"}
        return REGISTRY.get_sample_value("mentorship_messages_handled_total", labels) or 0.0

    duplicates_before = duplicates()

    # Stop the running relay so the doomed one takes the whole backlog.
    await toy._stop_loops()
    async with toy.db.transaction() as tx:
        await outbox.add(tx, events)
    doomed = outbox.OutboxRelay(toy.db, publish_then_die, batch_size=200)
    task = asyncio.create_task(doomed.run())
    await asyncio.wait_for(crashed.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    unsent, _ = await outbox.backlog(toy.db)
    assert unsent >= 300 - 120  # the killed batch was not marked sent
    await toy._start_loops()  # a fresh relay, as after a restart

    # 300 subscription.ended handled once each, plus the 300 cancellations they caused.
    assert (
        await eventually(lambda: _effects_for(toy, subscription_id), lambda n: n == 600, within=30)
        == 600
    )
    await _all_handled(settings, toy)
    assert await _effects_for(toy, subscription_id) == 600
    assert (await outbox.backlog(toy.db))[0] == 0
    assert duplicates() - duplicates_before == 120  # each delivered twice, applied once


async def _cancellation_row(runtime: ServiceRuntime, subscription_id: uuid.UUID) -> Any:
    """The outbox row of the bookings.cancelled that a subscription.ended caused."""
    async with runtime.db.transaction() as tx:
        return (
            await tx.execute(
                select(outbox.OUTBOX).where(
                    outbox.OUTBOX.c.routing_key == "bookings.cancelled",
                    outbox.OUTBOX.c.body["subscription_id"].astext == str(subscription_id),
                )
            )
        ).one()


async def test_what_a_consumer_writes_is_published_at_once_by_its_writer(
    settings: Settings, toy: ServiceRuntime
) -> None:
    ended = SubscriptionEnded(occurred_at=NOW, subscription_id=uuid.uuid4(), ended_at=NOW)
    started = time.monotonic()
    await publish_raw(settings, ended.routing_key, ended.body(), str(ended.event_id))

    assert await eventually(lambda: _effects_for(toy, ended.subscription_id), lambda n: n == 2) == 2
    # The relay leaves a leased row alone until its lease has passed: handled before
    # then, the cancellation went out from the consumer's own hands.
    assert time.monotonic() - started < outbox.LEASE_SECONDS
    row = await _cancellation_row(toy, ended.subscription_id)
    assert row.next_attempt_at > row.created_at
    assert await eventually(
        lambda: _cancellation_row(toy, ended.subscription_id), lambda r: r.sent_at is not None
    )


async def test_what_its_writer_failed_to_publish_the_relay_publishes_after_the_lease(
    settings: Settings, toy: ServiceRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "LEASE_SECONDS", 2.0)
    real_publish = toy.relay.publish
    refused: list[uuid.UUID] = []

    async def refuse_the_first(routing_key: str, body: bytes, event_id: uuid.UUID) -> None:
        if routing_key == "bookings.cancelled" and not refused:
            refused.append(event_id)
            raise RuntimeError("the broker said no")
        await real_publish(routing_key, body, event_id)

    monkeypatch.setattr(toy.relay, "publish", refuse_the_first)
    ended = SubscriptionEnded(occurred_at=NOW, subscription_id=uuid.uuid4(), ended_at=NOW)
    started = time.monotonic()
    await publish_raw(settings, ended.routing_key, ended.body(), str(ended.event_id))

    handled = await eventually(
        lambda: _effects_for(toy, ended.subscription_id), lambda n: n == 2, within=20
    )
    assert handled == 2
    assert refused, "the writer's own publish was not tried"
    assert time.monotonic() - started >= 1.5  # the relay waited for the lease
    assert (await _cancellation_row(toy, ended.subscription_id)).sent_at is not None
    await _all_handled(settings, toy)
    assert await _effects_for(toy, ended.subscription_id) == 2


async def test_past_the_hand_over_limit_a_batch_leaves_its_rows_to_the_relay(
    settings: Settings, toy: ServiceRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "HAND_OVER_AT_MOST", 0)
    subscription_id = uuid.uuid4()
    events = [
        SubscriptionEnded(occurred_at=NOW, subscription_id=subscription_id, ended_at=NOW)
        for _ in range(40)
    ]
    for event in events:
        await publish_raw(settings, event.routing_key, event.body(), str(event.event_id))

    handled = await eventually(
        lambda: _effects_for(toy, subscription_id), lambda n: n == 80, within=20
    )
    assert handled == 80
    assert await eventually(lambda: outbox.backlog(toy.db), lambda b: b[0] == 0)
    async with toy.db.transaction() as tx:
        leased, notified = (
            await tx.execute(
                select(
                    func.count().filter(outbox.OUTBOX.c.next_attempt_at.is_not(None)),
                    func.count().filter(outbox.OUTBOX.c.next_attempt_at.is_(None)),
                )
            )
        ).one()
    assert (leased, notified) == (0, 40)  # written unleased, for the relay (woken by NOTIFY)


class NobodyListens(SubscriptionEnded):
    routing_key: ClassVar[str] = "toy.nobody.listens"


async def test_an_unroutable_message_waits_without_holding_up_the_rest(
    settings: Settings, toy: ServiceRuntime
) -> None:
    stuck = NobodyListens(occurred_at=NOW, subscription_id=uuid.uuid4(), ended_at=NOW)
    behind = SubscriptionEnded(occurred_at=NOW, subscription_id=uuid.uuid4(), ended_at=NOW)
    async with toy.db.transaction() as tx:
        await outbox.add(tx, [stuck, behind])

    handled = await eventually(lambda: _effects_for(toy, behind.subscription_id), lambda n: n == 2)
    assert handled == 2
    async with toy.db.transaction() as tx:
        row = (
            await tx.execute(
                select(outbox.OUTBOX).where(outbox.OUTBOX.c.event_id == stuck.event_id)
            )
        ).one()
    assert row.sent_at is None
    assert row.attempts >= 1
    assert "NO_ROUTE" in row.last_error or "312" in row.last_error
    assert row.next_attempt_at is not None


async def _declare_timed(settings: Settings, routing_keys: Sequence[str]) -> float:
    messaging = Messaging(settings, "toy")
    for routing_key in routing_keys:
        messaging.documents_consuming(routing_key, lambda message: None)
    started = time.monotonic()
    try:
        await messaging.declare()
        return time.monotonic() - started
    finally:
        await messaging.broker.stop()
        await messaging.close()


async def test_a_first_start_creates_its_quorum_queues_unbound_and_waits_for_the_broker(
    settings: Settings,
) -> None:
    own = derived(settings, f"qq{uuid.uuid4().hex[:6]}").model_copy(
        update={"quorum_registry_seconds": 1.0}
    )
    keys = ["subscription.ended", "bookings.cancelled"]
    assert await _declare_timed(own, keys) >= 1.0
    assert await _declare_timed(own, keys) < 1.0  # found them: no wait

    connection = await aio_pika.connect(own.rabbitmq_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(own.naming.exchange)
        # Unbound until a consumer binds it: what is published meanwhile is returned.
        with pytest.raises(aio_pika.exceptions.DeliveryError):
            await exchange.publish(aio_pika.Message(b"{}"), "subscription.ended", mandatory=True)
        queue = Messaging(own, "toy").queue("subscription.ended")
        # A quorum queue with the kit's arguments: declaring it as a classic one fails.
        await channel.declare_queue(queue.name, durable=True, arguments=queue.arguments)
        with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
            await channel.declare_queue(
                queue.name, durable=True, arguments={"x-queue-type": "classic"}
            )
    finally:
        await connection.close()

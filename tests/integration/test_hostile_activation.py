"""An activation whose person name would break an email header is poison for every consumer.

`mentee.name` "Eve\\nBcc: x@y" used to be accepted and then stopped the
mentor's warning email (the Subject header refuses a line break). The contract
refuses such a name, so each consumer of `subscription.activated` dead-letters
the message at once, with the reason, and goes on with the next one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from functools import partial

import aio_pika
import pytest
import pytest_asyncio

from contracts import BookingsScheduled, Person, Slot, SubscriptionActivated
from services.attendance.app import create_runtime as attendance
from services.booking.app import create_runtime as booking
from services.kit.messaging import REASON_HEADER
from services.kit.settings import Settings
from services.notifications.app import create_runtime as notifications
from tests.conftest import derived
from tests.support.listening import listening, publish, publish_raw
from tests.support.waiting import eventually

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
CONSUMERS = ("booking", "attendance", "notifications")


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return derived(settings, "hostile")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def consumers(settings: Settings) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for create in (booking, attendance, notifications):
            app = create(settings).app()  # type: ignore[operator]
            await app.start()
            stack.push_async_callback(app.stop)
        yield


def activation(mentee_name: str = "Maria Lima") -> SubscriptionActivated:
    return SubscriptionActivated(
        occurred_at=MONDAY,
        subscription_id=uuid.uuid4(),
        mentee=Person(id=uuid.uuid4(), name=mentee_name, email="maria@example.com"),
        mentor=Person(id=uuid.uuid4(), name="Otto Berg", email="otto@example.com"),
        slot=Slot(weekday=0, start_time="18:00", duration_minutes=60, timezone="Europe/Lisbon"),
        cycle_starts_at=MONDAY,
        cycle_ends_at=MONDAY + timedelta(weeks=2),
    )


async def _dead_letters(settings: Settings, service: str) -> dict[str, str]:
    found = {}
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.get_queue(
            settings.naming.dead_letter_queue(service, "subscription.activated")
        )
        while (message := await dlq.get(fail=False)) is not None:
            await message.ack()
            found[str(message.message_id)] = str(message.headers[REASON_HEADER])
    return found


@pytest.mark.parametrize(
    "name",
    ["Eve\nBcc: x@y", "Eve\r\nSubject: hi", "O" * 201],
    ids=["line-feed", "crlf", "too-long"],
)
async def test_an_activation_with_a_hostile_name_is_dead_lettered_by_every_consumer(
    settings: Settings, consumers: None, name: str
) -> None:
    hostile = activation().model_dump(mode="json")
    hostile["mentee"]["name"] = name
    hostile_id = str(hostile["event_id"])
    good = activation()
    async with listening(settings, ["bookings.scheduled"]) as bus:
        body = json.dumps(hostile).encode()
        await publish_raw(settings, "subscription.activated", body, hostile_id)
        await publish(settings, good)
        # Booking handles the next activation: the hostile one did not block the queue.
        [scheduled] = await bus.wait_for(
            BookingsScheduled, subscription_id=good.subscription_id, within=15
        )
        assert len(scheduled.bookings) == 2
        assert (
            bus.of(BookingsScheduled, subscription_id=uuid.UUID(hostile["subscription_id"])) == []
        )
    for service in CONSUMERS:
        kept = await eventually(
            partial(_dead_letters, settings, service),
            lambda found: hostile_id in found,
        )
        assert "mentee.name" in kept.get(hostile_id, ""), (service, kept)

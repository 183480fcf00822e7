"""The gateway's request/reply client on the real broker: requests do not wait for each
other, a late reply is dropped, and a request nobody can take fails at once.

The owner here is a bare aio-pika responder, so that only the gateway's side is tested.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
import pytest_asyncio
from fastapi import HTTPException

from contracts.rpc import BookingFound, FindBooking
from services.gateway.owners import Owners
from services.kit.messaging import Messaging
from services.kit.settings import Settings
from tests.conftest import derived

SLOW = uuid.UUID("00000000-0000-4000-8000-000000000001")
SLOW_SECONDS = 1.0


@pytest.fixture(scope="module")
def isolated(settings: Settings) -> Settings:
    return derived(settings, "gwrq")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def responder(isolated: Settings) -> AsyncIterator[None]:
    """Answers FindBooking with the booking id it was asked about; SLOW after a second."""
    connection = await aio_pika.connect(isolated.rabbitmq_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            isolated.naming.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key=FindBooking.routing_key)
        replies = await connection.channel(publisher_confirms=False)

        async def answer(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            request = FindBooking.model_validate_json(message.body)
            if request.booking_id == SLOW:
                await asyncio.sleep(SLOW_SECONDS)
            reply = BookingFound(booking_id=request.booking_id, status="scheduled")
            await replies.default_exchange.publish(
                aio_pika.Message(
                    reply.model_dump_json().encode(), correlation_id=message.correlation_id
                ),
                routing_key=message.reply_to or "",
                mandatory=False,
            )

        await queue.consume(answer, no_ack=True)
        yield
    finally:
        await connection.close()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def messaging(isolated: Settings) -> AsyncIterator[Messaging]:
    messaging = Messaging(isolated, "gateway")
    await messaging.declare()
    await messaging.broker.start()
    try:
        yield messaging
    finally:
        await messaging.broker.stop()
        await messaging.close()


async def test_a_slow_request_does_not_hold_up_the_others(
    responder: None, messaging: Messaging
) -> None:
    owners = Owners(messaging, timeout=5.0)
    started = time.monotonic()
    slow = asyncio.create_task(owners.ask(FindBooking(booking_id=SLOW), BookingFound))
    await asyncio.sleep(0.05)
    fast_ids = [uuid.uuid4() for _ in range(50)]
    fast = await asyncio.gather(
        *(owners.ask(FindBooking(booking_id=b), BookingFound) for b in fast_ids)
    )
    assert time.monotonic() - started < SLOW_SECONDS
    assert not slow.done()
    assert [r.booking_id for r in fast] == fast_ids
    assert (await slow).booking_id == SLOW


async def test_a_reply_after_the_timeout_is_dropped_and_the_next_request_works(
    responder: None, messaging: Messaging
) -> None:
    impatient = Owners(messaging, timeout=SLOW_SECONDS / 4)
    with pytest.raises(HTTPException) as raised:
        await impatient.ask(FindBooking(booking_id=SLOW), BookingFound)
    assert raised.value.status_code == 503
    assert "did not answer" in str(raised.value.detail)
    await asyncio.sleep(SLOW_SECONDS)  # the late reply arrives and is dropped
    known = uuid.uuid4()
    assert (await impatient.ask(FindBooking(booking_id=known), BookingFound)).booking_id == known
    assert impatient.rpc.in_flight == 0


async def test_a_request_no_queue_takes_fails_at_once(settings: Settings) -> None:
    messaging = Messaging(derived(settings, "gwrqnone"), "gateway")
    await messaging.declare()
    await messaging.broker.start()
    try:
        # A timeout far longer than the broker's answer, even on a loaded machine (it took
        # 1.7 s once, beside a fault suite): returned by the broker, not timed out.
        owners = Owners(messaging, timeout=30.0)
        started = time.monotonic()
        with pytest.raises(HTTPException) as raised:
            await owners.ask(FindBooking(booking_id=uuid.uuid4()), BookingFound)
        assert raised.value.status_code == 503
        assert "cannot be reached" in str(raised.value.detail)
        assert time.monotonic() - started < 10.0
    finally:
        await messaging.broker.stop()
        await messaging.close()

"""Request/reply between the gateway's client and a service's responder, on the real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
import pytest_asyncio
from fastapi import HTTPException

from contracts.rpc import BookingFound, FindBooking, RpcError
from services.gateway.owners import Owners
from services.kit.database import Tx
from services.kit.messaging import REASON_HEADER, Messaging
from services.kit.runtime import Answers, ServiceRuntime
from services.kit.settings import Settings
from tests.conftest import derived
from tests.integration.toy.service import MIGRATIONS
from tests.support.listening import publish_raw
from tests.support.waiting import eventually

KNOWN = uuid.uuid4()


@pytest.fixture(scope="module")
def isolated(settings: Settings) -> Settings:
    # Alone in its namespace: no other service answers these requests here.
    return derived(settings, "rr")


async def find_booking(tx: Tx, request: FindBooking, needs: None) -> BookingFound:
    if request.booking_id != KNOWN:
        return BookingFound(error=RpcError(code="not_found", detail="no such booking"))
    return BookingFound(booking_id=KNOWN, mentee_id=KNOWN, status="scheduled")


@pytest_asyncio.fixture(loop_scope="session")
async def responder(isolated: Settings) -> AsyncIterator[ServiceRuntime[None]]:
    runtime = ServiceRuntime(f"toyrpc{uuid.uuid4().hex[:6]}", isolated, MIGRATIONS, None)
    runtime.register(answers=[Answers(FindBooking, find_booking)])
    app = runtime.app()
    await app.start()
    try:
        yield runtime
    finally:
        await app.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def owners(isolated: Settings) -> AsyncIterator[Owners]:
    messaging = Messaging(isolated, "gateway")
    await messaging.declare()
    await messaging.broker.start()
    try:
        yield Owners(messaging, timeout=3.0)
    finally:
        await messaging.broker.stop()
        await messaging.close()


async def test_a_reply_comes_back_to_the_asker(
    responder: ServiceRuntime[None], owners: Owners
) -> None:
    reply = await owners.ask(FindBooking(booking_id=KNOWN), BookingFound)
    assert reply.booking_id == KNOWN
    assert reply.status == "scheduled"


async def test_an_error_reply_becomes_the_matching_http_error(
    responder: ServiceRuntime[None], owners: Owners
) -> None:
    with pytest.raises(HTTPException) as raised:
        await owners.ask(FindBooking(booking_id=uuid.uuid4()), BookingFound)
    assert raised.value.status_code == 404
    assert raised.value.detail == "no such booking"


async def test_concurrent_requests_each_get_their_own_reply(
    responder: ServiceRuntime[None], owners: Owners
) -> None:
    replies = await asyncio.gather(
        *(owners.ask_raw(FindBooking(booking_id=KNOWN), BookingFound) for _ in range(20)),
        owners.ask_raw(FindBooking(booking_id=uuid.uuid4()), BookingFound),
    )
    assert [r.error is None for r in replies] == [True] * 20 + [False]


async def test_a_request_nobody_answers_in_time_is_a_503(settings: Settings) -> None:
    messaging = Messaging(derived(settings, "nobody"), "gateway")
    await messaging.declare()
    await messaging.broker.start()
    try:
        silent = Owners(messaging, timeout=0.5)
        with pytest.raises(HTTPException) as raised:
            # No service runs in this namespace: the request is unroutable, or
            # (had a queue been left behind) would time out: 503 either way.
            await silent.ask(FindBooking(booking_id=KNOWN), BookingFound)
        assert raised.value.status_code == 503
    finally:
        await messaging.broker.stop()
        await messaging.close()


async def test_a_request_that_is_not_json_goes_to_its_own_queues_dead_letters(
    isolated: Settings, responder: ServiceRuntime[None], owners: Owners
) -> None:
    queue = isolated.naming.queue(responder.name, FindBooking.routing_key)
    await publish_raw(isolated, FindBooking.routing_key, b"{not json", "poison")

    async def dead_letters() -> list[aio_pika.abc.AbstractIncomingMessage]:
        connection = await aio_pika.connect(isolated.rabbitmq_url)
        async with connection:
            dlq = await (await connection.channel()).get_queue(f"{queue}.dlq")
            message = await dlq.get(fail=False)
            if message is None:
                return []
            await message.ack()
            return [message]

    dead = await eventually(dead_letters, bool)
    assert [m.body for m in dead] == [b"{not json"]
    assert "not JSON" in str(dead[0].headers[REASON_HEADER])
    reply = await owners.ask(FindBooking(booking_id=KNOWN), BookingFound)
    assert reply.booking_id == KNOWN

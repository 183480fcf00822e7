"""Stripe webhooks at the gateway, signed with Stripe's scheme, on the real broker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aio_pika
import httpx
import pytest
import pytest_asyncio

from contracts import SubscriptionActivated, SubscriptionEnded
from services.gateway.app import create_app
from services.gateway.stripe_events import event_id_for
from services.kit.messaging import REASON_HEADER
from services.kit.settings import Settings
from tests.conftest import derived
from tests.support.listening import Listener, listening
from tests.support.stripe_payloads import event, signed, subscription

SECRET = "whsec_test_secret_for_the_webhook_suite"


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return derived(settings, "stripe").model_copy(update={"stripe_webhook_secret": SECRET})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway") as client,
    ):
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def bus(settings: Settings) -> AsyncIterator[Listener]:
    async with listening(settings, ["subscription.*"]) as listener:
        yield listener


async def post(gateway: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await gateway.post("/webhooks/stripe", content=body, headers=headers)


async def test_a_created_subscription_is_published_once_per_stripe_event(
    gateway: httpx.AsyncClient, bus: Listener
) -> None:
    stripe_event = event("customer.subscription.created", subscription("sub_created"))
    body, signature = signed(stripe_event, SECRET)
    first = await post(gateway, body, signature)
    again = await post(gateway, body, signature)  # Stripe retries deliver the same event
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "published"
    published = await bus.wait_for(SubscriptionActivated, 2)
    assert {m.event_id for m in published} == {event_id_for(stripe_event["id"])}
    assert published[0].stripe_subscription_id == "sub_created"


@pytest.mark.parametrize(
    "tamper",
    ["wrong-secret", "missing-header", "stale-timestamp", "altered-body"],
)
async def test_a_bad_signature_is_400_and_nothing_is_published(
    gateway: httpx.AsyncClient, bus: Listener, tamper: str
) -> None:
    stripe_event = event("customer.subscription.deleted", subscription("sub_bad"))
    if tamper == "wrong-secret":
        body, signature = signed(stripe_event, "whsec_someone_else")
    elif tamper == "stale-timestamp":
        body, signature = signed(stripe_event, SECRET, at=int(time.time()) - 301)
    else:
        body, signature = signed(stripe_event, SECRET)
    if tamper == "altered-body":
        body = body.replace(b"sub_bad", b"sub_evil")
    response = await post(gateway, body, None if tamper == "missing-header" else signature)
    assert response.status_code == 400, response.text
    assert await bus.wait_for(SubscriptionEnded, within=0.7) == []


async def test_an_unknown_event_type_is_acknowledged_and_ignored(
    gateway: httpx.AsyncClient, bus: Listener
) -> None:
    body, signature = signed(
        event("customer.created", {"id": "cus_1", "object": "customer"}), SECRET
    )
    response = await post(gateway, body, signature)
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert bus.messages == []


async def test_bad_metadata_is_acknowledged_and_kept_for_an_operator(
    gateway: httpx.AsyncClient, settings: Settings, bus: Listener
) -> None:
    stripe_event = event("customer.subscription.created", subscription("sub_nometa", metadata={}))
    body, signature = signed(stripe_event, SECRET)
    response = await post(gateway, body, signature)
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert bus.messages == []
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.get_queue(
            settings.naming.dead_letter_queue("gateway", "stripe.webhook")
        )
        message = await dlq.get(fail=False)
        assert message is not None
        await message.ack()
    assert message.message_id == stripe_event["id"]
    assert "metadata" in str(message.headers[REASON_HEADER])

"""Stripe webhooks at the gateway, signed with Stripe's scheme, on the real broker."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest
import pytest_asyncio
import stripe

from contracts import SubscriptionActivated, SubscriptionEnded
from services.gateway.app import create_app
from services.gateway.stripe_events import event_id_for, stripe_id
from services.kit.messaging import REASON_HEADER
from services.kit.settings import Settings
from tests.conftest import derived
from tests.support.listening import Listener, listening
from tests.support.stripe_payloads import (
    METADATA,
    PERIOD_END,
    PERIOD_START,
    event,
    paid_invoice,
    signed,
    subscription,
)

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
    await bus.caught_up()  # what the gateway publishes, it publishes before it answers
    assert bus.of(SubscriptionEnded) == []


async def test_an_unknown_event_type_is_acknowledged_and_ignored(
    gateway: httpx.AsyncClient, bus: Listener
) -> None:
    body, signature = signed(
        event("customer.created", {"id": "cus_1", "object": "customer"}), SECRET
    )
    response = await post(gateway, body, signature)
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    await bus.caught_up()
    assert bus.messages == []


async def test_bad_metadata_is_acknowledged_and_kept_for_an_operator(
    gateway: httpx.AsyncClient, settings: Settings, bus: Listener
) -> None:
    stripe_event = event("customer.subscription.created", subscription("sub_nometa", metadata={}))
    body, signature = signed(stripe_event, SECRET)
    response = await post(gateway, body, signature)
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    await bus.caught_up()
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


# --- hostile input: a clear 400, or 200 and the DLQ with the reason; never a 500 ---------


async def drain_the_dlq(settings: Settings) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Every message in the webhook DLQ, taken out of it."""
    kept = []
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.get_queue(
            settings.naming.dead_letter_queue("gateway", "stripe.webhook")
        )
        while (message := await dlq.get(fail=False)) is not None:
            await message.ack()
            kept.append(message)
    return kept


async def kept_for_an_operator(settings: Settings) -> dict[str, str]:
    """Every message in the webhook DLQ (drained): message id → reason."""
    return {str(m.message_id): str(m.headers[REASON_HEADER]) for m in await drain_the_dlq(settings)}


def kept_as(body: bytes) -> str:
    """The message id a rejected body is kept under: its Stripe id, else its digest."""
    try:
        return stripe_id(json.loads(body)["id"], "id")
    except Exception:
        return f"sha256-{hashlib.sha256(body).hexdigest()}"


def sign_raw(body: bytes, secret: str = SECRET) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=int(time.time())
    )


@pytest.mark.parametrize(
    "signature",
    [b"t=1,v1=\xe9\xff", b"t=\xc3\xa9,v1=abc", b"\x7f", b"t=abc,v1=", b",,,"],
    ids=["latin-1-bytes", "utf-8-bytes", "control-character", "no-timestamp", "empty-parts"],
)
async def test_an_unreadable_signature_header_is_400_and_nothing_is_published(
    gateway: httpx.AsyncClient, bus: Listener, signature: bytes
) -> None:
    body, _ = signed(event("customer.subscription.created", subscription("sub_hdr")), SECRET)
    response = await gateway.post(
        "/webhooks/stripe",
        content=body,
        headers=[(b"content-type", b"application/json"), (b"stripe-signature", signature)],
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"]
    await bus.caught_up()
    assert bus.of(SubscriptionActivated) == []


async def test_a_body_that_is_not_utf8_is_400(gateway: httpx.AsyncClient) -> None:
    response = await post(gateway, b'{"id": "\xff"}', sign_raw(b'{"id": ""}'))
    assert response.status_code == 400 and "UTF-8" in response.json()["detail"]


def _with(obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**obj, **changes}


def _items_period(start: int, end: int) -> dict[str, Any]:
    return {"object": "list", "data": [{"current_period_start": start, "current_period_end": end}]}


YEAR_99999 = 3093527980800
SHAPES: dict[str, tuple[Any, str]] = {
    "array-body": ([event("customer.subscription.created", subscription("sub_a"))], "object"),
    "number-body": (1e308, "object"),
    "metadata-a-string": (
        event("customer.subscription.created", subscription("sub_m", metadata="oops")),  # type: ignore[arg-type]
        "metadata is not an object",
    ),
    "metadata-a-list": (
        event("customer.subscription.created", subscription("sub_m", metadata=["a"])),  # type: ignore[arg-type]
        "metadata is not an object",
    ),
    "object-a-string": (
        event("customer.subscription.created", "sub_string"),  # type: ignore[arg-type]
        "data.object is not an object",
    ),
    "data-a-list": (
        _with(event("customer.subscription.deleted", {}), data=[1]),
        "data is not an object",
    ),
    "missing-event-id": (
        {
            k: v
            for k, v in event("customer.subscription.deleted", subscription("s")).items()
            if k != "id"
        },
        "id is not a Stripe id",
    ),
    "event-id-too-long": (
        _with(event("customer.subscription.deleted", subscription("s")), id="evt_" + "x" * 400),
        "id is not a Stripe id",
    ),
    "missing-object-id": (
        event("customer.subscription.deleted", {"object": "subscription", "ended_at": None}),
        "data.object.id",
    ),
    "object-id-a-number": (
        event("customer.subscription.created", _with(subscription("s"), id=12)),
        "data.object.id",
    ),
    "type-a-number": (_with(event("x", {}), type=7), "type is not a string"),
    "created-missing": (
        {
            k: v
            for k, v in event("customer.subscription.deleted", subscription("s")).items()
            if k != "created"
        },
        "created",
    ),
    "period-in-year-99999": (
        event(
            "customer.subscription.created",
            _with(subscription("sub_y"), items=_items_period(PERIOD_START, YEAR_99999)),
        ),
        "between 2000 and 2100",
    ),
    "negative-period": (
        event(
            "customer.subscription.created",
            _with(subscription("sub_n"), items=_items_period(-86400 * 365, -1)),
        ),
        "between 2000 and 2100",
    ),
    "period-backwards": (
        event(
            "customer.subscription.created",
            _with(subscription("sub_b"), items=_items_period(PERIOD_END, PERIOD_START)),
        ),
        "ends before it starts",
    ),
    "period-of-ten-years": (
        event(
            "customer.subscription.created",
            _with(
                subscription("s"), items=_items_period(PERIOD_START, PERIOD_START + 3650 * 86400)
            ),
        ),
        "longer than",
    ),
    "period-a-string": (
        event(
            "customer.subscription.created",
            _with(
                subscription("sub_s"),
                items={"data": [{"current_period_start": "soon", "current_period_end": True}]},
            ),
        ),
        "expected a Unix time",
    ),
    "items-a-string": (
        event("customer.subscription.created", _with(subscription("sub_i"), items="all")),
        "items is not an object",
    ),
    "ended-at-a-string": (
        event("customer.subscription.deleted", _with(subscription("sub_e"), ended_at="now")),
        "expected a Unix time",
    ),
    "invoice-lines-a-string": (
        event("invoice.paid", _with(paid_invoice("sub_l", PERIOD_START, PERIOD_END), lines="x")),
        "lines is not an object",
    ),
    "invoice-lines-data-a-string": (
        event(
            "invoice.paid",
            _with(paid_invoice("sub_l", PERIOD_START, PERIOD_END), lines={"data": "x"}),
        ),
        "lines.data is not a list",
    ),
    "invoice-line-a-number": (
        event(
            "invoice.paid",
            _with(paid_invoice("sub_l", PERIOD_START, PERIOD_END), lines={"data": [3]}),
        ),
        "lines.data[0] is not an object",
    ),
    "invoice-period-a-string": (
        event(
            "invoice.paid",
            _with(
                paid_invoice("sub_l", PERIOD_START, PERIOD_END),
                lines={"data": [{"period": "march"}]},
            ),
        ),
        "period is not an object",
    ),
    "invoice-period-without-end": (
        event(
            "invoice.paid",
            _with(
                paid_invoice("sub_l", PERIOD_START, PERIOD_END),
                lines={"data": [{"period": {"start": PERIOD_START}}]},
            ),
        ),
        "expected a Unix time",
    ),
    "invoice-subscription-an-object": (
        event(
            "invoice.paid",
            _with(
                paid_invoice("sub_l", PERIOD_START, PERIOD_END),
                parent={"subscription_details": {"subscription": {"id": 1}}},
            ),
        ),
        "subscription",
    ),
    "previous-attributes-a-list": (
        event("customer.subscription.updated", subscription("sub_p"), previous_attributes=[1]),
        "previous_attributes is not an object",
    ),
    "name-with-a-line-break": (
        event(
            "customer.subscription.created",
            subscription("sub_bcc", metadata={**METADATA, "mentee_name": "Eve\nBcc: x@y"}),
        ),
        "metadata is incomplete or malformed: mentee.name",
    ),
    "name-too-long": (
        event(
            "customer.subscription.created",
            subscription("sub_long", metadata={**METADATA, "mentor_name": "O" * 201}),
        ),
        "mentor.name",
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_a_signed_event_of_the_wrong_shape_is_kept_with_the_reason(
    gateway: httpx.AsyncClient, settings: Settings, bus: Listener, shape: str
) -> None:
    payload, reason_part = SHAPES[shape]
    body, signature = signed(payload, SECRET)
    response = await post(gateway, body, signature)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert reason_part in response.json()["reason"]
    kept = await kept_for_an_operator(settings)
    expected_id = kept_as(body)
    assert reason_part in kept[expected_id]
    await bus.caught_up()
    assert bus.messages == []


@pytest.mark.parametrize(
    ("body", "reason_part"),
    [
        (b"not json", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"id": ' + b"1" * 5000 + b"}", "not JSON"),
        (b'{"id": NaN, "type": Infinity}', "not a Stripe id"),
        (b'{"id": "evt_1", "type": "\\ud800", "created": 1e309}', "created"),
        (b'{"id": "evt_\\ud800"}', "not a Stripe id"),
    ],
    ids=["not-json", "deeply-nested", "huge-integer", "nan", "lone-surrogate", "surrogate-id"],
)
async def test_a_signed_body_that_is_no_stripe_event_is_kept_with_the_reason(
    gateway: httpx.AsyncClient, settings: Settings, bus: Listener, body: bytes, reason_part: str
) -> None:
    response = await post(gateway, body, sign_raw(body))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    kept = await kept_for_an_operator(settings)
    assert reason_part in kept[kept_as(body)]
    await bus.caught_up()
    assert bus.messages == []


async def test_a_surrogate_in_an_ignored_type_is_answered(gateway: httpx.AsyncClient) -> None:
    body = json.dumps(
        {"id": "evt_s", "type": "\ud800", "created": int(time.time()), "data": {"object": {}}}
    ).encode()
    response = await post(gateway, body, sign_raw(body))
    assert response.status_code == 200 and response.json() == {
        "status": "ignored",
        "type": "\\ud800",
    }


def _without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


def _body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


_CREATED = event("customer.subscription.created", subscription("sub_readme"))
# The README's list ("Stripe webhooks"): each signed body here cannot be used, so is
# answered `rejected` and kept with its reason in `<namespace>.gateway.stripe.webhook.dlq`.
README_UNUSABLE: dict[str, tuple[bytes, str]] = {
    "unusable metadata": (
        _body(event("customer.subscription.created", subscription("sub_r1", metadata={}))),
        "metadata is incomplete or malformed",
    ),
    "a name of two lines": (
        _body(
            event(
                "customer.subscription.created",
                subscription("sub_r2", metadata={**METADATA, "mentor_name": "Otto\nBerg"}),
            )
        ),
        "mentor.name",
    ),
    "a name of 201 characters": (
        _body(
            event(
                "customer.subscription.created",
                subscription("sub_r3", metadata={**METADATA, "mentee_name": "M" * 201}),
            )
        ),
        "mentee.name",
    ),
    "not JSON": (b"{not json", "the body is not JSON"),
    "a JSON array of an event": (_body([_CREATED]), "the event is not an object"),
    "an empty JSON array": (b"[]", "the event is not an object"),
    "a JSON string": (b'"customer.subscription.created"', "the event is not an object"),
    "a JSON number": (b"42", "the event is not an object"),
    "JSON null": (b"null", "the event is not an object"),
    "JSON true": (b"true", "the event is not an object"),
    "an object without a type": (_body(_without(_CREATED, "type")), "type is not a string"),
    "a missing id": (_body(_without(_CREATED, "id")), "id is not a Stripe id"),
    "data.object not an object": (
        _body(_with(_CREATED, data={"object": ["sub_r4"]})),
        "data.object is not an object",
    ),
    "metadata not an object": (
        _body(event("customer.subscription.created", subscription("sub_r5", metadata=[]))),  # type: ignore[arg-type]
        "metadata is not an object",
    ),
    "created in 1999": (_body(_with(_CREATED, created=946_684_799)), "between 2000 and 2100"),
    "a period of three years": (
        _body(
            event(
                "customer.subscription.created",
                subscription("sub_r6", end=PERIOD_START + 3 * 365 * 86400),
            )
        ),
        "longer than",
    ),
    "malformed invoice lines": (
        _body(
            event(
                "invoice.paid",
                _with(paid_invoice("sub_r7", PERIOD_START, PERIOD_END), lines={"data": [3]}),
            )
        ),
        "lines.data[0] is not an object",
    ),
}


async def test_every_signed_body_the_readme_calls_unusable_is_kept_with_its_reason(
    gateway: httpx.AsyncClient, settings: Settings, bus: Listener
) -> None:
    await drain_the_dlq(settings)  # what earlier tests left
    for shape, (body, _) in README_UNUSABLE.items():
        response = await post(gateway, body, sign_raw(body))
        assert response.status_code == 200, (shape, response.text)
        assert response.json()["status"] == "rejected", (shape, response.json())
    # Answered only once the broker confirmed the DLQ took it: all are there by now.
    kept = {m.body: str(m.headers[REASON_HEADER]) for m in await drain_the_dlq(settings)}
    for shape, (body, reason_part) in README_UNUSABLE.items():
        assert body in kept, f"{shape}: not kept"
        assert reason_part in kept[body], (shape, kept[body])
    assert len(kept) == len(README_UNUSABLE)
    await bus.caught_up()
    assert bus.messages == []

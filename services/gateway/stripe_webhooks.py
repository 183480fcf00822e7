"""`POST /webhooks/stripe`: verified Stripe events become `subscription.*` events."""

from __future__ import annotations

import json
from typing import Any

import stripe
from fastapi import APIRouter, HTTPException, Request, status

from services.gateway.dependencies import OwnersDep, SettingsDep
from services.gateway.stripe_events import MetadataError, to_contract
from services.kit.logs import get_logger

router = APIRouter(tags=["stripe"])
log = get_logger(__name__)

TOLERANCE_SECONDS = 300  # Stripe's recommended default
REJECTED_ROUTING_KEY = "stripe.webhook"


@router.post(
    "/webhooks/stripe",
    summary="Stripe webhook endpoint",
    responses={
        200: {
            "description": "handled: published, ignored (unknown type) or rejected (bad metadata)",
            "content": {"application/json": {"example": {"status": "published"}}},
        },
        400: {"description": "missing or bad Stripe-Signature, or a stale timestamp"},
        503: {"description": "the broker did not take the event; Stripe will retry"},
    },
)
async def stripe_webhook(
    request: Request, owners: OwnersDep, settings: SettingsDep
) -> dict[str, Any]:
    payload = await request.body()
    signature = request.headers.get("stripe-signature")
    if not signature:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "missing Stripe-Signature header")
    try:
        stripe.Webhook.construct_event(
            payload, signature, settings.stripe_webhook_secret, tolerance=TOLERANCE_SECONDS
        )
    except (ValueError, stripe.SignatureVerificationError) as error:
        log.warning("stripe webhook refused", reason=str(error))
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"invalid signature: {error}") from error
    event = json.loads(payload)
    try:
        message = to_contract(event)
    except MetadataError as error:
        # 200 so that Stripe stops retrying; the event waits in a DLQ for an operator.
        log.error(
            "stripe event rejected",
            stripe_event_id=event.get("id"),
            type=event.get("type"),
            reason=str(error),
        )
        await owners.messaging.dead_letter_body(
            "gateway", REJECTED_ROUTING_KEY, payload, str(error), message_id=str(event.get("id"))
        )
        return {"status": "rejected", "reason": str(error)}
    if message is None:
        return {"status": "ignored", "type": event.get("type")}
    await owners.publish(message)
    log.info(
        "stripe event published", stripe_event_id=event.get("id"), routing_key=message.routing_key
    )
    return {
        "status": "published",
        "routing_key": message.routing_key,
        "event_id": str(message.event_id),
    }

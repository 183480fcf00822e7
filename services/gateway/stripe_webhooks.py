"""`POST /webhooks/stripe`: verified Stripe events become `subscription.*` events.

Whatever the body, the answer is never a 500: a missing or bad signature (or
one that cannot even be read) is a 400 and nothing is published; a signed
event that cannot be mapped (not JSON, not shaped like a Stripe event,
unusable metadata) is answered 200, so that Stripe stops retrying, and kept
with the reason in the DLQ `<namespace>.gateway.stripe.webhook.dlq`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NoReturn

import stripe
from fastapi import APIRouter, HTTPException, Request, status

from services.gateway.auth import PUBLIC
from services.gateway.dependencies import OwnersDep, SettingsDep
from services.gateway.errors import json_safe
from services.gateway.owners import Owners, OwnerUnavailable
from services.gateway.stripe_events import MetadataError, stripe_id, to_contract
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
            "description": "handled: published, ignored (unknown type) or rejected (a signed "
            "event that cannot be mapped: kept with the reason for an operator)",
            "content": {"application/json": {"example": {"status": "published"}}},
        },
        400: {"description": "missing or bad Stripe-Signature, or a stale timestamp"},
        503: {"description": "the broker did not take the event; Stripe will retry"},
    },
    # No credential: Stripe signs each body (Stripe-Signature), which `verify` checks.
    openapi_extra=PUBLIC,
)
async def stripe_webhook(
    request: Request, owners: OwnersDep, settings: SettingsDep
) -> dict[str, Any]:
    payload = await request.body()
    verify(payload, request.headers.get("stripe-signature"), settings.stripe_webhook_secret)
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError) as error:
        return await _reject(owners, payload, None, f"the body is not JSON: {error}")
    try:
        message = to_contract(event)
    except MetadataError as error:
        return await _reject(owners, payload, event, str(error))
    except Exception as error:  # a shape the checks missed: still the event's fault
        log.exception("stripe event cannot be mapped")
        return await _reject(
            owners, payload, event, f"cannot map the event: {type(error).__name__}: {error}"
        )
    if message is None:
        return {"status": "ignored", "type": json_safe(event["type"])}
    await owners.publish(message)
    log.info("stripe event published", stripe_event_id=event["id"], routing_key=message.routing_key)
    return {
        "status": "published",
        "routing_key": message.routing_key,
        "event_id": str(message.event_id),
    }


def verify(payload: bytes, signature: str | None, secret: str) -> None:
    """Return when Stripe signed `payload` within the tolerance; HTTP 400 otherwise."""
    if not signature:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "missing Stripe-Signature header")
    if not (signature.isascii() and signature.isprintable()):
        _refuse("the Stripe-Signature header is not printable ASCII")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        _refuse("the body is not UTF-8, so its signature cannot be checked")
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        _refuse(f"invalid signature: {error}")


def _refuse(reason: str) -> NoReturn:
    log.warning("stripe webhook refused", reason=reason)
    raise HTTPException(status.HTTP_400_BAD_REQUEST, reason)


async def _reject(owners: Owners, payload: bytes, event: Any, reason: str) -> dict[str, Any]:
    """Keep a signed event we cannot use in the DLQ, with the reason, and answer 200."""
    reason = json_safe(reason)
    details = event if isinstance(event, dict) else {}
    try:
        event_id = stripe_id(details.get("id"), "id")
    except MetadataError:
        event_id = f"sha256-{hashlib.sha256(payload).hexdigest()}"
    log.error(
        "stripe event rejected",
        stripe_event_id=event_id,
        type=json_safe(details.get("type")),
        reason=reason,
    )
    try:
        await owners.messaging.dead_letter_body(
            "gateway", REJECTED_ROUTING_KEY, payload, reason, message_id=event_id
        )
    except Exception as error:
        log.warning("stripe event not kept", stripe_event_id=event_id, error=repr(error))
        raise OwnerUnavailable("the message broker did not keep the event") from error
    # 200 so that Stripe stops retrying; the event waits in the DLQ for an operator.
    return {"status": "rejected", "reason": reason}

"""Real-shaped Stripe webhook events (API 2026-10-28), signed like Stripe signs them."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import stripe

MENTEE_ID = "6d1b6c2e-46b1-4f0e-9b8e-0a4c3f4f9a11"
MENTOR_ID = "0e3f2f0d-2c7e-4b55-8f1e-6f4b1d2c3a22"
METADATA = {
    "mentee_id": MENTEE_ID,
    "mentee_name": "Maria Lima",
    "mentee_email": "maria@example.com",
    "mentor_id": MENTOR_ID,
    "mentor_name": "Otto Berg",
    "mentor_email": "otto@example.com",
    "slot_weekday": "0",
    "slot_start_time": "18:00",
    "slot_duration_minutes": "60",
    "slot_timezone": "Europe/Lisbon",
}
PERIOD_START = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
PERIOD_END = int(datetime(2026, 4, 2, tzinfo=UTC).timestamp())


def subscription(
    sub_id: str,
    *,
    metadata: dict[str, str] | None = None,
    period_on_items: bool = True,
    start: int = PERIOD_START,
    end: int = PERIOD_END,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"si_{uuid.uuid4().hex[:14]}",
        "object": "subscription_item",
        "price": {
            "id": "price_weekly_mentorship",
            "object": "price",
            "recurring": {"interval": "month"},
        },
        "quantity": 1,
    }
    sub: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "customer": "cus_Q1w2e3r4t5",
        "status": "active",
        "metadata": METADATA if metadata is None else metadata,
        "items": {"object": "list", "data": [item], "has_more": False},
        "cancel_at_period_end": False,
        "canceled_at": None,
        "ended_at": None,
    }
    period = {"current_period_start": start, "current_period_end": end}
    (item if period_on_items else sub).update(period)
    return sub


def event(kind: str, obj: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": kind,
        "data": {"object": obj, **data},
    }


def paid_invoice(
    sub_id: str, start: int, end: int, reason: str = "subscription_cycle"
) -> dict[str, Any]:
    return {
        "id": f"in_{uuid.uuid4().hex[:14]}",
        "object": "invoice",
        "billing_reason": reason,
        "status": "paid",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": sub_id, "metadata": {}},
        },
        "lines": {
            "object": "list",
            "data": [{"id": "il_1", "period": {"start": start, "end": end}}],
        },
    }


def signed(payload: dict[str, Any], secret: str, *, at: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(
        body, secret, timestamp=at or int(time.time())
    )
    return body.encode(), header

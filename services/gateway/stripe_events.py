"""Stripe webhook events → our `subscription.*` events, pure (no I/O, no clock).

Mentorship details travel in the Stripe subscription's metadata:

    mentee_id, mentee_name, mentee_email,
    mentor_id, mentor_name, mentor_email,
    slot_weekday (0 = Monday), slot_start_time ("HH:MM"),
    slot_duration_minutes, slot_timezone (IANA)

- `customer.subscription.created` → `subscription.activated` (cycle: the billing period)
- `customer.subscription.updated` with a new period, or `invoice.paid` for a
  renewal → `subscription.renewed`
- `customer.subscription.deleted` → `subscription.ended`

Our `subscription_id` and `event_id` are derived from Stripe's ids (uuid5), so
a redelivered webhook produces the same event, which consumers drop. Nothing
here, or anywhere, cancels or pauses a Stripe subscription.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from contracts import (
    Event,
    Person,
    Slot,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
)
from services.kit.errors import describe_validation_error

_IDS = uuid.UUID("2f4c6a1e-9d3b-4e8f-a7c5-1b0d9e8f7a63")
PERIOD_KEYS = ("current_period_start", "current_period_end")


class MetadataError(ValueError):
    """The Stripe object lacks what we need (metadata, period): an operator must look."""


def subscription_id_for(stripe_subscription_id: str) -> UUID:
    return uuid.uuid5(_IDS, f"subscription|{stripe_subscription_id}")


def event_id_for(stripe_event_id: str) -> UUID:
    return uuid.uuid5(_IDS, f"event|{stripe_event_id}")


def _time(seconds: Any) -> datetime:
    if not isinstance(seconds, int):
        raise MetadataError(f"expected a Unix time, got {seconds!r}")
    return datetime.fromtimestamp(seconds, UTC)


def current_period(subscription: dict[str, Any]) -> tuple[datetime, datetime]:
    """The billing period: on the items since API 2025-03-31, on the subscription before."""
    items = (subscription.get("items") or {}).get("data") or []
    for item in items:
        if all(k in item for k in PERIOD_KEYS):
            return _time(item["current_period_start"]), _time(item["current_period_end"])
    if all(k in subscription for k in PERIOD_KEYS):
        return _time(subscription["current_period_start"]), _time(
            subscription["current_period_end"]
        )
    raise MetadataError("the subscription has no current billing period")


def _period_changed(previous: dict[str, Any]) -> bool:
    if any(k in previous for k in PERIOD_KEYS):
        return True
    items = (previous.get("items") or {}).get("data") or []
    return any(any(k in item for k in PERIOD_KEYS) for item in items)


def _activation(event_id: UUID, at: datetime, sub: dict[str, Any]) -> SubscriptionActivated:
    meta = sub.get("metadata") or {}
    starts, ends = current_period(sub)
    try:
        return SubscriptionActivated(
            event_id=event_id,
            occurred_at=at,
            subscription_id=subscription_id_for(sub["id"]),
            stripe_subscription_id=sub["id"],
            mentee=Person(
                id=meta.get("mentee_id"),
                name=meta.get("mentee_name"),
                email=meta.get("mentee_email"),
            ),
            mentor=Person(
                id=meta.get("mentor_id"),
                name=meta.get("mentor_name"),
                email=meta.get("mentor_email"),
            ),
            slot=Slot(
                weekday=meta.get("slot_weekday"),
                start_time=meta.get("slot_start_time"),
                duration_minutes=meta.get("slot_duration_minutes"),
                timezone=meta.get("slot_timezone"),
            ),
            cycle_starts_at=starts,
            cycle_ends_at=ends,
        )
    except ValidationError as error:
        raise MetadataError(
            "subscription metadata is incomplete or malformed: " + describe_validation_error(error)
        ) from error


def to_contract(event: dict[str, Any]) -> Event | None:
    """Our event for a Stripe event; None for types we ignore; MetadataError when unusable."""
    kind = event.get("type")
    obj = (event.get("data") or {}).get("object") or {}
    event_id = event_id_for(str(event.get("id")))
    at = _time(event.get("created"))
    if kind == "customer.subscription.created":
        return _activation(event_id, at, obj)
    if kind == "customer.subscription.updated":
        previous = (event.get("data") or {}).get("previous_attributes") or {}
        if not _period_changed(previous):
            return None
        starts, ends = current_period(obj)
        return SubscriptionRenewed(
            event_id=event_id,
            occurred_at=at,
            subscription_id=subscription_id_for(obj["id"]),
            cycle_starts_at=starts,
            cycle_ends_at=ends,
        )
    if kind == "customer.subscription.deleted":
        ended = obj.get("ended_at") or obj.get("canceled_at") or event.get("created")
        return SubscriptionEnded(
            event_id=event_id,
            occurred_at=at,
            subscription_id=subscription_id_for(obj["id"]),
            ended_at=_time(ended),
        )
    if kind == "invoice.paid":
        return _renewal_from_invoice(event_id, at, obj)
    return None


def _renewal_from_invoice(event_id: UUID, at: datetime, invoice: dict[str, Any]) -> Event | None:
    if invoice.get("billing_reason") == "subscription_create":
        return None  # the first invoice: customer.subscription.created activates
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    stripe_subscription = details.get("subscription") or invoice.get("subscription")
    if not stripe_subscription:
        return None  # not a subscription invoice
    lines = (invoice.get("lines") or {}).get("data") or []
    periods = [line["period"] for line in lines if "period" in line]
    if not periods:
        raise MetadataError("the invoice has no line with a period")
    return SubscriptionRenewed(
        event_id=event_id,
        occurred_at=at,
        subscription_id=subscription_id_for(str(stripe_subscription)),
        cycle_starts_at=_time(min(p["start"] for p in periods)),
        cycle_ends_at=_time(max(p["end"] for p in periods)),
    )

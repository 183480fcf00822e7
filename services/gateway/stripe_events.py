"""Stripe webhook events → our `subscription.*` events, pure (no I/O, no clock).

Mentorship details travel in the Stripe subscription's metadata:

    mentee_id, mentee_name, mentee_email,
    mentor_id, mentor_name, mentor_email,
    slot_weekday (0 = Monday), slot_start_time ("HH:MM"),
    slot_duration_minutes, slot_timezone (IANA)

and, optionally, the mentor's own time zone, mentor_timezone (IANA; their pages and
emails show times in it), and the subscription's own absence policy (each falls back to the
service setting of the same name): policy_warn_after_absences,
policy_reprobate_after_absences, policy_reprobation_review_hours,
policy_reprobation_ends, policy_warn_after_absences_in_days and
policy_reprobate_after_absences_in_days ("N:D": N absences within D days),
policy_warn_below_attendance_rate (a percentage) and policy_attendance_rate_sessions

- `customer.subscription.created` → `subscription.activated` (cycle: the billing period)
- `customer.subscription.updated` with a new period, or `invoice.paid` for a
  renewal → `subscription.renewed`
- `customer.subscription.deleted` → `subscription.ended`

Our `subscription_id` and `event_id` are derived from Stripe's ids (uuid5), so
a redelivered webhook produces the same event, which consumers drop. Nothing
here, or anywhere, cancels or pauses a Stripe subscription.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from contracts import (
    Event,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
)
from services.kit.errors import describe_validation_error

_IDS = uuid.UUID("2f4c6a1e-9d3b-4e8f-a7c5-1b0d9e8f7a63")
PERIOD_KEYS = ("current_period_start", "current_period_end")

# Times Stripe can send: nothing before 2000 or from 2100 on (a Unix time of
# year 99999, or a negative one, is not a billing period), and no period
# longer than two years (a yearly plan, or a trial of at most 730 days).
EARLIEST = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
LATEST = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())
LONGEST_PERIOD = timedelta(days=731)
# Stripe ids: `evt_…`, `sub_…`, letters, digits and underscores (255 at most).
_STRIPE_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,255}")


class MetadataError(ValueError):
    """The Stripe object lacks what we need (metadata, period): an operator must look."""


class MalformedEvent(MetadataError):
    """A signed event that does not have the shape of a Stripe event: it cannot be mapped."""


def subscription_id_for(stripe_subscription_id: str) -> UUID:
    return uuid.uuid5(_IDS, f"subscription|{stripe_subscription_id}")


def event_id_for(stripe_event_id: str) -> UUID:
    return uuid.uuid5(_IDS, f"event|{stripe_event_id}")


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedEvent(f"{where} is not an object: {_show(value)}")
    return value


def _optional_object(value: Any, where: str) -> dict[str, Any]:
    return {} if value is None else _object(value, where)


def _optional_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedEvent(f"{where} is not a list: {_show(value)}")
    return value


def stripe_id(value: Any, where: str) -> str:
    """`value` when it is a Stripe id (`evt_…`, `sub_…`); MalformedEvent otherwise."""
    if not isinstance(value, str) or not _STRIPE_ID.fullmatch(value):
        raise MalformedEvent(f"{where} is not a Stripe id: {_show(value)}")
    return value


def _time(seconds: Any, where: str = "time") -> datetime:
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise MetadataError(f"{where}: expected a Unix time, got {_show(seconds)}")
    if not EARLIEST <= seconds < LATEST:
        raise MetadataError(f"{where}: {seconds} is not a Unix time between 2000 and 2100")
    return datetime.fromtimestamp(seconds, UTC)


def _period(start: Any, end: Any, where: str) -> tuple[datetime, datetime]:
    starts, ends = _time(start, f"{where} start"), _time(end, f"{where} end")
    if ends <= starts:
        raise MetadataError(f"{where} ends before it starts")
    if ends - starts > LONGEST_PERIOD:
        raise MetadataError(f"{where} is longer than {LONGEST_PERIOD.days} days")
    return starts, ends


def envelope(event: Any) -> dict[str, Any]:
    """The event when its envelope has a Stripe event's shape; MalformedEvent otherwise.

    Checks `id`, `type`, `created`, `data.object` and `data.previous_attributes`;
    what each event type needs of its object is checked where it is read.
    """
    checked = _object(event, "the event")
    stripe_id(checked.get("id"), "id")
    if not isinstance(checked.get("type"), str):
        raise MalformedEvent(f"type is not a string: {_show(checked.get('type'))}")
    _time(checked.get("created"), "created")
    data = _object(checked.get("data"), "data")
    _object(data.get("object"), "data.object")
    _optional_object(data.get("previous_attributes"), "data.previous_attributes")
    return checked


def _items(subscription: dict[str, Any], where: str) -> list[dict[str, Any]]:
    items = _optional_object(subscription.get("items"), f"{where}.items")
    data = _optional_list(items.get("data"), f"{where}.items.data")
    return [_object(item, f"{where}.items.data[{i}]") for i, item in enumerate(data)]


def current_period(subscription: dict[str, Any]) -> tuple[datetime, datetime]:
    """The billing period: on the items since API 2025-03-31, on the subscription before."""
    for item in _items(subscription, "data.object"):
        if all(k in item for k in PERIOD_KEYS):
            return _period(
                item["current_period_start"], item["current_period_end"], "the billing period"
            )
    if all(k in subscription for k in PERIOD_KEYS):
        return _period(
            subscription["current_period_start"],
            subscription["current_period_end"],
            "the billing period",
        )
    raise MetadataError("the subscription has no current billing period")


def _period_changed(previous: dict[str, Any]) -> bool:
    if any(k in previous for k in PERIOD_KEYS):
        return True
    items = _items(previous, "data.previous_attributes")
    return any(any(k in item for k in PERIOD_KEYS) for item in items)


def _activation(event_id: UUID, at: datetime, sub: dict[str, Any]) -> SubscriptionActivated:
    stripe_subscription_id = stripe_id(sub.get("id"), "data.object.id")
    metadata = sub.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise MetadataError(f"subscription metadata is not an object: {_show(metadata)}")
    meta = metadata or {}
    starts, ends = current_period(sub)
    try:
        return SubscriptionActivated.model_validate(
            {
                "event_id": event_id,
                "occurred_at": at,
                "subscription_id": subscription_id_for(stripe_subscription_id),
                "stripe_subscription_id": stripe_subscription_id,
                "mentee": {
                    "id": meta.get("mentee_id"),
                    "name": meta.get("mentee_name"),
                    "email": meta.get("mentee_email"),
                },
                "mentor": {
                    "id": meta.get("mentor_id"),
                    "name": meta.get("mentor_name"),
                    "email": meta.get("mentor_email"),
                    # Optional: an empty value is none.
                    "timezone": meta.get("mentor_timezone") or None,
                },
                "slot": {
                    "weekday": meta.get("slot_weekday"),
                    "start_time": meta.get("slot_start_time"),
                    "duration_minutes": meta.get("slot_duration_minutes"),
                    "timezone": meta.get("slot_timezone"),
                },
                "cycle_starts_at": starts,
                "cycle_ends_at": ends,
                "policy": _policy(meta),
            }
        )
    except ValidationError as error:
        raise MetadataError(
            "subscription metadata is incomplete or malformed: " + describe_validation_error(error)
        ) from error


POLICY_KEYS = (
    "warn_after_absences",
    "reprobate_after_absences",
    "reprobation_review_hours",
    "reprobation_ends",
    "warn_after_absences_in_days",
    "reprobate_after_absences_in_days",
    "warn_below_attendance_rate",
    "attendance_rate_sessions",
)


def _policy(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The subscription's own absence policy, from metadata `policy_<setting>` (e.g.
    `policy_reprobate_after_absences: "3"`); none when no such key is there."""
    own = {key: meta[f"policy_{key}"] for key in POLICY_KEYS if f"policy_{key}" in meta}
    return own or None


def to_contract(event: Any) -> Event | None:
    """Our event for a Stripe event; None for types we ignore; MetadataError when unusable
    (MalformedEvent, a MetadataError, when it does not even have a Stripe event's shape)."""
    checked = envelope(event)
    kind = checked["type"]
    data = checked["data"]
    obj = data["object"]
    event_id = event_id_for(checked["id"])
    at = _time(checked["created"], "created")
    if kind == "customer.subscription.created":
        return _activation(event_id, at, obj)
    if kind == "customer.subscription.updated":
        if not _period_changed(_optional_object(data.get("previous_attributes"), "")):
            return None
        starts, ends = current_period(obj)
        return SubscriptionRenewed(
            event_id=event_id,
            occurred_at=at,
            subscription_id=subscription_id_for(stripe_id(obj.get("id"), "data.object.id")),
            cycle_starts_at=starts,
            cycle_ends_at=ends,
        )
    if kind == "customer.subscription.deleted":
        ended = obj.get("ended_at") or obj.get("canceled_at") or checked["created"]
        return SubscriptionEnded(
            event_id=event_id,
            occurred_at=at,
            subscription_id=subscription_id_for(stripe_id(obj.get("id"), "data.object.id")),
            ended_at=_time(ended, "data.object.ended_at"),
        )
    if kind == "invoice.paid":
        return _renewal_from_invoice(event_id, at, obj)
    return None


def _renewal_from_invoice(event_id: UUID, at: datetime, invoice: dict[str, Any]) -> Event | None:
    if invoice.get("billing_reason") == "subscription_create":
        return None  # the first invoice: customer.subscription.created activates
    parent = _optional_object(invoice.get("parent"), "data.object.parent")
    details = _optional_object(
        parent.get("subscription_details"), "data.object.parent.subscription_details"
    )
    stripe_subscription = details.get("subscription") or invoice.get("subscription")
    if not stripe_subscription:
        return None  # not a subscription invoice
    subscription = stripe_id(stripe_subscription, "the invoice's subscription")
    lines = _optional_object(invoice.get("lines"), "data.object.lines")
    periods = []
    for i, line in enumerate(_optional_list(lines.get("data"), "data.object.lines.data")):
        where = f"data.object.lines.data[{i}]"
        line = _object(line, where)
        if "period" in line:
            period = _object(line["period"], f"{where}.period")
            periods.append(_period(period.get("start"), period.get("end"), f"{where}.period"))
    if not periods:
        raise MetadataError("the invoice has no line with a period")
    starts, ends = min(s for s, _ in periods), max(e for _, e in periods)
    if ends - starts > LONGEST_PERIOD:
        raise MetadataError(f"the invoice's periods span more than {LONGEST_PERIOD.days} days")
    return SubscriptionRenewed(
        event_id=event_id,
        occurred_at=at,
        subscription_id=subscription_id_for(subscription),
        cycle_starts_at=starts,
        cycle_ends_at=ends,
    )

"""One thin function per message: remember contacts, or queue the emails an event calls for."""

from __future__ import annotations

import json
from typing import Any

from contracts import (
    Event,
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    SubscriptionActivated,
    SubscriptionRenewed,
    message_type_for,
)
from services.kit.database import Tx
from services.notifications import domain, store
from services.notifications.domain import Contacts, Kind
from services.notifications.templates import Templates

LifecycleEvent = MenteeWarned | MenteeReprobated | MenteeReactivated

_KIND: dict[str, Kind] = {
    MenteeWarned.routing_key: "warned",
    MenteeReprobated.routing_key: "reprobated",
    MenteeReactivated.routing_key: "reactivated",
}


async def save_contacts(tx: Tx, msg: SubscriptionActivated, templates: Templates) -> str:
    """Remember who to write to; then send what was waiting for these contacts."""
    await store.lock_subscription(tx, msg.subscription_id)
    await store.save_contacts(tx, msg)
    waiting = await store.take_waiting(tx, msg.subscription_id)
    queued = 0
    for row in waiting:
        event = message_type_for(row.routing_key).model_validate(row.body)
        queued += await _queue(tx, event, templates)  # type: ignore[arg-type]
    return "contacts saved" + (f"; queued {queued} waiting emails" if waiting else "")


async def extend_cycle(tx: Tx, msg: SubscriptionRenewed, templates: Templates) -> str:
    extended = await store.extend_cycle(tx, msg.subscription_id, msg.cycle_ends_at)
    return "cycle extended" if extended else "nothing to change"


async def queue_emails(tx: Tx, msg: LifecycleEvent, templates: Templates) -> str:
    """Email mentee and mentor (for a reactivation: the mentee, mentor in Cc)."""
    queued = await _queue(tx, msg, templates)
    if queued < 0:
        return "contacts not known yet: waiting for subscription.activated"
    return f"queued {queued} emails"


async def _queue(tx: Tx, msg: LifecycleEvent, templates: Templates) -> int:
    await store.lock_subscription(tx, msg.subscription_id)
    contacts = await store.contacts_of(tx, msg.subscription_id)
    body = json.loads(msg.model_dump_json())
    if contacts is None:
        # Not dropped and not retried blindly: sent once the contacts arrive.
        await store.wait_for_contacts(tx, msg.event_id, msg.subscription_id, msg.routing_key, body)
        return -1
    kind = _KIND[msg.routing_key]
    values = _values(msg, contacts)
    rows = []
    for recipient in domain.recipients(kind, contacts):
        rendered = templates.render(kind, recipient, values)
        rows.append(
            {
                "message_id": domain.message_id(msg.event_id, recipient.email),
                "event_id": msg.event_id,
                "routing_key": msg.routing_key,
                "event_body": body,
                "recipient": recipient.email,
                "cc": recipient.cc,
                "subject": rendered.subject,
                "text_body": rendered.text,
                "html_body": rendered.html,
            }
        )
    return await store.queue_emails(tx, rows)


def _values(msg: Event, contacts: Contacts) -> dict[str, Any]:
    values: dict[str, Any] = {
        "mentee_name": contacts.mentee_name,
        "mentor_name": contacts.mentor_name,
    }
    if isinstance(msg, MenteeWarned):
        values["missed_at"] = (
            domain.local_time(msg.missed_starts_at, contacts.slot)
            if msg.missed_starts_at
            else "your last session"
        )
    elif isinstance(msg, MenteeReprobated):
        missed = [domain.local_time(t, contacts.slot) for t in msg.missed_starts_at]
        values["missed"] = missed
        values["missed_count"] = len(msg.missed_booking_ids)
        values["missed_list"] = "; ".join(missed) if missed else "see your bookings"
    elif isinstance(msg, MenteeReactivated):
        values["sessions"] = [
            domain.local_time(t, contacts.slot)
            for t in domain.booked_sessions(contacts, msg.reactivated_at)
        ]
    return values

"""One thin function per message: remember contacts, or queue the emails an event calls for."""

from __future__ import annotations

from collections.abc import Sequence

from contracts import SubscriptionActivated, SubscriptionRenewed
from services.kit.database import Tx
from services.notifications import store
from services.notifications.domain import Email, LifecycleEvent
from services.notifications.templates import Templates

WAITING = "contacts not known yet: waiting for subscription.activated"


async def save_contacts(tx: Tx, msg: SubscriptionActivated, templates: Templates) -> str:
    """Remember who to write to; then queue what was waiting for these contacts."""
    await store.lock_subscription(tx, msg.subscription_id)
    contacts = await store.save_contacts(tx, msg)
    waiting = await store.take_waiting(tx, msg.subscription_id)
    queued = 0
    for event in waiting:
        queued += await store.queue_emails(tx, templates.compose(event, contacts))
    return "contacts saved" + (f"; queued {queued} waiting emails" if waiting else "")


async def save_all_contacts(
    tx: Tx, msgs: Sequence[SubscriptionActivated], templates: Templates
) -> list[str]:
    """Remember who to write to; then queue what was waiting for these contacts."""
    # `save_contacts` for a batch: the first activation of a subscription saves its
    # contacts and takes what waited for them; a repeated one finds nothing waiting.
    ids = [m.subscription_id for m in msgs]
    await store.lock_subscriptions(tx, ids)
    await store.save_contacts_many(tx, msgs)
    known = await store.contacts_of_many(tx, ids)
    waiting = await store.take_waiting_many(tx, ids)
    composed = [[templates.compose(e, known[i]) for e in waiting.pop(i, [])] for i in ids]
    queued = await store.insert_emails(tx, [e for each in composed for es in each for e in es])
    return [_contacts_saved(each, queued) for each in composed]


def _contacts_saved(waited: list[list[Email]], queued: set[str]) -> str:
    if not waited:
        return "contacts saved"
    count = sum(len({e.message_id for e in emails} & queued) for emails in waited)
    return f"contacts saved; queued {count} waiting emails"


async def extend_cycle(tx: Tx, msg: SubscriptionRenewed, templates: Templates) -> str:
    """Keep the cycle's end, for the sessions a reactivation email lists."""
    extended = await store.extend_cycle(tx, msg.subscription_id, msg.cycle_ends_at)
    return "cycle extended" if extended else "nothing to change"


async def queue_emails(tx: Tx, msg: LifecycleEvent, templates: Templates) -> str:
    """Email mentee and mentor (for a reactivation: the mentee, mentor in Cc)."""
    await store.lock_subscription(tx, msg.subscription_id)
    contacts = await store.contacts_of(tx, msg.subscription_id)
    if contacts is None:
        # Not dropped and not retried blindly: queued once the contacts arrive.
        await store.wait_for_contacts(tx, msg)
        return WAITING
    queued = await store.queue_emails(tx, templates.compose(msg, contacts))
    return f"queued {queued} emails"


async def queue_all_emails(
    tx: Tx, msgs: Sequence[LifecycleEvent], templates: Templates
) -> list[str]:
    """Email mentee and mentor (for a reactivation: the mentee, mentor in Cc; for a
    mentee's cancellation: the mentor, mentee in Cc)."""
    # `queue_emails` for a batch, as one by one would: the subscriptions locked and their
    # contacts read at once, every email queued and every waiting event kept set-based.
    await store.lock_subscriptions(tx, (m.subscription_id for m in msgs))
    known = await store.contacts_of_many(tx, (m.subscription_id for m in msgs))
    await store.wait_for_contacts_many(tx, [m for m in msgs if m.subscription_id not in known])
    composed: list[list[Email] | None] = [
        templates.compose(m, known[m.subscription_id]) if m.subscription_id in known else None
        for m in msgs
    ]
    queued = await store.insert_emails(tx, [e for each in composed if each for e in each])
    return [
        WAITING if each is None else f"queued {len({e.message_id for e in each} & queued)} emails"
        for each in composed
    ]

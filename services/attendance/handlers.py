"""One thin function per message or request attendance handles: load the record
(locked), one call into the domain, save, outbox, outcome."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from contracts import (
    BookingsCancelled,
    BookingsScheduled,
    BookingUnattended,
    SessionJoined,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
)
from contracts.rpc import (
    GetSubscriber,
    ListSubscribers,
    MarkAttendance,
    ReactivateMentee,
    SubscriberChanged,
    SubscriberDetail,
    SubscriberReply,
    SubscribersReply,
)
from services.attendance import replies, store
from services.attendance.domain import Change, Policy, Record, Refusal, only_their_mentor
from services.kit import inbox, outbox
from services.kit.database import Tx
from services.kit.errors import SubscriptionNotKnownYet


async def _known(tx: Tx, subscription_id: UUID) -> Record:
    """The subscription's record, locked; retried until its activation has been handled
    (it travels on another queue)."""
    record = await store.load_record(tx, subscription_id)
    if record is None:
        raise SubscriptionNotKnownYet(str(subscription_id))
    return record


async def _carry_out(tx: Tx, before: Record, change: Change) -> str:
    await store.save_record(tx, before, change.record)
    await outbox.add(tx, change.events)
    return change.outcome


# --- the schedule and subscriptions --------------------------------------------------


async def add_subscription(tx: Tx, msg: SubscriptionActivated, policy: Policy) -> str:
    created = await store.add_subscription(tx, msg)
    return "subscription stored" if created else "already known"


async def renew_subscription(tx: Tx, msg: SubscriptionRenewed, policy: Policy) -> str:
    record = await _known(tx, msg.subscription_id)
    return await _carry_out(tx, record, record.renew(msg))


async def end_subscription(tx: Tx, msg: SubscriptionEnded, policy: Policy) -> str:
    record = await _known(tx, msg.subscription_id)
    return await _carry_out(tx, record, record.end(msg))


# The schedule copy decides nothing: it may arrive before the activation, and is kept
# set-based. A cancellation waits for the lock, so a decision never sees half of it.
async def add_bookings(tx: Tx, msg: BookingsScheduled, policy: Policy) -> str:
    added = await store.add_bookings(tx, msg.subscription_id, msg.mentee_id, msg.bookings)
    return f"{added} bookings added to the schedule"


async def cancel_bookings(tx: Tx, msg: BookingsCancelled, policy: Policy) -> str:
    await store.lock_subscription(tx, msg.subscription_id)
    cancelled = await store.cancel_bookings(tx, msg.booking_ids)
    return f"{cancelled} bookings cancelled ({msg.reason})"


# --- marks and the absence policy ----------------------------------------------------


async def record_join(tx: Tx, msg: SessionJoined, policy: Policy) -> str:
    """A join inside the booking's window marks the mentee present."""
    subscription_id = await store.subscription_of_booking(tx, msg.booking_id)
    if subscription_id is None:
        return "not marked: unknown booking"
    record = await _known(tx, subscription_id)  # the booking is read again under the lock
    return await _carry_out(tx, record, record.record_join(msg, policy))


async def record_absence(tx: Tx, msg: BookingUnattended, policy: Policy) -> str:
    """The sweep found no attendance: unless attendance holds a mark, record an absence."""
    record = await _known(tx, msg.subscription_id)
    return await _carry_out(tx, record, record.record_absence(msg, policy))


# --- the mentor's reads and commands -------------------------------------------------


async def list_subscribers(tx: Tx, request: ListSubscribers, policy: Policy) -> SubscribersReply:
    subscribers = await store.subscribers_of(tx, request.mentor_id, request.now)
    return SubscribersReply(subscribers=[replies.summary(s, policy) for s in subscribers])


async def get_subscriber(tx: Tx, request: GetSubscriber, policy: Policy) -> SubscriberReply:
    detail = await _detail(tx, request.subscription_id, request.mentor_id, request.now, policy)
    if isinstance(detail, Refusal):
        return SubscriberReply(error=replies.error(detail))
    return SubscriberReply(subscriber=detail)


async def mark_attendance(tx: Tx, request: MarkAttendance, policy: Policy) -> SubscriberChanged:
    """A mentor's mark: overrides the system's, recounts the streak."""
    subscription_id = await store.subscription_of_booking(tx, request.booking_id)
    if subscription_id is None:
        return _refused(Refusal("not_found", "no such booking"))
    record = await store.load_record(tx, subscription_id)
    if record is None:
        return _refused(Refusal("not_found", "no such subscription"))
    change = record.mark(request, policy)
    if isinstance(change, Refusal):
        return _refused(change)
    # The request id makes a retried request a no-op (it is the mark's event id too).
    if await inbox.claim(tx, "attendance:rpc.mark_attendance", request.request_id):
        await _carry_out(tx, record, change)
    return await _changed(tx, subscription_id, request.mentor_id, request.marked_at, policy)


async def reactivate(tx: Tx, request: ReactivateMentee, policy: Policy) -> SubscriberChanged:
    """Lift a reprobation: the streak starts over and booking regenerates the cycle."""
    record = await store.load_record(tx, request.subscription_id)
    if record is None:
        return _refused(Refusal("not_found", "no such subscription"))
    change = record.reactivate(request)
    if isinstance(change, Refusal):
        return _refused(change)
    if await inbox.claim(tx, "attendance:rpc.reactivate_mentee", request.request_id):
        await _carry_out(tx, record, change)
    return await _changed(
        tx, request.subscription_id, request.mentor_id, request.requested_at, policy
    )


async def _detail(
    tx: Tx, subscription_id: UUID, mentor_id: UUID, now: datetime, policy: Policy
) -> SubscriberDetail | Refusal:
    subscriber = await store.subscriber(tx, subscription_id, now)
    if subscriber is None:
        return Refusal("not_found", "no such subscription")
    refusal = only_their_mentor(subscriber.mentor_id, mentor_id)
    if refusal is not None:
        return refusal
    return replies.detail(subscriber, await store.sessions_of(tx, subscription_id), policy)


async def _changed(
    tx: Tx, subscription_id: UUID, mentor_id: UUID, now: datetime, policy: Policy
) -> SubscriberChanged:
    """The reply to a mentor's command: the subscriber as it is after it."""
    detail = await _detail(tx, subscription_id, mentor_id, now, policy)
    if isinstance(detail, Refusal):
        return _refused(detail)
    return SubscriberChanged(subscriber=detail)


def _refused(refusal: Refusal) -> SubscriberChanged:
    return SubscriberChanged(error=replies.error(refusal))

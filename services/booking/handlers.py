"""One thin function per message booking consumes: load, decide (the domain), store,
outbox, outcome."""

from __future__ import annotations

from uuid import UUID

from contracts import (
    AttendanceMarked,
    MenteeReactivated,
    MenteeReprobated,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
    SweepTick,
)
from contracts.rpc import (
    BookingFound,
    FindBooking,
    ListMenteeBookings,
    MenteeBookingsReply,
    RpcError,
)
from services.booking import domain, store
from services.booking.domain import Change, Policy, Subscription
from services.kit import metrics, outbox
from services.kit.database import Tx
from services.kit.errors import SubscriptionNotKnownYet

SWEEP_BATCH = 5000


async def activate_subscription(tx: Tx, msg: SubscriptionActivated, policy: Policy) -> str:
    """Store the subscription and book every slot occurrence of its cycle."""
    change = Subscription.activate(msg)
    if not await store.add_subscription(tx, change.subscription):
        return "already active, nothing to do"
    return await _book_and_cancel(tx, change)


async def renew_subscription(tx: Tx, msg: SubscriptionRenewed, policy: Policy) -> str:
    """Open the new cycle; book it unless the mentee is reprobated."""
    subscription = await _locked(tx, msg.subscription_id)
    return await _carry_out(tx, subscription.renew(msg))


async def end_subscription(tx: Tx, msg: SubscriptionEnded, policy: Policy) -> str:
    """Cancel every future booking; later renewals are ignored."""
    subscription = await _locked(tx, msg.subscription_id)
    return await _carry_out(tx, subscription.end(msg))


async def cancel_for_reprobation(tx: Tx, msg: MenteeReprobated, policy: Policy) -> str:
    """Cancel the rest of the cycle. The paid subscription itself is never touched."""
    subscription = await _locked(tx, msg.subscription_id)
    return await _carry_out(tx, subscription.reprobate(msg))


async def regenerate_bookings(tx: Tx, msg: MenteeReactivated, policy: Policy) -> str:
    """Book every slot occurrence after the reactivation up to the cycle's end."""
    subscription = await _locked(tx, msg.subscription_id)
    return await _carry_out(tx, subscription.reactivate(msg))


async def _locked(tx: Tx, subscription_id: UUID) -> Subscription:
    subscription = await store.load_subscription(tx, subscription_id)
    if subscription is None:
        # The activation travels on another queue: retried until it has been handled.
        raise SubscriptionNotKnownYet(str(subscription_id))
    return subscription


async def _carry_out(tx: Tx, change: Change) -> str:
    await store.save_subscription(tx, change.subscription)
    return await _book_and_cancel(tx, change)


async def _book_and_cancel(tx: Tx, change: Change) -> str:
    """Book and cancel what a change says (set-based), then write the events for what
    the store actually inserted and cancelled."""
    subscription_id = change.subscription.subscription_id
    booked = await store.add_bookings(tx, subscription_id, change.to_book)
    cancelled = await store.cancel_bookings(tx, subscription_id, change.cancel)
    await outbox.add(tx, change.events(booked, cancelled))
    return change.outcome(len(booked), len(cancelled))


async def record_attendance(tx: Tx, msg: AttendanceMarked, policy: Policy) -> str:
    """Record attendance's mark on the booking (attendance is the source of truth)."""
    booking = await store.load_booking(tx, msg.booking_id)
    if booking is None:
        return "unknown booking, mark ignored"
    change = booking.record(msg)
    if change.applied:
        await store.save_mark(tx, change.booking)
    return change.outcome


async def sweep(tx: Tx, msg: SweepTick, policy: Policy) -> str:
    """Every booking that ended `sweep_grace` before the tick with no attendance becomes
    unattended (tick_at is now)."""
    with metrics.SWEEP_SECONDS.time():
        swept = await _sweep(tx, msg, policy)
    metrics.BOOKINGS_SWEPT.inc(swept)
    return f"swept {swept} bookings" if swept else "nothing due"


async def _sweep(tx: Tx, msg: SweepTick, policy: Policy) -> int:
    due_before = domain.sweep_due_before(msg.tick_at, policy.sweep_grace)
    swept = 0
    while True:
        batch = await store.sweep_batch(
            tx, due_before=due_before, tick_at=msg.tick_at, batch=SWEEP_BATCH
        )
        await outbox.add(tx, domain.unattended(batch, msg.tick_at))
        swept += len(batch)
        if len(batch) < SWEEP_BATCH:
            return swept


async def list_mentee_bookings(
    tx: Tx, request: ListMenteeBookings, policy: Policy
) -> MenteeBookingsReply:
    return MenteeBookingsReply(bookings=await store.mentee_bookings(tx, request.mentee_id))


async def find_booking(tx: Tx, request: FindBooking, policy: Policy) -> BookingFound:
    found = await store.find_booking(tx, request.booking_id)
    if found is None:
        return BookingFound(error=RpcError(code="not_found", detail="no such booking"))
    return BookingFound(
        booking_id=found.booking_id,
        subscription_id=found.subscription_id,
        mentee_id=found.mentee_id,
        mentor_id=found.mentor_id,
        status=found.status,
    )

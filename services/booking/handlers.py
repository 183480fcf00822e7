"""One thin function per message booking consumes: load, decide, store, outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from contracts import (
    AttendanceMarked,
    BookingRef,
    BookingsCancelled,
    BookingsScheduled,
    BookingUnattended,
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
    MenteeBooking,
    MenteeBookingsReply,
    RpcError,
)
from services.booking import domain, store
from services.booking.domain import PlannedBooking, Policy
from services.kit import metrics, outbox
from services.kit.database import Tx
from services.kit.errors import SubscriptionNotKnownYet
from services.kit.ids import derived_id

_EVENTS = uuid.UUID("0b7f3c52-2d4e-4f8a-bb0e-91c3a7d6e412")
SWEEP_BATCH = 5000


def _event_id(*parts: object) -> UUID:
    return derived_id(_EVENTS, *parts)


async def _schedule(
    tx: Tx,
    subscription_id: UUID,
    mentee_id: UUID,
    mentor_id: UUID,
    planned: list[PlannedBooking],
    *,
    occurred_at: datetime,
    generation: str,
) -> int:
    added = await store.add_bookings(tx, subscription_id, planned)
    if added:
        await outbox.add(
            tx,
            [
                BookingsScheduled(
                    event_id=_event_id("scheduled", subscription_id, generation),
                    occurred_at=occurred_at,
                    subscription_id=subscription_id,
                    mentee_id=mentee_id,
                    mentor_id=mentor_id,
                    bookings=[
                        BookingRef(
                            booking_id=b.booking_id, starts_at=b.starts_at, ends_at=b.ends_at
                        )
                        for b in added
                    ],
                )
            ],
        )
    return len(added)


async def _cancel(
    tx: Tx, subscription_id: UUID, after: datetime, reason: str, *, occurred_at: datetime
) -> int:
    cancelled = await store.cancel_scheduled_after(tx, subscription_id, after, reason)
    if cancelled:
        await outbox.add(
            tx,
            [
                BookingsCancelled(
                    event_id=_event_id("cancelled", subscription_id, reason, after.isoformat()),
                    occurred_at=occurred_at,
                    subscription_id=subscription_id,
                    booking_ids=cancelled,
                    reason=reason,  # type: ignore[arg-type]
                )
            ],
        )
    return len(cancelled)


async def activate_subscription(tx: Tx, msg: SubscriptionActivated, policy: Policy) -> str:
    """Store the subscription and book every slot occurrence of its cycle."""
    created = await store.add_subscription(
        tx,
        subscription_id=msg.subscription_id,
        stripe_subscription_id=msg.stripe_subscription_id,
        mentee_id=msg.mentee.id,
        mentor_id=msg.mentor.id,
        slot=msg.slot,
        cycle_starts_at=msg.cycle_starts_at,
        cycle_ends_at=msg.cycle_ends_at,
    )
    if not created:
        return "already active, nothing to do"
    await store.lock_subscription(tx, msg.subscription_id)
    generation = f"cycle:{msg.cycle_starts_at.isoformat()}"
    planned = domain.slot_occurrences(
        msg.subscription_id, msg.slot, msg.cycle_starts_at, msg.cycle_ends_at, generation=generation
    )
    count = await _schedule(
        tx,
        msg.subscription_id,
        msg.mentee.id,
        msg.mentor.id,
        planned,
        occurred_at=msg.occurred_at,
        generation=generation,
    )
    return f"scheduled {count} bookings"


async def renew_subscription(tx: Tx, msg: SubscriptionRenewed, policy: Policy) -> str:
    """Open the new cycle; book it unless the mentee is reprobated."""
    subscription = await store.lock_subscription(tx, msg.subscription_id)
    if subscription is None:
        raise SubscriptionNotKnownYet(str(msg.subscription_id))
    if subscription.status == "ended":
        return "subscription ended, renewal ignored"
    if msg.cycle_ends_at <= subscription.cycle_ends_at:
        return "cycle already covered"
    await store.update_subscription(
        tx,
        msg.subscription_id,
        cycle_starts_at=msg.cycle_starts_at,
        cycle_ends_at=msg.cycle_ends_at,
    )
    if subscription.status == "reprobated":
        return "cycle extended; reprobated, so no bookings until reactivation"
    generation = f"cycle:{msg.cycle_starts_at.isoformat()}"
    planned = domain.slot_occurrences(
        msg.subscription_id,
        store.slot_of(subscription),
        msg.cycle_starts_at,
        msg.cycle_ends_at,
        generation=generation,
    )
    count = await _schedule(
        tx,
        msg.subscription_id,
        subscription.mentee_id,
        subscription.mentor_id,
        planned,
        occurred_at=msg.occurred_at,
        generation=generation,
    )
    return f"scheduled {count} bookings for the new cycle"


async def end_subscription(tx: Tx, msg: SubscriptionEnded, policy: Policy) -> str:
    """Cancel every future booking; later renewals are ignored."""
    subscription = await store.lock_subscription(tx, msg.subscription_id)
    if subscription is None:
        raise SubscriptionNotKnownYet(str(msg.subscription_id))
    await store.update_subscription(tx, msg.subscription_id, status="ended", ended_at=msg.ended_at)
    count = await _cancel(
        tx, msg.subscription_id, msg.ended_at, "subscription_ended", occurred_at=msg.occurred_at
    )
    return f"ended; cancelled {count} bookings"


async def record_attendance(tx: Tx, msg: AttendanceMarked, policy: Policy) -> str:
    """Record attendance's mark on the booking (attendance is the source of truth)."""
    booking = await store.lock_booking(tx, msg.booking_id)
    if booking is None:
        return "unknown booking, mark ignored"
    if not domain.mark_overrides(
        msg.marked_by, msg.marked_at, booking.marked_by, booking.marked_at
    ):
        return f"kept the {booking.marked_by}'s mark"
    status = booking.status
    if status != "cancelled":
        status = "attended" if msg.attended else "unattended"
    await store.record_mark(
        tx,
        msg.booking_id,
        attended=msg.attended,
        marked_by=msg.marked_by,
        marked_at=msg.marked_at,
        status=status,
    )
    return "marked attended" if msg.attended else "marked absent"


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
        rows = await store.sweep_batch(
            tx, due_before=due_before, tick_at=msg.tick_at, batch=SWEEP_BATCH
        )
        await outbox.add(
            tx,
            (
                BookingUnattended(
                    event_id=_event_id("unattended", r.booking_id),
                    occurred_at=msg.tick_at,
                    booking_id=r.booking_id,
                    subscription_id=r.subscription_id,
                    mentee_id=r.mentee_id,
                    mentor_id=r.mentor_id,
                    starts_at=r.starts_at,
                    ends_at=r.ends_at,
                    detected_at=msg.tick_at,
                )
                for r in rows
            ),
        )
        swept += len(rows)
        if len(rows) < SWEEP_BATCH:
            break
    return swept


async def cancel_for_reprobation(tx: Tx, msg: MenteeReprobated, policy: Policy) -> str:
    """Cancel the rest of the cycle. The paid subscription itself is never touched."""
    subscription = await store.lock_subscription(tx, msg.subscription_id)
    if subscription is None:
        raise SubscriptionNotKnownYet(str(msg.subscription_id))
    if subscription.status != "ended":
        await store.update_subscription(
            tx, msg.subscription_id, status="reprobated", reprobated_at=msg.reprobated_at
        )
    count = await _cancel(
        tx, msg.subscription_id, msg.reprobated_at, "reprobation", occurred_at=msg.reprobated_at
    )
    return f"reprobated; cancelled {count} bookings"


async def regenerate_bookings(tx: Tx, msg: MenteeReactivated, policy: Policy) -> str:
    """Book every slot occurrence after the reactivation up to the cycle's end."""
    subscription = await store.lock_subscription(tx, msg.subscription_id)
    if subscription is None:
        raise SubscriptionNotKnownYet(str(msg.subscription_id))
    if subscription.status == "ended":
        return "subscription ended, nothing to regenerate"
    await store.update_subscription(tx, msg.subscription_id, status="active", reprobated_at=None)
    generation = f"reactivation:{msg.event_id}"
    planned = domain.occurrences_after(
        msg.subscription_id,
        store.slot_of(subscription),
        msg.reactivated_at,
        subscription.cycle_ends_at,
        generation,
    )
    count = await _schedule(
        tx,
        msg.subscription_id,
        subscription.mentee_id,
        subscription.mentor_id,
        planned,
        occurred_at=msg.reactivated_at,
        generation=generation,
    )
    return f"reactivated; scheduled {count} bookings"


async def list_mentee_bookings(
    tx: Tx, request: ListMenteeBookings, policy: Policy
) -> MenteeBookingsReply:
    rows = await store.mentee_bookings(tx, request.mentee_id)
    return MenteeBookingsReply(
        bookings=[
            MenteeBooking(
                booking_id=r.booking_id,
                subscription_id=r.subscription_id,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                status=r.status,
                attended=r.attended,
            )
            for r in rows
        ]
    )


async def find_booking(tx: Tx, request: FindBooking, policy: Policy) -> BookingFound:
    row = await store.find_booking(tx, request.booking_id)
    if row is None:
        return BookingFound(error=RpcError(code="not_found", detail="no such booking"))
    return BookingFound(
        booking_id=row.booking_id,
        subscription_id=row.subscription_id,
        mentee_id=row.mentee_id,
        mentor_id=row.mentor_id,
        status=row.status,
    )

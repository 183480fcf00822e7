"""One thin function per message or request attendance handles: load, decide, store, outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row

from contracts import (
    AttendanceMarked,
    BookingRef,
    BookingsCancelled,
    BookingsScheduled,
    BookingUnattended,
    Event,
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    SessionJoined,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
)
from contracts.rpc import (
    BookingAttendance,
    GetSubscriber,
    ListSubscribers,
    MarkAttendance,
    ReactivateMentee,
    RpcError,
    SubscriberChanged,
    SubscriberDetail,
    SubscriberReply,
    SubscribersReply,
    SubscriberSummary,
)
from services.attendance import domain, store
from services.attendance.domain import MarkedBy, Policy
from services.kit import inbox, outbox
from services.kit.database import Tx
from services.kit.errors import SubscriptionNotKnownYet
from services.kit.ids import derived_id

_EVENTS = uuid.UUID("5d1e0f7a-8c8b-4f7e-9a7c-3f2b1e6d4c90")


def _event_id(*parts: object) -> UUID:
    return derived_id(_EVENTS, *parts)


# --- the schedule and subscriptions --------------------------------------------------


async def add_subscription(tx: Tx, msg: SubscriptionActivated, policy: Policy) -> str:
    created = await store.add_subscription(tx, msg)
    return "subscription stored" if created else "already known"


async def renew_subscription(tx: Tx, msg: SubscriptionRenewed, policy: Policy) -> str:
    subscription = await store.lock_subscription(tx, msg.subscription_id)
    if subscription is None:
        raise SubscriptionNotKnownYet(str(msg.subscription_id))
    if msg.cycle_ends_at <= subscription.cycle_ends_at:
        return "cycle already covered"
    await store.update_subscription(
        tx,
        msg.subscription_id,
        cycle_starts_at=msg.cycle_starts_at,
        cycle_ends_at=msg.cycle_ends_at,
    )
    return "cycle renewed"


async def end_subscription(tx: Tx, msg: SubscriptionEnded, policy: Policy) -> str:
    subscription = await store.lock_subscription(tx, msg.subscription_id)
    if subscription is None:
        raise SubscriptionNotKnownYet(str(msg.subscription_id))
    await store.update_subscription(tx, msg.subscription_id, ended=True)
    return "subscription ended"


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
    booking = await store.booking(tx, msg.booking_id)
    if booking is None:
        return "not marked: unknown booking"
    if booking.mentee_id != msg.mentee_id:
        return "not marked: the booking belongs to another mentee"
    subscription = await store.lock_subscription(tx, booking.subscription_id)
    booking = await store.booking(tx, msg.booking_id)  # re-read under the lock
    assert booking is not None
    if booking.cancelled:
        return "not marked: the booking is cancelled"
    if not domain.join_window_contains(
        booking.starts_at, booking.ends_at, msg.joined_at, policy.join_opens_before
    ):
        return "not marked: joined outside the session's window"
    if booking.attended:
        return "already marked present"
    if domain.mark_stands_against("system", booking.marked_by):
        return "not marked: the mentor's mark stands"
    await _mark(
        tx,
        booking,
        subscription,
        attended=True,
        marked_by="system",
        marked_at=msg.joined_at,
        event_id=_event_id("joined", msg.event_id),
        policy=None,
    )
    return "marked present"


async def record_absence(tx: Tx, msg: BookingUnattended, policy: Policy) -> str:
    """The sweep found no attendance: unless attendance holds a mark, record an absence."""
    subscription = await store.lock_subscription(tx, msg.subscription_id)
    if subscription is None:
        raise SubscriptionNotKnownYet(str(msg.subscription_id))
    booking = await store.booking(tx, msg.booking_id)
    if booking is None:  # the schedule copy lags behind: the report carries all we need
        await store.add_bookings(
            tx,
            msg.subscription_id,
            msg.mentee_id,
            [BookingRef(booking_id=msg.booking_id, starts_at=msg.starts_at, ends_at=msg.ends_at)],
        )
        booking = await store.booking(tx, msg.booking_id)
        assert booking is not None
    if booking.attended is not None:
        return "attendance already marked: the mark stands"
    if booking.cancelled:
        return "booking cancelled: no absence"
    outcome = await _mark(
        tx,
        booking,
        subscription,
        attended=False,
        marked_by="system",
        marked_at=msg.detected_at,
        event_id=None,
        policy=policy,
    )
    return f"absence recorded; {outcome}"


async def _mark(
    tx: Tx,
    booking: Row[Any],
    subscription: Row[Any] | None,
    *,
    attended: bool,
    marked_by: MarkedBy,
    marked_at: datetime,
    event_id: UUID | None,
    policy: Policy | None,
) -> str:
    """Store a mark, announce presence, recount the streak and act on thresholds."""
    await store.set_mark(
        tx, booking.booking_id, attended=attended, marked_by=marked_by, marked_at=marked_at
    )
    events: list[Event] = []
    if event_id is not None:
        events.append(
            AttendanceMarked(
                event_id=event_id,
                occurred_at=marked_at,
                booking_id=booking.booking_id,
                subscription_id=booking.subscription_id,
                attended=attended,
                marked_by=marked_by,
                marked_at=marked_at,
            )
        )
    outcome = "streak unchanged"
    if subscription is not None:
        outcome, consequences = await _recount(
            tx, subscription, policy, trigger=booking, at=marked_at, after_absence=not attended
        )
        events.extend(consequences)
    await outbox.add(tx, events)
    return outcome


async def _recount(
    tx: Tx,
    subscription: Row[Any],
    policy: Policy | None,
    *,
    trigger: Row[Any],
    at: datetime,
    after_absence: bool,
) -> tuple[str, list[Event]]:
    sessions = await store.marked_sessions(
        tx, subscription.subscription_id, subscription.reactivated_at
    )
    streak = domain.current_streak(sessions, subscription.reactivated_at)
    changes: dict[str, Any] = {"consecutive_absences": streak.count}
    events: list[Event] = []
    decision = (
        domain.decide(
            policy,
            streak,
            after_absence=after_absence,
            warned_for=subscription.warned_for,
            is_reprobated=subscription.is_reprobated,
        )
        if policy is not None
        else domain.Decision(warn=False, reprobate=False)
    )
    if decision.warn:
        changes["warned_for"] = streak.key
        events.append(
            MenteeWarned(
                event_id=_event_id("warned", subscription.subscription_id, streak.key),
                occurred_at=at,
                subscription_id=subscription.subscription_id,
                booking_id=trigger.booking_id,
                mentee_id=subscription.mentee_id,
                mentor_id=subscription.mentor_id,
                consecutive_absences=streak.count,
                missed_starts_at=trigger.starts_at,
            )
        )
    if decision.reprobate:
        changes.update(is_reprobated=True, reprobated_at=at)
        events.append(
            MenteeReprobated(
                event_id=_event_id(
                    "reprobated", subscription.subscription_id, subscription.reactivated_at
                ),
                occurred_at=at,
                subscription_id=subscription.subscription_id,
                mentee_id=subscription.mentee_id,
                mentor_id=subscription.mentor_id,
                missed_booking_ids=[s.booking_id for s in streak.absences],
                missed_starts_at=[s.starts_at for s in streak.absences],
                reprobated_at=at,
            )
        )
    await store.update_subscription(tx, subscription.subscription_id, **changes)
    acted = [
        name
        for name, done in (("warned", decision.warn), ("reprobated", decision.reprobate))
        if done
    ]
    return f"{streak.count} consecutive absences" + (
        f", {' and '.join(acted)}" if acted else ""
    ), events


# --- the mentor's reads and commands -------------------------------------------------


def _summary(row: Row[Any], policy: Policy) -> dict[str, Any]:
    return {
        "subscription_id": row.subscription_id,
        "mentee_id": row.mentee_id,
        "mentee_name": row.mentee_name,
        "mentee_email": row.mentee_email,
        "absences": row.absences,
        "consecutive_absences": row.consecutive_absences,
        "is_reprobated": row.is_reprobated,
        "status": domain.subscriber_status(
            policy,
            ended=row.ended,
            is_reprobated=row.is_reprobated,
            consecutive_absences=row.consecutive_absences,
        ),
        "upcoming_bookings": row.upcoming_bookings,
        "next_booking_at": row.next_booking_at,
        "last_attended_at": row.last_attended_at,
        "timezone": row.slot_timezone,
    }


async def list_subscribers(tx: Tx, request: ListSubscribers, policy: Policy) -> SubscribersReply:
    rows = await store.subscriber_summaries(tx, request.mentor_id, request.now)
    return SubscribersReply(subscribers=[SubscriberSummary(**_summary(r, policy)) for r in rows])


async def _detail(
    tx: Tx, subscription_id: UUID, mentor_id: UUID, now: datetime, policy: Policy
) -> SubscriberDetail | RpcError:
    row = await store.subscriber_summary(tx, subscription_id, now)
    if row is None:
        return RpcError(code="not_found", detail="no such subscription")
    if row.mentor_id != mentor_id:
        return RpcError(code="forbidden", detail="this mentee is not your subscriber")
    bookings = [
        BookingAttendance(
            booking_id=b.booking_id,
            starts_at=b.starts_at,
            ends_at=b.ends_at,
            cancelled=b.cancelled,
            attended=b.attended,
            marked_by=b.marked_by,
            marked_at=b.marked_at,
        )
        for b in await store.bookings_of(tx, subscription_id)
    ]
    return SubscriberDetail(**_summary(row, policy), bookings=bookings)


async def get_subscriber(tx: Tx, request: GetSubscriber, policy: Policy) -> SubscriberReply:
    detail = await _detail(tx, request.subscription_id, request.mentor_id, request.now, policy)
    if isinstance(detail, RpcError):
        return SubscriberReply(error=detail)
    return SubscriberReply(subscriber=detail)


async def mark_attendance(tx: Tx, request: MarkAttendance, policy: Policy) -> SubscriberChanged:
    """A mentor's mark: overrides the system's, recounts the streak."""
    booking = await store.booking(tx, request.booking_id)
    if booking is None:
        return SubscriberChanged(error=RpcError(code="not_found", detail="no such booking"))
    subscription = await store.lock_subscription(tx, booking.subscription_id)
    if subscription is None:
        return SubscriberChanged(error=RpcError(code="not_found", detail="no such subscription"))
    if subscription.mentor_id != request.mentor_id:
        return SubscriberChanged(
            error=RpcError(code="forbidden", detail="this booking is not one of your mentees'")
        )
    if booking.cancelled:
        return SubscriberChanged(error=RpcError(code="conflict", detail="the booking is cancelled"))
    if await inbox.claim(tx, "attendance:rpc.mark_attendance", request.request_id):
        booking = await store.booking(tx, request.booking_id)
        assert booking is not None
        await _mark(
            tx,
            booking,
            subscription,
            attended=request.attended,
            marked_by="mentor",
            marked_at=request.marked_at,
            event_id=request.request_id,
            policy=policy,
        )
    detail = await _detail(
        tx, booking.subscription_id, request.mentor_id, request.marked_at, policy
    )
    assert not isinstance(detail, RpcError)
    return SubscriberChanged(subscriber=detail)


async def reactivate(tx: Tx, request: ReactivateMentee, policy: Policy) -> SubscriberChanged:
    """Lift a reprobation: the streak starts over and booking regenerates the cycle."""
    subscription = await store.lock_subscription(tx, request.subscription_id)
    if subscription is None:
        return SubscriberChanged(error=RpcError(code="not_found", detail="no such subscription"))
    if subscription.mentor_id != request.mentor_id:
        return SubscriberChanged(
            error=RpcError(code="forbidden", detail="this mentee is not your subscriber")
        )
    if not subscription.is_reprobated:
        return SubscriberChanged(
            error=RpcError(code="conflict", detail="the mentee is not reprobated")
        )
    if await inbox.claim(tx, "attendance:rpc.reactivate_mentee", request.request_id):
        await store.update_subscription(
            tx,
            request.subscription_id,
            is_reprobated=False,
            reprobated_at=None,
            reactivated_at=request.requested_at,
            warned_for=None,
            consecutive_absences=0,
        )
        await outbox.add(
            tx,
            [
                MenteeReactivated(
                    event_id=request.request_id,
                    occurred_at=request.requested_at,
                    subscription_id=request.subscription_id,
                    mentee_id=subscription.mentee_id,
                    mentor_id=subscription.mentor_id,
                    reactivated_by=request.mentor_id,
                    reactivated_at=request.requested_at,
                )
            ],
        )
    detail = await _detail(
        tx, request.subscription_id, request.mentor_id, request.requested_at, policy
    )
    assert not isinstance(detail, RpcError)
    return SubscriberChanged(subscriber=detail)

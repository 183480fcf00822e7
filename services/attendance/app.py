"""Wiring of the attendance service: which handler answers which message or request."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from faststream import FastStream

from contracts import (
    AttendanceMarked,
    BookingsCancelled,
    BookingsScheduled,
    BookingUnattended,
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
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
    SubscriberReply,
    SubscribersReply,
)
from services.attendance import handlers
from services.attendance.domain import Policy
from services.kit.database import Tx
from services.kit.runtime import ServiceRuntime
from services.kit.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings) -> ServiceRuntime:
    runtime = ServiceRuntime("attendance", settings, MIGRATIONS)
    db = runtime.db
    policy = Policy(
        warn_after=settings.warn_after_absences, reprobate_after=settings.reprobate_after_absences
    )
    opens_before = timedelta(minutes=settings.join_opens_minutes_before)

    runtime.publishes(AttendanceMarked, MenteeWarned, MenteeReprobated, MenteeReactivated)
    runtime.consumes(SubscriptionActivated)(handlers.add_subscription)
    runtime.consumes(SubscriptionRenewed)(handlers.renew_subscription)
    runtime.consumes(SubscriptionEnded)(handlers.end_subscription)
    runtime.consumes(BookingsScheduled)(handlers.add_bookings)
    runtime.consumes(BookingsCancelled)(handlers.cancel_bookings)

    @runtime.consumes(SessionJoined)
    async def record_join(tx: Tx, msg: SessionJoined) -> str:
        """A join inside the session's window marks the mentee present."""
        return await handlers.record_join(tx, msg, opens_before)

    @runtime.consumes(BookingUnattended)
    async def record_absence(tx: Tx, msg: BookingUnattended) -> str:
        """An absence, unless attendance already holds a mark; then the absence policy."""
        return await handlers.record_absence(tx, msg, policy)

    @runtime.answers(ListSubscribers)
    async def list_subscribers(request: ListSubscribers) -> SubscribersReply:
        """A mentor's subscribers with their absence counts and status."""
        async with db.transaction() as tx:
            return await handlers.list_subscribers(tx, request, policy)

    @runtime.answers(GetSubscriber)
    async def get_subscriber(request: GetSubscriber) -> SubscriberReply:
        """One subscriber with every booking and its attendance mark."""
        async with db.transaction() as tx:
            return await handlers.get_subscriber(tx, request, policy)

    @runtime.answers(MarkAttendance)
    async def mark_attendance(request: MarkAttendance) -> SubscriberChanged:
        """A mentor marks a booking attended or absent."""
        async with db.transaction() as tx:
            return await handlers.mark_attendance(tx, request, policy)

    @runtime.answers(ReactivateMentee)
    async def reactivate(request: ReactivateMentee) -> SubscriberChanged:
        """A mentor lifts a reprobation."""
        async with db.transaction() as tx:
            return await handlers.reactivate(tx, request, policy)

    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

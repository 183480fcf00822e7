"""Wiring of the booking service: which handler answers which message."""

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
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
    SweepTick,
)
from contracts.rpc import BookingFound, FindBooking, ListMenteeBookings, MenteeBookingsReply
from services.booking import handlers
from services.kit import metrics
from services.kit.database import Tx
from services.kit.runtime import ServiceRuntime
from services.kit.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings) -> ServiceRuntime:
    runtime = ServiceRuntime("booking", settings, MIGRATIONS)
    grace = timedelta(minutes=settings.sweep_grace_minutes)

    runtime.publishes(BookingsScheduled, BookingsCancelled, BookingUnattended)
    runtime.consumes(SubscriptionActivated)(handlers.activate_subscription)
    runtime.consumes(SubscriptionRenewed)(handlers.renew_subscription)
    runtime.consumes(SubscriptionEnded)(handlers.end_subscription)
    runtime.consumes(AttendanceMarked)(handlers.record_attendance)
    runtime.consumes(MenteeReprobated)(handlers.cancel_for_reprobation)
    runtime.consumes(MenteeReactivated)(handlers.regenerate_bookings)

    @runtime.consumes(SweepTick)
    async def sweep(tx: Tx, msg: SweepTick) -> str:
        """Sweep past bookings with no attendance (tick_at is now)."""
        with metrics.SWEEP_SECONDS.time():
            swept = await handlers.sweep(tx, msg, grace)
        metrics.BOOKINGS_SWEPT.inc(swept)
        return f"swept {swept} bookings" if swept else "nothing due"

    @runtime.answers(ListMenteeBookings)
    async def list_mentee_bookings(request: ListMenteeBookings) -> MenteeBookingsReply:
        """A mentee's bookings with their status and attendance."""
        async with runtime.db.transaction() as tx:
            return await handlers.list_mentee_bookings(tx, request)

    @runtime.answers(FindBooking)
    async def find_booking(request: FindBooking) -> BookingFound:
        """Who owns a booking, and its status."""
        async with runtime.db.transaction() as tx:
            return await handlers.find_booking(tx, request)

    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

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
from contracts.rpc import FindBooking, ListMenteeBookings
from services.booking import handlers
from services.booking.domain import Policy
from services.kit.runtime import Answers, Consumes, ServiceRuntime
from services.kit.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings) -> ServiceRuntime[Policy]:
    policy = Policy(sweep_grace=timedelta(minutes=settings.sweep_grace_minutes))
    runtime = ServiceRuntime("booking", settings, MIGRATIONS, policy)
    runtime.register(
        consumes=[
            Consumes(SubscriptionActivated, handlers.activate_subscription),
            Consumes(SubscriptionRenewed, handlers.renew_subscription),
            Consumes(SubscriptionEnded, handlers.end_subscription),
            Consumes(AttendanceMarked, handlers.record_attendance),
            Consumes(SweepTick, handlers.sweep),
            Consumes(MenteeReprobated, handlers.cancel_for_reprobation),
            Consumes(MenteeReactivated, handlers.regenerate_bookings),
        ],
        answers=[
            Answers(ListMenteeBookings, handlers.list_mentee_bookings),
            Answers(FindBooking, handlers.find_booking),
        ],
        publishes=[BookingsScheduled, BookingsCancelled, BookingUnattended],
    )
    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

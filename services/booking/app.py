"""Wiring of the booking service: which handler answers which message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from faststream import FastStream

from contracts import (
    AttendanceMarkCleared,
    AttendanceMarked,
    BookingCancelled,
    BookingReminderDue,
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
from contracts.rpc import CancelBooking, FindBooking, ListMenteeBookings
from services.booking import handlers
from services.booking.domain import Policy
from services.kit.runtime import CASCADE_GATHER_SECONDS as CASCADE
from services.kit.runtime import Answers, Consumes, ConsumesBatches, ServiceRuntime
from services.kit.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings) -> ServiceRuntime[Policy]:
    policy = Policy(
        sweep_grace=timedelta(minutes=settings.sweep_grace_minutes),
        cancel_notice=timedelta(hours=settings.cancel_notice_hours),
        reminder_hours=settings.reminder_hours_before,
    )
    runtime = ServiceRuntime("booking", settings, MIGRATIONS, policy)
    runtime.register(
        consumes=[
            ConsumesBatches(SubscriptionActivated, handlers.activate_subscriptions),
            ConsumesBatches(SubscriptionRenewed, handlers.renew_subscriptions),
            ConsumesBatches(SubscriptionEnded, handlers.end_subscriptions),
            # The mentee's booking shows attended a tenth of a second later; the mark
            # that counts (attendance's) is not waiting on it.
            ConsumesBatches(AttendanceMarked, handlers.record_attendance, gather_seconds=CASCADE),
            ConsumesBatches(AttendanceMarkCleared, handlers.record_attendance),
            Consumes(SweepTick, handlers.sweep),
            ConsumesBatches(
                MenteeReprobated, handlers.cancel_for_reprobations, gather_seconds=CASCADE
            ),
            ConsumesBatches(MenteeReactivated, handlers.regenerate_bookings),
        ],
        answers=[
            Answers(ListMenteeBookings, handlers.list_mentee_bookings),
            Answers(FindBooking, handlers.find_booking, one_read=True),
            Answers(CancelBooking, handlers.cancel_booking),
        ],
        publishes=[
            BookingsScheduled,
            BookingsCancelled,
            BookingCancelled,
            BookingUnattended,
            BookingReminderDue,
        ],
    )
    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

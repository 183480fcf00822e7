"""Wiring of the booking service: which handler answers which message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from faststream import FastStream

import contracts
from contracts import rpc
from services.booking import handlers
from services.booking.domain import Policy
from services.booking.refunds import StripeRefunds
from services.kit.runtime import CASCADE_GATHER_SECONDS as CASCADE
from services.kit.runtime import Answers, Consumes, ConsumesBatches, ServiceRuntime
from services.kit.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings) -> ServiceRuntime[Policy]:
    policy = Policy(
        sweep_grace=timedelta(minutes=settings.sweep_grace_minutes),
        cancel_notice=timedelta(hours=settings.cancel_notice_hours),
        reminder_hours=settings.reminder_hours_before,
        makeup_within=timedelta(days=settings.makeup_within_days),
        makeup_refund=settings.makeup_expired_refund,
    )
    runtime = ServiceRuntime("booking", settings, MIGRATIONS, policy)
    runtime.register(
        consumes=[
            ConsumesBatches(contracts.SubscriptionActivated, handlers.activate_subscriptions),
            ConsumesBatches(contracts.SubscriptionRenewed, handlers.renew_subscriptions),
            ConsumesBatches(contracts.SubscriptionEnded, handlers.end_subscriptions),
            # The mentee's booking shows attended a tenth of a second later; the mark
            # that counts (attendance's) is not waiting on it.
            ConsumesBatches(
                contracts.AttendanceMarked, handlers.record_attendance, gather_seconds=CASCADE
            ),
            ConsumesBatches(contracts.AttendanceMarkCleared, handlers.record_attendance),
            Consumes(contracts.SweepTick, handlers.sweep),
            ConsumesBatches(
                contracts.MenteeReprobated, handlers.cancel_for_reprobations, gather_seconds=CASCADE
            ),
            ConsumesBatches(contracts.MenteeReactivated, handlers.regenerate_bookings),
        ],
        answers=[
            Answers(rpc.ListMenteeBookings, handlers.list_mentee_bookings),
            Answers(rpc.FindBooking, handlers.find_booking, one_read=True),
            Answers(rpc.CancelBooking, handlers.cancel_booking),
            Answers(rpc.ListMakeups, handlers.list_makeups, one_read=True),
            Answers(rpc.ScheduleMakeup, handlers.schedule_makeup),
        ],
        publishes=[
            contracts.BookingsScheduled,
            contracts.BookingsCancelled,
            contracts.BookingCancelled,
            contracts.BookingUnattended,
            contracts.BookingReminderDue,
            contracts.MakeupOwed,
            contracts.MakeupWithdrawn,
            contracts.MakeupUsed,
            contracts.MakeupExpired,
            contracts.MakeupRefunded,
        ],
    )
    if settings.makeup_expired_refund == "stripe_credit":
        runtime.in_background("make-up refunds", StripeRefunds(settings, runtime.db).run)
    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

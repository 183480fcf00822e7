"""Wiring of the notifications service: contacts, email queueing, and the sender loop."""

from __future__ import annotations

from pathlib import Path

from faststream import FastStream

from contracts import (
    AppealAccepted,
    AppealFiled,
    AppealRejected,
    BookingCancelled,
    BookingReminderDue,
    BookingsCancelled,
    MenteeReactivated,
    MenteeReprobated,
    MenteeReprobationPending,
    MenteeWarned,
    MentorMissed,
    SubscriptionActivated,
    SubscriptionRenewed,
)
from services.kit.runtime import Consumes, ConsumesBatches, ServiceRuntime
from services.kit.settings import Settings
from services.notifications import handlers
from services.notifications.sender import EmailSender
from services.notifications.templates import Templates

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings) -> ServiceRuntime[Templates]:
    runtime = ServiceRuntime(
        "notifications", settings, MIGRATIONS, Templates(gateway_url=settings.gateway_url)
    )
    runtime.register(
        consumes=[
            ConsumesBatches(SubscriptionActivated, handlers.save_all_contacts),
            Consumes(SubscriptionRenewed, handlers.extend_cycle),
            ConsumesBatches(MenteeWarned, handlers.queue_all_emails),
            ConsumesBatches(MenteeReprobated, handlers.queue_all_emails),
            ConsumesBatches(MenteeReactivated, handlers.queue_all_emails),
            ConsumesBatches(BookingCancelled, handlers.queue_all_emails),
            ConsumesBatches(MentorMissed, handlers.queue_all_emails),
            ConsumesBatches(BookingReminderDue, handlers.queue_all_emails),
            ConsumesBatches(MenteeReprobationPending, handlers.queue_all_emails),
            ConsumesBatches(AppealFiled, handlers.queue_all_emails),
            ConsumesBatches(AppealAccepted, handlers.queue_all_emails),
            ConsumesBatches(AppealRejected, handlers.queue_all_emails),
            ConsumesBatches(BookingsCancelled, handlers.withdraw_invitations),
        ]
    )
    sender = EmailSender(settings, runtime.db, runtime.messaging)
    runtime.in_background("email sender", sender.run)
    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

"""Wiring of the notifications service: contacts, email queueing, and the sender loop."""

from __future__ import annotations

from pathlib import Path

from faststream import FastStream

import contracts
from contracts import rpc
from services.kit.runtime import CASCADE_GATHER_SECONDS as CASCADE
from services.kit.runtime import Answers, Consumes, ConsumesBatches, ServiceRuntime
from services.kit.settings import Settings
from services.notifications import handlers
from services.notifications.domain import LIFECYCLE_EVENTS, LifecycleEvent
from services.notifications.sender import EmailSender
from services.notifications.templates import Templates

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings) -> ServiceRuntime[Templates]:
    runtime = ServiceRuntime(
        "notifications", settings, MIGRATIONS, Templates(gateway_url=settings.gateway_url)
    )
    # An email waits on no one by the tenth of a second: its events are gathered.
    runtime.register(
        consumes=[
            ConsumesBatches(
                contracts.SubscriptionActivated,
                handlers.save_all_contacts_and_send_schedules
                if settings.schedule_emails
                else handlers.save_all_contacts,
            ),
            Consumes(contracts.SubscriptionRenewed, handlers.extend_cycle),
            *(
                ConsumesBatches[LifecycleEvent, Templates](
                    event, handlers.queue_all_emails, gather_seconds=CASCADE
                )
                for event in LIFECYCLE_EVENTS
            ),
            ConsumesBatches(
                contracts.BookingsCancelled, handlers.withdraw_invitations, gather_seconds=CASCADE
            ),
            ConsumesBatches(contracts.BookingsScheduled, handlers.book_all_sessions),
        ],
        answers=[
            Answers(rpc.OpenCalendarFeed, handlers.open_calendar_feed),
            Answers(rpc.ResetCalendarFeed, handlers.reset_calendar_feed),
            Answers(rpc.GetCalendarFeed, handlers.get_calendar_feed),
        ],
    )
    sender = EmailSender(settings, runtime.db, runtime.messaging)
    runtime.in_background("email sender", sender.run)
    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

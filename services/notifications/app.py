"""Wiring of the notifications service: contacts, email queueing, and the sender loop."""

from __future__ import annotations

from pathlib import Path

from faststream import FastStream

from contracts import (
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    SubscriptionActivated,
    SubscriptionRenewed,
)
from services.kit.database import Tx
from services.kit.runtime import ServiceRuntime
from services.kit.settings import Settings
from services.notifications import handlers
from services.notifications.sender import EmailSender
from services.notifications.templates import Templates

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings) -> ServiceRuntime:
    runtime = ServiceRuntime("notifications", settings, MIGRATIONS)
    templates = Templates()

    @runtime.consumes(SubscriptionActivated)
    async def save_contacts(tx: Tx, msg: SubscriptionActivated) -> str:
        """Remember the mentee's and mentor's names and addresses."""
        return await handlers.save_contacts(tx, msg, templates)

    runtime.consumes(SubscriptionRenewed)(handlers.extend_cycle)

    @runtime.consumes(MenteeWarned)
    async def on_warned(tx: Tx, msg: MenteeWarned) -> str:
        """Warn mentee and mentor."""
        return await handlers.queue_emails(tx, msg, templates)

    @runtime.consumes(MenteeReprobated)
    async def on_reprobated(tx: Tx, msg: MenteeReprobated) -> str:
        """Tell mentee and mentor the rest of the cycle is cancelled."""
        return await handlers.queue_emails(tx, msg, templates)

    @runtime.consumes(MenteeReactivated)
    async def on_reactivated(tx: Tx, msg: MenteeReactivated) -> str:
        """Tell the mentee (mentor in Cc) the sessions are booked again."""
        return await handlers.queue_emails(tx, msg, templates)

    sender = EmailSender(settings, runtime.db, runtime.messaging)
    runtime.in_background("email sender", sender.run)
    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

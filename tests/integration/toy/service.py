"""A minimal service built on the kit, to test the kit on the real broker and database."""

from __future__ import annotations

import uuid
from pathlib import Path

from faststream import FastStream
from sqlalchemy import Column, MetaData, Table, insert
from sqlalchemy.dialects.postgresql import UUID

from contracts import BookingsCancelled, SubscriptionEnded
from services.kit import outbox
from services.kit.database import Tx
from services.kit.runtime import Consumes, ServiceRuntime
from services.kit.settings import Settings

metadata = MetaData()
effects = Table(
    "effects",
    metadata,
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("subscription_id", UUID(as_uuid=True), nullable=False),
)

MIGRATIONS = Path(__file__).parent / "migrations"

# Subscriptions whose next `subscription.ended` fails once (a transient error).
FAIL_ONCE: set[uuid.UUID] = set()


async def record_end(tx: Tx, msg: SubscriptionEnded, needs: None) -> str:
    """Records the effect and announces a cancellation."""
    if msg.subscription_id in FAIL_ONCE:
        FAIL_ONCE.discard(msg.subscription_id)
        raise RuntimeError("a transient failure")
    await tx.execute(
        insert(effects).values(event_id=msg.event_id, subscription_id=msg.subscription_id)
    )
    await outbox.add(
        tx,
        [
            BookingsCancelled(
                occurred_at=msg.ended_at,
                subscription_id=msg.subscription_id,
                booking_ids=[],
                reason="subscription_ended",
            )
        ],
    )
    return "recorded"


async def record_cancel(tx: Tx, msg: BookingsCancelled, needs: None) -> str:
    await tx.execute(
        insert(effects).values(event_id=msg.event_id, subscription_id=msg.subscription_id)
    )
    return "recorded"


def create_runtime(settings: Settings, name: str) -> ServiceRuntime[None]:
    runtime = ServiceRuntime(name, settings, MIGRATIONS, None)
    runtime.register(
        consumes=[
            Consumes(SubscriptionEnded, record_end),
            Consumes(BookingsCancelled, record_cancel),
        ]
    )
    return runtime


def create_app(settings: Settings, name: str = "toy") -> FastStream:
    return create_runtime(settings, name).app()

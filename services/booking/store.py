"""Booking's tables and the queries its handlers need (set-based where it matters)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Row,
    String,
    Table,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PGUUID

from contracts import Slot
from services.booking.domain import PlannedBooking
from services.kit.database import Tx

metadata = MetaData()

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", PGUUID(as_uuid=True), primary_key=True),
    Column("stripe_subscription_id", String(255)),
    Column("mentee_id", PGUUID(as_uuid=True), nullable=False, index=True),
    Column("mentor_id", PGUUID(as_uuid=True), nullable=False),
    Column("slot", JSONB, nullable=False),
    Column("cycle_starts_at", DateTime(timezone=True), nullable=False),
    Column("cycle_ends_at", DateTime(timezone=True), nullable=False),
    # active | reprobated | ended
    Column("status", String(20), nullable=False, server_default="active"),
    Column("reprobated_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
)

bookings = Table(
    "bookings",
    metadata,
    Column("booking_id", PGUUID(as_uuid=True), primary_key=True),
    Column(
        "subscription_id",
        PGUUID(as_uuid=True),
        ForeignKey("subscriptions.subscription_id"),
        nullable=False,
    ),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    # scheduled | attended | unattended | cancelled
    Column("status", String(20), nullable=False, server_default="scheduled"),
    Column("attended", Boolean),
    Column("marked_by", String(20)),
    Column("marked_at", DateTime(timezone=True)),
    Column("detected_at", DateTime(timezone=True)),
    Column("cancelled_reason", String(40)),
    # A slot never has two live bookings: regeneration relies on this.
    Index(
        "bookings_one_live_per_slot",
        "subscription_id",
        "starts_at",
        unique=True,
        postgresql_where=text("status <> 'cancelled'"),
    ),
    # The sweep's scan: only scheduled bookings, by end time.
    Index("bookings_due", "ends_at", postgresql_where=text("status = 'scheduled'")),
    Index("bookings_by_subscription", "subscription_id", "starts_at"),
)


async def add_subscription(
    tx: Tx,
    *,
    subscription_id: UUID,
    stripe_subscription_id: str | None,
    mentee_id: UUID,
    mentor_id: UUID,
    slot: Slot,
    cycle_starts_at: datetime,
    cycle_ends_at: datetime,
) -> bool:
    """Store a new subscription; False when it already exists."""
    result = await tx.execute(
        insert(subscriptions)
        .values(
            subscription_id=subscription_id,
            stripe_subscription_id=stripe_subscription_id,
            mentee_id=mentee_id,
            mentor_id=mentor_id,
            slot=slot.model_dump(mode="json"),
            cycle_starts_at=cycle_starts_at,
            cycle_ends_at=cycle_ends_at,
        )
        .on_conflict_do_nothing()
        .returning(subscriptions.c.subscription_id)
    )
    return result.first() is not None


async def lock_subscription(tx: Tx, subscription_id: UUID) -> Row[Any] | None:
    """The subscription's row, locked until the transaction ends: one decision at a time."""
    result = await tx.execute(
        select(subscriptions)
        .where(subscriptions.c.subscription_id == subscription_id)
        .with_for_update()
    )
    return result.first()


def slot_of(subscription: Row[Any]) -> Slot:
    return Slot.model_validate(subscription.slot)


async def update_subscription(tx: Tx, subscription_id: UUID, **values: Any) -> None:
    await tx.execute(
        update(subscriptions)
        .where(subscriptions.c.subscription_id == subscription_id)
        .values(**values)
    )


async def add_bookings(
    tx: Tx, subscription_id: UUID, planned: Sequence[PlannedBooking]
) -> list[PlannedBooking]:
    """Insert the planned bookings that do not exist yet; returns those inserted.

    A slot that already has a live booking, or a booking id already stored
    (a replay), is skipped by the unique indexes, in one statement.
    """
    if not planned:
        return []
    result = await tx.execute(
        insert(bookings)
        .values(
            [
                {
                    "booking_id": b.booking_id,
                    "subscription_id": subscription_id,
                    "starts_at": b.starts_at,
                    "ends_at": b.ends_at,
                }
                for b in planned
            ]
        )
        .on_conflict_do_nothing()
        .returning(bookings.c.booking_id, bookings.c.starts_at, bookings.c.ends_at)
    )
    inserted = [PlannedBooking(r.booking_id, r.starts_at, r.ends_at) for r in result]
    return sorted(inserted, key=lambda b: b.starts_at)


async def cancel_scheduled_after(
    tx: Tx, subscription_id: UUID, after: datetime, reason: str
) -> list[UUID]:
    """Cancel every still-scheduled booking starting after `after`; returns their ids."""
    result = await tx.execute(
        update(bookings)
        .where(
            bookings.c.subscription_id == subscription_id,
            bookings.c.starts_at > after,
            bookings.c.status == "scheduled",
        )
        .values(status="cancelled", cancelled_reason=reason)
        .returning(bookings.c.booking_id, bookings.c.starts_at)
    )
    return [r.booking_id for r in sorted(result, key=lambda r: r.starts_at)]


async def lock_booking(tx: Tx, booking_id: UUID) -> Row[Any] | None:
    result = await tx.execute(
        select(bookings).where(bookings.c.booking_id == booking_id).with_for_update()
    )
    return result.first()


async def record_mark(
    tx: Tx,
    booking_id: UUID,
    *,
    attended: bool,
    marked_by: str,
    marked_at: datetime,
    status: str,
) -> None:
    await tx.execute(
        update(bookings)
        .where(bookings.c.booking_id == booking_id)
        .values(attended=attended, marked_by=marked_by, marked_at=marked_at, status=status)
    )


_SWEEP = text(
    """
    WITH due AS (
        SELECT booking_id FROM bookings
        WHERE status = 'scheduled' AND ends_at <= :due_before
        ORDER BY subscription_id, starts_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    UPDATE bookings AS b
    SET status = 'unattended', detected_at = :tick_at
    FROM due, subscriptions AS s
    WHERE b.booking_id = due.booking_id AND s.subscription_id = b.subscription_id
    RETURNING b.booking_id, b.subscription_id, b.starts_at, b.ends_at, s.mentee_id, s.mentor_id
    """
)


async def sweep_batch(
    tx: Tx, *, due_before: datetime, tick_at: datetime, batch: int
) -> list[Row[Any]]:
    """Mark up to `batch` due bookings unattended in one statement; returns them
    ordered by subscription and start. Rows locked by a concurrent mark are
    skipped: if still unmarked, the next tick finds them."""
    result = await tx.execute(
        _SWEEP, {"due_before": due_before, "tick_at": tick_at, "batch": batch}
    )
    return sorted(result.all(), key=lambda r: (r.subscription_id, r.starts_at))


async def mentee_bookings(tx: Tx, mentee_id: UUID) -> list[Row[Any]]:
    result = await tx.execute(
        select(bookings)
        .join(subscriptions, subscriptions.c.subscription_id == bookings.c.subscription_id)
        .where(subscriptions.c.mentee_id == mentee_id)
        .order_by(bookings.c.starts_at)
    )
    return list(result.all())


async def find_booking(tx: Tx, booking_id: UUID) -> Row[Any] | None:
    result = await tx.execute(
        select(bookings, subscriptions.c.mentee_id, subscriptions.c.mentor_id)
        .join(subscriptions, subscriptions.c.subscription_id == bookings.c.subscription_id)
        .where(bookings.c.booking_id == booking_id)
    )
    return result.first()

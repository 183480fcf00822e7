"""Attendance's tables and queries: the schedule copy, marks and streak state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    and_,
    false,
    func,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PGUUID
from sqlalchemy.dialects.postgresql import insert

from contracts import BookingRef, SubscriptionActivated
from services.attendance.domain import Session
from services.kit.database import Tx

metadata = MetaData()

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", PGUUID(as_uuid=True), primary_key=True),
    Column("mentee_id", PGUUID(as_uuid=True), nullable=False),
    Column("mentee_name", String(255), nullable=False),
    Column("mentee_email", String(320), nullable=False),
    Column("mentor_id", PGUUID(as_uuid=True), nullable=False, index=True),
    # The slot's IANA zone: the mentor reads session times in it.
    Column("slot_timezone", String(64), nullable=False, server_default="UTC"),
    Column("cycle_starts_at", DateTime(timezone=True), nullable=False),
    Column("cycle_ends_at", DateTime(timezone=True), nullable=False),
    Column("ended", Boolean, nullable=False, server_default=false()),
    Column("is_reprobated", Boolean, nullable=False, server_default=false()),
    Column("reprobated_at", DateTime(timezone=True)),
    # The last reactivation: absences before it no longer count.
    Column("reactivated_at", DateTime(timezone=True)),
    # The streak a warning was sent for (Streak.key), so it is sent once.
    Column("warned_for", String(64)),
    # Kept with every recount, for the mentor's reads.
    Column("consecutive_absences", Integer, nullable=False, server_default="0"),
)

bookings = Table(
    "bookings",
    metadata,
    Column("booking_id", PGUUID(as_uuid=True), primary_key=True),
    Column("subscription_id", PGUUID(as_uuid=True), nullable=False),
    Column("mentee_id", PGUUID(as_uuid=True), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("cancelled", Boolean, nullable=False, server_default=false()),
    Column("attended", Boolean),
    Column("marked_by", String(20)),
    Column("marked_at", DateTime(timezone=True)),
    Index("attendance_bookings_by_subscription", "subscription_id", "starts_at"),
)


async def add_subscription(tx: Tx, msg: SubscriptionActivated) -> bool:
    result = await tx.execute(
        insert(subscriptions)
        .values(
            subscription_id=msg.subscription_id,
            mentee_id=msg.mentee.id,
            mentee_name=msg.mentee.name,
            mentee_email=str(msg.mentee.email),
            mentor_id=msg.mentor.id,
            slot_timezone=msg.slot.timezone,
            cycle_starts_at=msg.cycle_starts_at,
            cycle_ends_at=msg.cycle_ends_at,
        )
        .on_conflict_do_nothing()
        .returning(subscriptions.c.subscription_id)
    )
    return result.first() is not None


async def lock_subscription(tx: Tx, subscription_id: UUID) -> Row[Any] | None:
    """The subscription's state row, locked: decisions about one subscription are serialized."""
    result = await tx.execute(
        select(subscriptions)
        .where(subscriptions.c.subscription_id == subscription_id)
        .with_for_update()
    )
    return result.first()


async def update_subscription(tx: Tx, subscription_id: UUID, **values: Any) -> None:
    await tx.execute(
        update(subscriptions)
        .where(subscriptions.c.subscription_id == subscription_id)
        .values(**values)
    )


async def add_bookings(
    tx: Tx, subscription_id: UUID, mentee_id: UUID, refs: Sequence[BookingRef]
) -> int:
    if not refs:
        return 0
    result = await tx.execute(
        insert(bookings)
        .values(
            [
                {
                    "booking_id": r.booking_id,
                    "subscription_id": subscription_id,
                    "mentee_id": mentee_id,
                    "starts_at": r.starts_at,
                    "ends_at": r.ends_at,
                }
                for r in refs
            ]
        )
        .on_conflict_do_nothing()
        .returning(bookings.c.booking_id)
    )
    return len(result.all())


async def cancel_bookings(tx: Tx, booking_ids: Sequence[UUID]) -> int:
    result = await tx.execute(
        update(bookings)
        .where(bookings.c.booking_id.in_(booking_ids), bookings.c.cancelled.is_(False))
        .values(cancelled=True)
        .returning(bookings.c.booking_id)
    )
    return len(result.all())


async def booking(tx: Tx, booking_id: UUID) -> Row[Any] | None:
    result = await tx.execute(select(bookings).where(bookings.c.booking_id == booking_id))
    return result.first()


async def set_mark(
    tx: Tx, booking_id: UUID, *, attended: bool, marked_by: str, marked_at: datetime
) -> None:
    await tx.execute(
        update(bookings)
        .where(bookings.c.booking_id == booking_id)
        .values(attended=attended, marked_by=marked_by, marked_at=marked_at)
    )


async def marked_sessions(tx: Tx, subscription_id: UUID, since: datetime | None) -> list[Session]:
    """The subscription's marked, non-cancelled sessions after `since` (the last reactivation)."""
    query = select(bookings.c.booking_id, bookings.c.starts_at, bookings.c.attended).where(
        bookings.c.subscription_id == subscription_id,
        bookings.c.attended.is_not(None),
        bookings.c.cancelled.is_(False),
    )
    if since is not None:
        query = query.where(bookings.c.starts_at > since)
    rows = (await tx.execute(query)).all()
    return [Session(r.booking_id, r.starts_at, r.attended) for r in rows]


def _summaries(now: datetime) -> Any:
    """One row per subscription with its counts, in one statement (no query per subscriber)."""
    b = bookings.c
    live = b.cancelled.is_(False)
    in_cycle = and_(
        b.starts_at >= subscriptions.c.cycle_starts_at, b.starts_at < subscriptions.c.cycle_ends_at
    )
    upcoming = and_(live, b.starts_at >= now)
    return (
        select(
            subscriptions,
            func.count(b.booking_id)
            .filter(and_(live, in_cycle, b.attended.is_(False)))
            .label("absences"),
            func.count(b.booking_id).filter(upcoming).label("upcoming_bookings"),
            func.min(b.starts_at).filter(upcoming).label("next_booking_at"),
            func.max(b.starts_at).filter(b.attended.is_(true())).label("last_attended_at"),
        )
        .select_from(
            subscriptions.outerjoin(
                bookings, bookings.c.subscription_id == subscriptions.c.subscription_id
            )
        )
        .group_by(subscriptions.c.subscription_id)
    )


async def subscriber_summaries(tx: Tx, mentor_id: UUID, now: datetime) -> list[Row[Any]]:
    query = (
        _summaries(now)
        .where(subscriptions.c.mentor_id == mentor_id)
        .order_by(subscriptions.c.mentee_name, subscriptions.c.subscription_id)
    )
    return list((await tx.execute(query)).all())


async def subscriber_summary(tx: Tx, subscription_id: UUID, now: datetime) -> Row[Any] | None:
    query = _summaries(now).where(subscriptions.c.subscription_id == subscription_id)
    return (await tx.execute(query)).first()


async def bookings_of(tx: Tx, subscription_id: UUID) -> list[Row[Any]]:
    query = (
        select(bookings)
        .where(bookings.c.subscription_id == subscription_id)
        .order_by(bookings.c.starts_at)
    )
    return list((await tx.execute(query)).all())

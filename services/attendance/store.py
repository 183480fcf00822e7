"""Attendance's tables and queries: the schedule copy, marks and streak state,
loaded and saved as a `Record`, and the read models of the mentor's reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    cast,
    column,
    false,
    func,
    select,
    true,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import UUID as PGUUID
from sqlalchemy.dialects.postgresql import insert

from contracts import BookingRef, SubscriptionActivated
from services.attendance.domain import Record, Session
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
    # How many marks attendance has applied (Session.revision, attendance.marked's revision).
    Column("mark_revision", Integer, nullable=False, server_default="0"),
    Index("attendance_bookings_by_subscription", "subscription_id", "starts_at"),
)

# What a decision may change, besides the sessions: written back by save_record.
_STATE = [
    "cycle_starts_at",
    "cycle_ends_at",
    "ended",
    "is_reprobated",
    "reprobated_at",
    "reactivated_at",
    "warned_for",
    "consecutive_absences",
]
_RECORD_COLUMNS = [subscriptions.c[f.name] for f in fields(Record) if f.name in subscriptions.c]
# What a decision may change of a session (Session's fields, `revision` as mark_revision).
_MARKS = ["cancelled", "attended", "marked_by", "marked_at", "mark_revision"]
_SESSION_COLUMNS = [
    bookings.c.booking_id,
    bookings.c.starts_at,
    bookings.c.ends_at,
    bookings.c.cancelled,
    bookings.c.attended,
    bookings.c.marked_by,
    bookings.c.marked_at,
    bookings.c.mark_revision.label("revision"),
]


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


async def lock_subscription(tx: Tx, subscription_id: UUID) -> None:
    """Wait for, then hold, the subscription's row lock: decisions about one
    subscription are taken one at a time."""
    await tx.execute(
        select(subscriptions.c.subscription_id)
        .where(subscriptions.c.subscription_id == subscription_id)
        .with_for_update()
    )


async def load_record(tx: Tx, subscription_id: UUID) -> Record | None:
    """The subscription's attendance, its row locked until the transaction ends, so
    that decisions about one subscription are taken one at a time (two consumers of
    a queue can run side by side). The sessions are read once the lock is held: they
    hold every mark committed before."""
    result = await tx.execute(
        select(*_RECORD_COLUMNS)
        .where(subscriptions.c.subscription_id == subscription_id)
        .with_for_update()
    )
    row = result.first()
    if row is None:
        return None
    return Record(**row._mapping, sessions=await sessions_of(tx, subscription_id))


async def sessions_of(tx: Tx, subscription_id: UUID) -> tuple[Session, ...]:
    """Every booking of the subscription with its mark, by start."""
    result = await tx.execute(
        select(*_SESSION_COLUMNS)
        .where(bookings.c.subscription_id == subscription_id)
        .order_by(bookings.c.starts_at, bookings.c.booking_id)
    )
    return tuple(Session(**r._mapping) for r in result)


async def subscription_of_booking(tx: Tx, booking_id: UUID) -> UUID | None:
    """Whose a booking is (read without a lock: lock that subscription, then
    read the booking again, with the record)."""
    result = await tx.execute(
        select(bookings.c.subscription_id).where(bookings.c.booking_id == booking_id)
    )
    subscription_id: UUID | None = result.scalar_one_or_none()
    return subscription_id


async def save_record(tx: Tx, before: Record, after: Record) -> None:
    """Write what a change changed: the state, when it differs, and the sessions that
    differ, one statement each (a session new to the schedule copy is added first)."""
    state = {name: getattr(after, name) for name in _STATE}
    if state != {name: getattr(before, name) for name in _STATE}:
        await tx.execute(
            update(subscriptions)
            .where(subscriptions.c.subscription_id == after.subscription_id)
            .values(**state)
        )
    known = {s.booking_id: s for s in before.sessions}
    added = [s for s in after.sessions if s.booking_id not in known]
    await add_bookings(
        tx,
        after.subscription_id,
        after.mentee_id,
        [
            BookingRef(booking_id=s.booking_id, starts_at=s.starts_at, ends_at=s.ends_at)
            for s in added
        ],
    )
    await _save_marks(tx, [s for s in after.sessions if known.get(s.booking_id) != s])


async def _save_marks(tx: Tx, sessions: Sequence[Session]) -> None:
    """The marks (and cancellation) of `sessions`, in one UPDATE … FROM (VALUES …)."""
    if not sessions:
        return
    marks = values(
        *(column(name, bookings.c[name].type) for name in ("booking_id", *_MARKS)),
        name="marks",
    ).data(  # each row in the order of ("booking_id", *_MARKS)
        [
            (s.booking_id, s.cancelled, s.attended, s.marked_by, s.marked_at, s.revision)
            for s in sessions
        ]
    )
    await tx.execute(
        update(bookings)
        .where(bookings.c.booking_id == marks.c.booking_id)
        # Cast: a VALUES column that holds only NULLs is text to PostgreSQL.
        .values({name: cast(marks.c[name], bookings.c[name].type) for name in _MARKS})
    )


async def add_bookings(
    tx: Tx, subscription_id: UUID, mentee_id: UUID, refs: Sequence[BookingRef]
) -> int:
    """Add bookings to the schedule copy, in one statement; those known stay as they are."""
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


# --- the mentor's reads --------------------------------------------------------------


@dataclass(frozen=True)
class Subscriber:
    """A subscription as the mentor's reads show it: who, where the streak stands,
    and counts over its bookings."""

    subscription_id: UUID
    mentee_id: UUID
    mentee_name: str
    mentee_email: str
    mentor_id: UUID
    slot_timezone: str
    ended: bool
    is_reprobated: bool
    consecutive_absences: int
    absences: int  # in the current cycle
    upcoming_bookings: int
    next_booking_at: datetime | None
    last_attended_at: datetime | None


async def subscribers_of(tx: Tx, mentor_id: UUID, now: datetime) -> list[Subscriber]:
    return await _subscribers(tx, subscriptions.c.mentor_id == mentor_id, now)


async def subscriber(tx: Tx, subscription_id: UUID, now: datetime) -> Subscriber | None:
    found = await _subscribers(tx, subscriptions.c.subscription_id == subscription_id, now)
    return found[0] if found else None


async def _subscribers(tx: Tx, which: ColumnElement[bool], now: datetime) -> list[Subscriber]:
    """One row per subscription with its counts, in one statement (no query per subscriber)."""
    b = bookings.c
    live = b.cancelled.is_(False)
    in_cycle = and_(
        b.starts_at >= subscriptions.c.cycle_starts_at, b.starts_at < subscriptions.c.cycle_ends_at
    )
    upcoming = and_(live, b.starts_at >= now)
    query = (
        select(
            *(subscriptions.c[f.name] for f in fields(Subscriber) if f.name in subscriptions.c),
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
        .where(which)
        .group_by(subscriptions.c.subscription_id)
        .order_by(subscriptions.c.mentee_name, subscriptions.c.subscription_id)
    )
    return [Subscriber(**r._mapping) for r in await tx.execute(query)]

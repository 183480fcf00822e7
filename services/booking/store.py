"""Booking's tables and the queries its handlers need (set-based where it matters)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PGUUID

from contracts import BookingCancelled, Slot, rpc
from contracts.rpc import MenteeBooking
from services.booking import domain
from services.booking.domain import (
    Booking,
    BookingStatus,
    Cancellation,
    DueReminder,
    PlannedBooking,
    Subscription,
    SweptBooking,
)
from services.booking.makeups import Clash, Credited, Makeup
from services.kit.database import Tx, driver
from services.kit.tables import subscription_table

metadata = MetaData()

subscriptions = subscription_table(
    "subscriptions",
    metadata,
    Column("stripe_subscription_id", String(255)),
    Column("mentee_id", PGUUID(as_uuid=True), nullable=False, index=True),
    # Indexed: a make-up's time is checked against every session of its mentor.
    Column("mentor_id", PGUUID(as_uuid=True), nullable=False, index=True),
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
    # Attendance's status of the mark (present, late, absent, excused, …).
    Column("mark_status", String(20)),
    Column("marked_by", String(20)),
    Column("marked_at", DateTime(timezone=True)),
    Column("detected_at", DateTime(timezone=True)),
    Column("cancelled_reason", String(40)),
    # The revision attendance gave the mark held (attendance.marked's `revision`);
    # null while unmarked, or when the mark came from a producer without revisions.
    Column("mark_revision", Integer),
    # slot: a session of the weekly slot; makeup: one booked to make up for a missed one
    # (`makeup_for`), which outlives the subscription's end.
    Column("kind", String(10), nullable=False, server_default="slot"),
    Column("makeup_for", PGUUID(as_uuid=True)),
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
    # The reminders' scan: only scheduled bookings, by start.
    Index("bookings_upcoming", "starts_at", postgresql_where=text("status = 'scheduled'")),
    # A cancellation's lookup: a subscription's scheduled bookings after a moment.
    Index(
        "bookings_scheduled_by_subscription",
        "subscription_id",
        "starts_at",
        postgresql_where=text("status = 'scheduled'"),
    ),
)

# One row per booking and offset the sweep found due: a reminder is announced once.
reminders = Table(
    "reminders",
    metadata,
    Column("booking_id", PGUUID(as_uuid=True), ForeignKey("bookings.booking_id"), primary_key=True),
    Column("hours_before", Integer, primary_key=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
)

# Reads select the columns named as the fields of the value they return.
_SUBSCRIPTION_COLUMNS = [subscriptions.c[f.name] for f in fields(Subscription)]


@dataclass(frozen=True)
class OwnedBooking(domain.BookedSession):
    """A booking with its status and the slot's zone (for find_booking)."""

    status: BookingStatus
    timezone: str


_BOOKING_NAMES = ", ".join(f.name for f in fields(Booking))
_LOCK_BOOKINGS = f"""
    SELECT {_BOOKING_NAMES} FROM bookings
    WHERE booking_id = ANY($1::uuid[])
    ORDER BY booking_id
    FOR UPDATE
"""
_SAVE_MARKS = """
    UPDATE bookings AS b
    SET status = m.status, attended = m.attended, mark_status = m.mark_status,
        marked_by = m.marked_by, marked_at = m.marked_at, mark_revision = m.mark_revision
    FROM unnest($1::uuid[], $2::text[], $3::boolean[], $4::text[], $5::text[],
                $6::timestamptz[], $7::integer[])
        AS m(booking_id, status, attended, mark_status, marked_by, marked_at, mark_revision)
    WHERE b.booking_id = m.booking_id
"""


async def load_bookings(tx: Tx, booking_ids: Iterable[UUID]) -> dict[UUID, Booking]:
    """The bookings and the marks they hold, in one statement; their rows locked, in id
    order, until the transaction ends."""
    rows = await (await driver(tx)).fetch(_LOCK_BOOKINGS, sorted(set(booking_ids)))
    return {row["booking_id"]: Booking(**dict(row.items())) for row in rows}


async def save_marks(tx: Tx, marked: Sequence[Booking]) -> None:
    """The marks (and the status they give) of `marked`, in one statement."""
    if marked:
        await (await driver(tx)).execute(
            _SAVE_MARKS,
            [b.booking_id for b in marked],
            [b.status for b in marked],
            [b.attended for b in marked],
            [b.mark_status for b in marked],
            [b.marked_by for b in marked],
            [b.marked_at for b in marked],
            [b.mark_revision for b in marked],
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
    SET status = 'unattended', detected_at = :tick_at,
        -- The absence attendance records for it, unless it holds a mark booking has
        -- not received yet: that mark, announced with a revision, replaces this one.
        attended = false, mark_status = 'absent', marked_by = 'system', marked_at = :tick_at
    FROM due, subscriptions AS s
    WHERE b.booking_id = due.booking_id AND s.subscription_id = b.subscription_id
    RETURNING b.booking_id, b.subscription_id, b.starts_at, b.ends_at, s.mentee_id, s.mentor_id
    """
)


async def sweep_batch(
    tx: Tx, *, due_before: datetime, tick_at: datetime, batch: int
) -> list[SweptBooking]:
    """Mark up to `batch` due bookings unattended in one statement; returns them
    ordered by subscription and start. Rows locked by a concurrent mark are
    skipped: if still unmarked, the next tick finds them."""
    result = await tx.execute(
        _SWEEP, {"due_before": due_before, "tick_at": tick_at, "batch": batch}
    )
    swept = [SweptBooking(**r._mapping) for r in result]  # RETURNING names the fields
    return sorted(swept, key=lambda b: (b.subscription_id, b.starts_at))


# An offset of a scheduled booking is due from `hours_before` ahead of its start until the
# start. The bookings are taken `batch` at a time, each with every offset due now, and
# share-locked in id order (as marks lock them): a cancellation committing meanwhile is
# waited for, and the cancelled booking is then left out.
_REMINDERS_DUE = """
    WITH hours AS (SELECT unnest($2::integer[]) AS hours_before),
    candidates AS (
        SELECT b.booking_id, b.subscription_id, b.starts_at, b.ends_at FROM bookings AS b
        WHERE b.status = 'scheduled' AND b.starts_at > $1
          AND b.starts_at <= $1 + make_interval(hours => $3)
          AND EXISTS (
              SELECT 1 FROM hours AS h
              WHERE b.starts_at <= $1 + make_interval(hours => h.hours_before)
                AND NOT EXISTS (SELECT 1 FROM reminders AS r
                                WHERE r.booking_id = b.booking_id
                                  AND r.hours_before = h.hours_before))
        ORDER BY b.booking_id
        LIMIT $4
        FOR SHARE OF b
    ),
    due AS (
        SELECT c.*, h.hours_before FROM candidates AS c CROSS JOIN hours AS h
        WHERE c.starts_at <= $1 + make_interval(hours => h.hours_before)
    ),
    recorded AS (
        INSERT INTO reminders (booking_id, hours_before, due_at)
        SELECT booking_id, hours_before, $1 FROM due
        ON CONFLICT DO NOTHING
        RETURNING booking_id, hours_before
    )
    SELECT r.booking_id, r.hours_before, d.subscription_id, s.mentee_id, s.mentor_id,
           d.starts_at, d.ends_at
    FROM recorded AS r
    JOIN due AS d USING (booking_id, hours_before)
    JOIN subscriptions AS s ON s.subscription_id = d.subscription_id
"""


async def record_reminders_due(
    tx: Tx, *, tick_at: datetime, hours: Sequence[int], batch: int
) -> tuple[int, list[DueReminder]]:
    """Record, for up to `batch` bookings, every offset due at `tick_at` and not recorded
    before, in one statement; returns how many bookings it looked at (fewer than
    `batch`: none left) and the offsets recorded now."""
    if not hours:
        return 0, []
    rows = await (await driver(tx)).fetch(_REMINDERS_DUE, tick_at, list(hours), max(hours), batch)
    due = [DueReminder(**dict(row.items())) for row in rows]
    return len({r.booking_id for r in due}), due


async def mentee_bookings(tx: Tx, mentee_id: UUID) -> list[MenteeBooking]:
    """The mentee's bookings, every subscription, by start."""
    result = await tx.execute(
        select(
            bookings.c.booking_id,
            bookings.c.subscription_id,
            bookings.c.starts_at,
            bookings.c.ends_at,
            bookings.c.status,
            bookings.c.attended,
            bookings.c.mark_status.label("mark"),
            bookings.c.kind,
            bookings.c.makeup_for,
        )
        .join(subscriptions, subscriptions.c.subscription_id == bookings.c.subscription_id)
        .where(subscriptions.c.mentee_id == mentee_id)
        .order_by(bookings.c.starts_at)
    )
    return [MenteeBooking.model_validate(dict(r._mapping)) for r in result]


_FIND_BOOKING = """
    SELECT b.booking_id, b.subscription_id, s.mentee_id, s.mentor_id, b.status,
           b.starts_at, b.ends_at, s.slot ->> 'timezone' AS timezone
    FROM bookings AS b JOIN subscriptions AS s USING (subscription_id)
    WHERE b.booking_id = $1
"""


_LOCK_OWNED_BOOKING = """
    SELECT b.booking_id, b.subscription_id, s.mentee_id, s.mentor_id, b.starts_at, b.ends_at,
           b.status
    FROM bookings AS b JOIN subscriptions AS s USING (subscription_id)
    WHERE b.booking_id = $1
    FOR UPDATE OF b
"""


async def lock_owned_booking(tx: Tx, booking_id: UUID) -> domain.CancellableBooking | None:
    """The booking with whose it is, its row locked until the transaction ends."""
    row = await (await driver(tx)).fetchrow(_LOCK_OWNED_BOOKING, booking_id)
    return None if row is None else domain.CancellableBooking(**dict(row.items()))


async def cancel_by_mentee(tx: Tx, cancellation: BookingCancelled) -> None:
    """The booking cancelled, holding the cancellation as its mark."""
    await (await driver(tx)).execute(
        """
        UPDATE bookings
        SET status = 'cancelled', cancelled_reason = $2, mark_status = $2,
            marked_by = 'mentee', marked_at = $3, attended = false
        WHERE booking_id = $1
        """,
        cancellation.booking_id,
        cancellation.status,
        cancellation.cancelled_at,
    )


async def find_booking(tx: Tx, booking_id: UUID) -> OwnedBooking | None:
    """Whose a booking is, and its status: asked for every join, so sent as it is."""
    row = await (await driver(tx)).fetchrow(_FIND_BOOKING, booking_id)
    return None if row is None else OwnedBooking(**dict(row.items()))


# --- many subscriptions at once (batches) --------------------------------------------
# Arrays (one per column) rather than a VALUES row each: one cached, prepared
# statement whatever the number of rows. Each subscription appears once per call.


async def load_subscriptions(tx: Tx, subscription_ids: Iterable[UUID]) -> dict[UUID, Subscription]:
    """The subscriptions, in one statement, their rows locked in id order until the
    transaction ends."""
    rows = await tx.execute(
        select(*_SUBSCRIPTION_COLUMNS)
        .where(subscriptions.c.subscription_id.in_(sorted(set(subscription_ids))))
        .order_by(subscriptions.c.subscription_id)
        .with_for_update()
    )
    return {
        row.subscription_id: Subscription(**{**row._mapping, "slot": Slot.model_validate(row.slot)})
        for row in rows
    }


_SAVE_SUBSCRIPTIONS = text(
    """
    UPDATE subscriptions AS s
    SET cycle_starts_at = v.cycle_starts_at, cycle_ends_at = v.cycle_ends_at,
        status = v.status, reprobated_at = v.reprobated_at, ended_at = v.ended_at
    FROM unnest(CAST(:subscription_id AS uuid[]), CAST(:cycle_starts_at AS timestamptz[]),
                CAST(:cycle_ends_at AS timestamptz[]), CAST(:status AS text[]),
                CAST(:reprobated_at AS timestamptz[]), CAST(:ended_at AS timestamptz[]))
        AS v(subscription_id, cycle_starts_at, cycle_ends_at, status, reprobated_at, ended_at)
    WHERE s.subscription_id = v.subscription_id
    """
)


async def save_subscriptions(tx: Tx, changed: Sequence[Subscription]) -> None:
    """The subscriptions' cycle and status, in one statement."""
    if changed:
        await tx.execute(
            _SAVE_SUBSCRIPTIONS,
            {
                "subscription_id": [s.subscription_id for s in changed],
                "cycle_starts_at": [s.cycle_starts_at for s in changed],
                "cycle_ends_at": [s.cycle_ends_at for s in changed],
                "status": [s.status for s in changed],
                "reprobated_at": [s.reprobated_at for s in changed],
                "ended_at": [s.ended_at for s in changed],
            },
        )


_ADD_BOOKINGS = text(
    """
    INSERT INTO bookings (booking_id, subscription_id, starts_at, ends_at)
    SELECT * FROM unnest(CAST(:booking_id AS uuid[]), CAST(:subscription_id AS uuid[]),
                         CAST(:starts_at AS timestamptz[]), CAST(:ends_at AS timestamptz[]))
    ON CONFLICT DO NOTHING
    RETURNING subscription_id, booking_id, starts_at, ends_at
    """
)


async def add_bookings_of(
    tx: Tx, planned: Sequence[tuple[UUID, Sequence[PlannedBooking]]]
) -> dict[UUID, list[PlannedBooking]]:
    """Insert the planned bookings that do not exist yet, for many subscriptions in one
    statement; the inserted ones of each. A slot that already has a live booking, or a
    booking id already stored (a replay), is skipped by the unique indexes."""
    rows = [(sid, b) for sid, bs in planned for b in bs]
    inserted: dict[UUID, list[PlannedBooking]] = {sid: [] for sid, _ in planned}
    if not rows:
        return inserted
    result = await tx.execute(
        _ADD_BOOKINGS,
        {
            "booking_id": [b.booking_id for _, b in rows],
            "subscription_id": [sid for sid, _ in rows],
            "starts_at": [b.starts_at for _, b in rows],
            "ends_at": [b.ends_at for _, b in rows],
        },
    )
    for r in result:
        inserted[r.subscription_id].append(PlannedBooking(r.booking_id, r.starts_at, r.ends_at))
    return {sid: sorted(bs, key=lambda b: b.starts_at) for sid, bs in inserted.items()}


# The subscriptions' bookings are found through an array computed first (an InitPlan,
# whose size the planner does not guess): joined to the unnest alone, without
# statistics, PostgreSQL read every scheduled booking (`bookings_upcoming`, 40,000
# entries at 10,000 subscriptions) for each batch of cancellations.
_CANCEL_BOOKINGS = text(
    """
    UPDATE bookings AS b
    SET status = 'cancelled', cancelled_reason = c.reason
    FROM unnest(CAST(:subscription_id AS uuid[]), CAST(:after AS timestamptz[]),
                CAST(:reason AS text[])) AS c(subscription_id, after, reason)
    WHERE b.subscription_id = ANY(ARRAY(SELECT unnest(CAST(:subscription_id AS uuid[]))))
      AND b.subscription_id = c.subscription_id AND b.starts_at > c.after
      AND b.status = 'scheduled'
      -- A make-up is owed whether or not the subscription goes on: only a reprobation
      -- cancels it.
      AND (b.kind = 'slot' OR c.reason = 'reprobation')
    RETURNING b.subscription_id, b.booking_id, b.starts_at
    """
)


async def cancel_bookings_of(
    tx: Tx, cancellations: Sequence[tuple[UUID, Cancellation | None]]
) -> dict[UUID, list[UUID]]:
    """Cancel each subscription's still-scheduled bookings starting after its
    cancellation's `after` (only a reprobation cancels a make-up), for many
    subscriptions in one statement; the cancelled ids of each, in start order."""
    cancelled: dict[UUID, list[tuple[datetime, UUID]]] = {sid: [] for sid, _ in cancellations}
    given = [(sid, c) for sid, c in cancellations if c is not None]
    if given:
        result = await tx.execute(
            _CANCEL_BOOKINGS,
            {
                "subscription_id": [sid for sid, _ in given],
                "after": [c.after for _, c in given],
                "reason": [c.reason for _, c in given],
            },
        )
        for r in result:
            cancelled[r.subscription_id].append((r.starts_at, r.booking_id))
    return {sid: [b for _, b in sorted(found)] for sid, found in cancelled.items()}


_ADD_SUBSCRIPTIONS = text(
    """
    INSERT INTO subscriptions (subscription_id, stripe_subscription_id, mentee_id, mentor_id,
                               slot, cycle_starts_at, cycle_ends_at, status)
    SELECT subscription_id, stripe_subscription_id, mentee_id, mentor_id, slot::jsonb,
           cycle_starts_at, cycle_ends_at, status
    FROM unnest(CAST(:subscription_id AS uuid[]), CAST(:stripe_subscription_id AS text[]),
                CAST(:mentee_id AS uuid[]), CAST(:mentor_id AS uuid[]), CAST(:slot AS text[]),
                CAST(:cycle_starts_at AS timestamptz[]), CAST(:cycle_ends_at AS timestamptz[]),
                CAST(:status AS text[]))
        AS s(subscription_id, stripe_subscription_id, mentee_id, mentor_id, slot,
             cycle_starts_at, cycle_ends_at, status)
    ON CONFLICT DO NOTHING
    RETURNING subscription_id
    """
)


async def add_subscriptions(tx: Tx, new: Sequence[Subscription]) -> set[UUID]:
    """Store the new subscriptions, in one statement; the ids of those stored now (one
    already stored stays as it is)."""
    if not new:
        return set()
    result = await tx.execute(
        _ADD_SUBSCRIPTIONS,
        {
            "subscription_id": [s.subscription_id for s in new],
            "stripe_subscription_id": [s.stripe_subscription_id for s in new],
            "mentee_id": [s.mentee_id for s in new],
            "mentor_id": [s.mentor_id for s in new],
            "slot": [s.slot.model_dump_json() for s in new],
            "cycle_starts_at": [s.cycle_starts_at for s in new],
            "cycle_ends_at": [s.cycle_ends_at for s in new],
            "status": [s.status for s in new],
        },
    )
    return set(result.scalars())


# --- make-ups owed for a mentor's no-show --------------------------------------------

makeups = Table(
    "makeups",
    metadata,
    Column("missed_booking_id", PGUUID(as_uuid=True), primary_key=True),
    Column("subscription_id", PGUUID(as_uuid=True), nullable=False, index=True),
    # makeups.MakeupStatus
    Column("status", String(10), nullable=False),
    Column("owed_at", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("booking_id", PGUUID(as_uuid=True), index=True),
)

_MAKEUP_NAMES = ", ".join(f.name for f in fields(Makeup))
_MISSED_SESSIONS = """
    SELECT b.booking_id, b.subscription_id, s.mentee_id, s.mentor_id, b.starts_at, b.ends_at
    FROM bookings AS b JOIN subscriptions AS s ON s.subscription_id = b.subscription_id
    WHERE b.booking_id = ANY($1::uuid[])
"""
_MAKEUPS = f"""
    SELECT {_MAKEUP_NAMES} FROM makeups WHERE missed_booking_id = ANY($1::uuid[])
    ORDER BY missed_booking_id
    FOR UPDATE
"""
_MAKEUPS_BOOKED_AS = f"""
    SELECT {_MAKEUP_NAMES} FROM makeups WHERE booking_id = ANY($1::uuid[])
    ORDER BY missed_booking_id
    FOR UPDATE
"""
_SAVE_MAKEUPS = """
    INSERT INTO makeups (missed_booking_id, subscription_id, status, owed_at, changed_at,
                         booking_id)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[],
                         $5::timestamptz[], $6::uuid[])
    ON CONFLICT (missed_booking_id) DO UPDATE
    SET status = excluded.status, owed_at = excluded.owed_at, changed_at = excluded.changed_at,
        booking_id = excluded.booking_id
"""


async def missed_sessions(tx: Tx, booking_ids: Sequence[UUID]) -> dict[UUID, domain.BookedSession]:
    """The bookings with whose they are, for the make-ups a no-show owes."""
    rows = await (await driver(tx)).fetch(_MISSED_SESSIONS, list(booking_ids))
    return {row["booking_id"]: domain.BookedSession(**dict(row.items())) for row in rows}


async def makeups_of(tx: Tx, booking_ids: Sequence[UUID]) -> dict[UUID, Makeup]:
    """The make-ups owed (or once owed) for these missed bookings, their rows locked."""
    rows = await (await driver(tx)).fetch(_MAKEUPS, list(booking_ids))
    return {row["missed_booking_id"]: Makeup(**dict(row.items())) for row in rows}


async def makeups_booked_as(tx: Tx, booking_ids: Sequence[UUID]) -> dict[UUID, Makeup]:
    """The make-ups these bookings were booked for, by booking, their rows locked."""
    rows = await (await driver(tx)).fetch(_MAKEUPS_BOOKED_AS, list(booking_ids))
    return {row["booking_id"]: Makeup(**dict(row.items())) for row in rows}


async def save_makeups(tx: Tx, credits: Sequence[Makeup]) -> None:
    if credits:
        await (await driver(tx)).execute(
            _SAVE_MAKEUPS,
            [c.missed_booking_id for c in credits],
            [c.subscription_id for c in credits],
            [c.status for c in credits],
            [c.owed_at for c in credits],
            [c.changed_at for c in credits],
            [c.booking_id for c in credits],
        )


# The mentor's calendar is checked then booked under a lock of its own: two make-ups
# booked at once for one mentor cannot both find the same time free.
_LOCK_MENTOR_CALENDAR = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))"
_CLASHES = """
    SELECT b.starts_at, b.ends_at, s.slot ->> 'timezone' AS timezone
    FROM subscriptions AS s JOIN bookings AS b ON b.subscription_id = s.subscription_id
    WHERE s.mentor_id = $1 AND b.status <> 'cancelled'
      AND b.starts_at < $3 AND b.ends_at > $2
    ORDER BY b.starts_at
"""


async def mentor_clashes(
    tx: Tx, mentor_id: UUID, starts_at: datetime, ends_at: datetime
) -> list[Clash]:
    """The mentor's live bookings overlapping [starts_at, ends_at), with the mentor's
    calendar locked until the transaction ends."""
    connection = await driver(tx)
    await connection.execute(_LOCK_MENTOR_CALENDAR, f"mentor-calendar:{mentor_id}")
    rows = await connection.fetch(_CLASHES, mentor_id, starts_at, ends_at)
    return [Clash(**dict(row.items())) for row in rows]


async def add_makeup_booking(
    tx: Tx, subscription_id: UUID, planned: PlannedBooking, makeup_for: UUID
) -> None:
    await (await driver(tx)).execute(
        """
        INSERT INTO bookings (booking_id, subscription_id, starts_at, ends_at, kind, makeup_for)
        VALUES ($1, $2, $3, $4, 'makeup', $5)
        """,
        planned.booking_id,
        subscription_id,
        planned.starts_at,
        planned.ends_at,
        makeup_for,
    )


_MAKEUP_VIEWS = """
    SELECT m.missed_booking_id, m.subscription_id, missed.starts_at AS missed_starts_at,
           missed.ends_at AS missed_ends_at, m.status, m.owed_at, m.changed_at,
           b.booking_id, b.starts_at, b.ends_at, b.status AS booking_status
    FROM makeups AS m
    JOIN bookings AS missed ON missed.booking_id = m.missed_booking_id
    JOIN subscriptions AS s ON s.subscription_id = m.subscription_id
    LEFT JOIN bookings AS b ON b.booking_id = m.booking_id
    WHERE m.subscription_id = $1 OR s.mentee_id = $2 OR s.mentor_id = $3
    ORDER BY missed.starts_at
"""


async def makeup_views(tx: Tx, of: rpc.ListMakeups, within: timedelta) -> list[rpc.Makeup]:
    """The make-ups of a subscription, or of a mentee's or a mentor's subscriptions, by
    missed session."""
    rows = await (await driver(tx)).fetch(
        _MAKEUP_VIEWS, of.subscription_id, of.mentee_id, of.mentor_id
    )
    return [
        rpc.Makeup(
            missed_booking_id=r["missed_booking_id"],
            subscription_id=r["subscription_id"],
            missed_starts_at=r["missed_starts_at"],
            missed_ends_at=r["missed_ends_at"],
            status=r["status"],
            owed_at=r["owed_at"],
            changed_at=r["changed_at"],
            book_by=r["missed_starts_at"] + within,
            booking=None
            if r["booking_id"] is None
            else rpc.MakeupBooking(
                booking_id=r["booking_id"],
                starts_at=r["starts_at"],
                ends_at=r["ends_at"],
                status=r["booking_status"],
            ),
        )
        for r in rows
    ]


# --- expired make-ups and their refunds ----------------------------------------------

makeup_refunds = Table(
    "makeup_refunds",
    metadata,
    Column("missed_booking_id", PGUUID(as_uuid=True), primary_key=True),
    # due | refunded | failed
    Column("status", String(10), nullable=False, server_default="due"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("amount", Integer),
    Column("currency", String(3)),
    Column("stripe_balance_transaction_id", String(255)),
    Column("refunded_at", DateTime(timezone=True)),
)

# One statement: the credits still owed past their latest start become expired and,
# with refunds on, each gets a refund due (its time is the database's: the refunds are
# made as time passes, not as ticks say).
_EXPIRE_MAKEUPS = """
    WITH expired AS (
        UPDATE makeups AS m SET status = 'expired', changed_at = $1
        FROM bookings AS b, subscriptions AS s
        WHERE m.status = 'owed' AND b.booking_id = m.missed_booking_id
          AND b.starts_at <= $2 AND s.subscription_id = m.subscription_id
        RETURNING m.missed_booking_id AS booking_id, m.subscription_id, s.mentee_id,
                  s.mentor_id, b.starts_at, b.ends_at
    ), refunds AS (
        INSERT INTO makeup_refunds (missed_booking_id, next_attempt_at)
        SELECT booking_id, now() FROM expired WHERE $3
        ON CONFLICT DO NOTHING
    )
    SELECT * FROM expired ORDER BY starts_at, booking_id
"""


async def expire_makeups(
    tx: Tx, *, tick_at: datetime, within: timedelta, refund: bool
) -> list[domain.BookedSession]:
    """The missed sessions whose make-ups were still owed past `within` after their start
    at `tick_at`, now expired (a refund due for each with `refund`)."""
    # The latest start computed here, as `makeups.book_by` does: the same instant.
    rows = await (await driver(tx)).fetch(_EXPIRE_MAKEUPS, tick_at, tick_at - within, refund)
    return [domain.BookedSession(**dict(row.items())) for row in rows]


@dataclass(frozen=True)
class DueRefund:
    """An expired make-up to refund: its missed session, its subscription, and how many
    times Stripe was asked already."""

    missed: domain.BookedSession
    subscription: Subscription
    attempts: int


_NEXT_REFUND = f"""
    SELECT r.attempts, b.booking_id, b.starts_at, b.ends_at,
           {", ".join(f"s.{c.name}" for c in _SUBSCRIPTION_COLUMNS)}
    FROM makeup_refunds AS r
    JOIN bookings AS b ON b.booking_id = r.missed_booking_id
    JOIN subscriptions AS s ON s.subscription_id = b.subscription_id
    WHERE r.status = 'due' AND r.next_attempt_at <= now()
    ORDER BY r.next_attempt_at
    LIMIT 1
    FOR UPDATE OF r SKIP LOCKED
"""


async def next_refund_due(tx: Tx) -> DueRefund | None:
    """The refund due longest, its row locked (others' refunds skipped)."""
    row = await (await driver(tx)).fetchrow(_NEXT_REFUND)
    if row is None:
        return None
    fields_ = {c.name: row[c.name] for c in _SUBSCRIPTION_COLUMNS}
    subscription = Subscription(**{**fields_, "slot": Slot.model_validate(row["slot"])})
    missed = domain.BookedSession(
        row["booking_id"],
        subscription.subscription_id,
        subscription.mentee_id,
        subscription.mentor_id,
        row["starts_at"],
        row["ends_at"],
    )
    return DueRefund(missed, subscription, row["attempts"])


async def refund_made(tx: Tx, missed_booking_id: UUID, credited: Credited) -> None:
    await (await driver(tx)).execute(
        """
        UPDATE makeup_refunds
        SET status = 'refunded', attempts = attempts + 1, amount = $2, currency = $3,
            stripe_balance_transaction_id = $4, refunded_at = now(), last_error = NULL
        WHERE missed_booking_id = $1
        """,
        missed_booking_id,
        credited.amount,
        credited.currency,
        credited.stripe_balance_transaction_id,
    )


async def refund_failed(
    tx: Tx, missed_booking_id: UUID, error: str, retry_in: timedelta | None
) -> None:
    """A failed attempt: tried again after `retry_in`, or never (None: failed for good)."""
    await (await driver(tx)).execute(
        """
        UPDATE makeup_refunds
        SET attempts = attempts + 1, last_error = $2,
            status = CASE WHEN $3::interval IS NULL THEN 'failed' ELSE 'due' END,
            next_attempt_at = now() + coalesce($3::interval, interval '0')
        WHERE missed_booking_id = $1
        """,
        missed_booking_id,
        error,
        retry_in,
    )

"""Attendance's tables and queries: the schedule copy, marks and streak state,
loaded and saved as a `Record`, and the read models of the mentor's reads."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

import asyncpg
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    false,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PGUUID
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contracts import BookingRef, SubscriptionActivated, SubscriptionPolicy
from services.attendance.appeals import Appeal
from services.attendance.domain import (
    ATTENDED,
    CANCELLATIONS,
    HistoryEntry,
    Record,
    Session,
)
from services.attendance.makeups import Step, StepKey
from services.kit.database import Tx, driver
from services.kit.tables import mentor_zone_columns, subscription_table

metadata = MetaData()

subscriptions = subscription_table(
    "subscriptions",
    metadata,
    Column("mentee_id", PGUUID(as_uuid=True), nullable=False, index=True),
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
    # The warnings given (`Reached.key`: a streak, or the session another rule was met
    # at), so that each is given once.
    Column("warned_streaks", ARRAY(Text), nullable=False, server_default="{}"),
    # Kept with every recount, for the mentor's reads.
    Column("consecutive_absences", Integer, nullable=False, server_default="0"),
    # While a reached reprobation waits for the mentor's review: when it is applied.
    Column("reprobation_due_at", DateTime(timezone=True)),
    Index(
        "subscriptions_reprobation_due",
        "reprobation_due_at",
        postgresql_where=text("reprobation_due_at IS NOT NULL"),
    ),
    # While reprobated under after_days:N: when a tick lifts it.
    Column("reprobation_lifts_at", DateTime(timezone=True)),
    Index(
        "subscriptions_reprobation_lifts",
        "reprobation_lifts_at",
        postgresql_where=text("reprobation_lifts_at IS NOT NULL"),
    ),
    # The subscription's own absence policy (SubscriptionPolicy), over the settings.
    Column("policy", JSONB),
    *mentor_zone_columns("subscriptions"),
)

# A mentor's own absence policy, as it stood from each edit on (append-only).
mentor_policies_table = Table(
    "mentor_policies",
    metadata,
    Column("mentor_id", PGUUID(as_uuid=True), primary_key=True),
    Column("since", DateTime(timezone=True), primary_key=True),
    Column("policy", JSONB, nullable=False),
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
    # The mark's status (domain.STATUSES); None while unmarked.
    Column("status", String(20)),
    Column("marked_by", String(20)),
    Column("marked_at", DateTime(timezone=True)),
    Column("mark_reason", Text),
    Column("mentor_joined_at", DateTime(timezone=True)),
    # How many marks attendance has applied (Session.revision, attendance.marked's revision).
    Column("mark_revision", Integer, nullable=False, server_default="0"),
    Index("attendance_bookings_by_subscription", "subscription_id", "starts_at"),
)

history = Table(
    "history",
    metadata,
    Column("entry_id", BigInteger, Identity(), primary_key=True),
    Column("subscription_id", PGUUID(as_uuid=True), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(10), nullable=False),
    Column("actor_id", PGUUID(as_uuid=True)),
    Column("booking_id", PGUUID(as_uuid=True)),
    Column("old_status", String(20)),
    Column("new_status", String(20)),
    Column("reason", Text),
    # A make-up's line: what its step says beyond it (rpc.HistoryMakeup).
    Column("makeup", JSONB),
    Index("history_of_subscription", "subscription_id", "at", "entry_id"),
    # Each make-up step's line once, under whichever event id it is announced again.
    Index(
        "history_makeup_steps",
        "booking_id",
        "new_status",
        "at",
        unique=True,
        postgresql_where=text("kind = 'makeup'"),
    ),
)

appeals = Table(
    "appeals",
    metadata,
    Column("appeal_id", PGUUID(as_uuid=True), primary_key=True),
    Column("subscription_id", PGUUID(as_uuid=True), nullable=False),
    Column("booking_id", PGUUID(as_uuid=True), nullable=False),
    Column("contested_status", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("filed_at", DateTime(timezone=True), nullable=False),
    # open, accepted or rejected (appeals.Appeal)
    Column("status", String(10), nullable=False, server_default="open"),
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_reason", Text),
    Index("appeals_of_subscription", "subscription_id", "filed_at"),
    Index("appeals_of_booking", "booking_id"),
    Index(
        "one_open_appeal_per_booking",
        "booking_id",
        unique=True,
        postgresql_where=text("status = 'open'"),
    ),
)

# What a decision may change, besides the sessions: written back by save_record.
_STATE = [
    "cycle_starts_at",
    "cycle_ends_at",
    "ended",
    "is_reprobated",
    "reprobated_at",
    "reactivated_at",
    "warned_streaks",
    "consecutive_absences",
    "reprobation_due_at",
    "reprobation_lifts_at",
]


_ADD_SUBSCRIPTIONS = text(
    """
    INSERT INTO subscriptions (subscription_id, mentee_id, mentee_name, mentee_email,
                               mentor_id, slot_timezone, cycle_starts_at, cycle_ends_at,
                               policy, mentor_timezone, activated_at)
    SELECT s, me, mn, mm, mt, tz, st, en, CAST(p AS jsonb), mz, at
    FROM unnest(CAST(:subscription_id AS uuid[]), CAST(:mentee_id AS uuid[]),
                CAST(:mentee_name AS text[]), CAST(:mentee_email AS text[]),
                CAST(:mentor_id AS uuid[]), CAST(:slot_timezone AS text[]),
                CAST(:cycle_starts_at AS timestamptz[]), CAST(:cycle_ends_at AS timestamptz[]),
                CAST(:policy AS text[]), CAST(:mentor_timezone AS text[]),
                CAST(:activated_at AS timestamptz[]))
        AS v(s, me, mn, mm, mt, tz, st, en, p, mz, at)
    ON CONFLICT DO NOTHING
    RETURNING subscription_id
    """
)


async def add_subscriptions(tx: Tx, msgs: Sequence[SubscriptionActivated]) -> set[UUID]:
    """Store the activated subscriptions, in one statement; the ids of those new."""
    if not msgs:
        return set()
    rows: list[dict[str, object]] = [
        {
            "subscription_id": m.subscription_id,
            "mentee_id": m.mentee.id,
            "mentee_name": m.mentee.name,
            "mentee_email": str(m.mentee.email),
            "mentor_id": m.mentor.id,
            "slot_timezone": m.slot.timezone,
            "cycle_starts_at": m.cycle_starts_at,
            "cycle_ends_at": m.cycle_ends_at,
            "policy": m.policy.model_dump_json(exclude_none=True) if m.policy else None,
            "mentor_timezone": m.mentor.timezone,
            "activated_at": m.occurred_at,
        }
        for m in msgs
    ]
    return set((await tx.execute(_ADD_SUBSCRIPTIONS, _columns(rows))).scalars())


async def lock_subscription(tx: Tx, subscription_id: UUID) -> None:
    """Wait for, then hold, the subscription's row lock: decisions about one
    subscription are taken one at a time."""
    await tx.execute(
        select(subscriptions.c.subscription_id)
        .where(subscriptions.c.subscription_id == subscription_id)
        .with_for_update()
    )


async def load_record(tx: Tx, subscription_id: UUID) -> Record | None:
    """The subscription's attendance, its row locked until the transaction ends (see
    `load_records`)."""
    return (await load_records(tx, [subscription_id])).get(subscription_id)


_RECORD_NAMES = [f.name for f in fields(Record) if f.name in subscriptions.c]
_SESSION_NAMES = [
    "booking_id",
    "starts_at",
    "ends_at",
    "cancelled",
    "status",
    "marked_by",
    "marked_at",
    "mark_reason AS reason",
    "mark_revision AS revision",
    "mentor_joined_at",
]
# The mentor's policy versions, oldest first, one JSON array per subscription.
_MENTOR_POLICIES = """(
    SELECT coalesce(json_agg(json_build_array(since, policy) ORDER BY since), '[]')
    FROM mentor_policies WHERE mentor_policies.mentor_id = subscriptions.mentor_id
) AS mentor_policies"""
_RECORD_COLUMNS = ", ".join([*_RECORD_NAMES, _MENTOR_POLICIES])
# The hot path's reads, sent to the driver as they are (see `driver`).
_LOCK_RECORDS = f"""
    SELECT {_RECORD_COLUMNS} FROM subscriptions
    WHERE subscription_id = ANY($1::uuid[])
    ORDER BY subscription_id
    FOR UPDATE
"""
# Bookings never change hands, so whose they are needs no lock of its own. The owners
# are an array computed first (an InitPlan), then looked up by primary key: as a join,
# without statistics, PostgreSQL scanned every subscription to find a batch's.
_LOCK_RECORDS_OF_BOOKINGS = f"""
    SELECT {_RECORD_COLUMNS} FROM subscriptions
    WHERE subscription_id = ANY(ARRAY(
        SELECT subscription_id FROM bookings WHERE booking_id = ANY($1::uuid[])
    ))
    ORDER BY subscription_id
    FOR UPDATE
"""
_SESSIONS_OF_RECORDS = f"""
    SELECT s.subscription_id, b.* FROM unnest($1::uuid[]) AS s(subscription_id)
    CROSS JOIN LATERAL (
        SELECT {", ".join(_SESSION_NAMES)} FROM bookings
        WHERE bookings.subscription_id = s.subscription_id
    ) AS b
    ORDER BY s.subscription_id, b.starts_at, b.booking_id
"""


async def load_records(tx: Tx, subscription_ids: Iterable[UUID]) -> dict[UUID, Record]:
    """The attendance of each known subscription, in two statements. Their rows are
    locked, in id order, until the transaction ends, so that decisions about one
    subscription are taken one at a time (consumers of several queues, and replicas,
    run side by side). The sessions are read once the locks are held: they hold
    every mark committed before."""
    return await _load_locked(tx, _LOCK_RECORDS, sorted(set(subscription_ids)))


async def load_records_of_bookings(tx: Tx, booking_ids: Iterable[UUID]) -> dict[UUID, Record]:
    """As `load_records`, for the subscriptions that hold these bookings: whose a
    booking is is read in the locking statement (a round trip less per join)."""
    return await _load_locked(tx, _LOCK_RECORDS_OF_BOOKINGS, list(set(booking_ids)))


async def _load_locked(tx: Tx, lock: str, ids: list[UUID]) -> dict[UUID, Record]:
    rows = await (await driver(tx)).fetch(lock, ids)
    return {record.subscription_id: record for record in await _records(tx, rows)}


async def _records(tx: Tx, rows: Sequence[asyncpg.Record]) -> list[Record]:
    """Records of subscription rows (`_RECORD_NAMES`), with their sessions."""
    if not rows:
        return []
    sessions = await sessions_of_many(tx, [row["subscription_id"] for row in rows])
    return [
        Record(
            **{
                **{name: row[name] for name in _RECORD_NAMES},
                "warned_streaks": frozenset(row["warned_streaks"]),
                "policy": own_policy(row["policy"]),
                "mentor_policies": mentor_policies(row["mentor_policies"]),
            },
            sessions=sessions[row["subscription_id"]],
        )
        for row in rows
    ]


_TO_PREVIEW = f"""
    SELECT {_RECORD_COLUMNS}, mentee_name FROM subscriptions
    WHERE NOT ended AND ($1::uuid IS NULL OR mentor_id = $1) AND subscription_id > $2
    ORDER BY subscription_id
    LIMIT $3
"""


async def records_to_preview(
    tx: Tx, mentor_id: UUID | None, after: UUID, limit: int
) -> list[tuple[Record, str]]:
    """A page of the subscriptions a policy preview replays (a mentor's, or everyone's),
    with their mentee's name, in id order after `after`; read, not locked."""
    rows = await (await driver(tx)).fetch(_TO_PREVIEW, mentor_id, after, limit)
    records = await _records(tx, rows)
    return [(record, row["mentee_name"]) for record, row in zip(records, rows, strict=True)]


# What a sweep tick acts on, by the column that says when: a pending reprobation's
# `reprobation_due_at`, an after_days reprobation's `reprobation_lifts_at`.
_DUE_BY = {
    "reprobation_due_at": "reprobation_due_at <= $1",
    "reprobation_lifts_at": "reprobation_lifts_at <= $1 AND is_reprobated AND NOT ended",
}


async def due_by(
    tx: Tx, column: Literal["reprobation_due_at", "reprobation_lifts_at"], at: datetime, batch: int
) -> list[UUID]:
    """Up to `batch` subscriptions, in id order, whose `column` is at or before `at`
    (not locked: `load_records` locks them)."""
    rows = await (await driver(tx)).fetch(
        f"SELECT subscription_id FROM subscriptions WHERE {_DUE_BY[column]}"
        " ORDER BY subscription_id LIMIT $2",
        at,
        batch,
    )
    return [row["subscription_id"] for row in rows]


async def mentor_policy(tx: Tx, mentor_id: UUID) -> tuple[datetime, SubscriptionPolicy] | None:
    """The mentor's own policy as they last set it, and since when."""
    row = await (await driver(tx)).fetchrow(
        "SELECT since, policy FROM mentor_policies WHERE mentor_id = $1 "
        "ORDER BY since DESC LIMIT 1",
        mentor_id,
    )
    return None if row is None else (row["since"], _policy(row["policy"]))


async def add_mentor_policy(
    tx: Tx, mentor_id: UUID, since: datetime, policy: SubscriptionPolicy
) -> None:
    await (await driver(tx)).execute(
        "INSERT INTO mentor_policies (mentor_id, since, policy) VALUES ($1, $2, $3::jsonb)",
        mentor_id,
        since,
        policy.model_dump_json(exclude_none=True),
    )


async def lock_live_subscriptions_of_mentor(tx: Tx, mentor_id: UUID) -> list[tuple[UUID, bool]]:
    """The mentor's subscriptions that have not ended, locked in id order (as decisions
    lock them), each with whether it brought its own policy."""
    rows = await (await driver(tx)).fetch(
        "SELECT subscription_id, policy IS NOT NULL AS own FROM subscriptions "
        "WHERE mentor_id = $1 AND NOT ended ORDER BY subscription_id FOR UPDATE",
        mentor_id,
    )
    return [(row["subscription_id"], row["own"]) for row in rows]


async def live_subscriptions_of_mentor(tx: Tx, mentor_id: UUID) -> tuple[int, int]:
    """How many of the mentor's subscriptions have not ended, and how many of those
    brought their own policy."""
    row = await (await driver(tx)).fetchrow(
        "SELECT count(*) AS live, count(*) FILTER (WHERE policy IS NOT NULL) AS own "
        "FROM subscriptions WHERE mentor_id = $1 AND NOT ended",
        mentor_id,
    )
    assert row is not None
    return row["live"], row["own"]


def _policy(stored: object) -> SubscriptionPolicy:
    policy = own_policy(stored)
    assert policy is not None
    return policy


def mentor_policies(stored: object) -> tuple[tuple[datetime, SubscriptionPolicy], ...]:
    """`_MENTOR_POLICIES` as read, a JSON array of [since, policy]: text, or decoded by
    the driver's codec."""
    versions = json.loads(stored) if isinstance(stored, str) else stored
    assert isinstance(versions, list)
    return tuple(
        (datetime.fromisoformat(since), SubscriptionPolicy.model_validate(policy))
        for since, policy in versions
    )


def own_policy(stored: object) -> SubscriptionPolicy | None:
    """The policy column as read: JSON text from the driver, a dict through SQLAlchemy."""
    if stored is None:
        return None
    if isinstance(stored, str):
        return SubscriptionPolicy.model_validate_json(stored)
    return SubscriptionPolicy.model_validate(stored)


async def sessions_of(tx: Tx, subscription_id: UUID) -> tuple[Session, ...]:
    """Every booking of the subscription with its mark, by start."""
    return (await sessions_of_many(tx, [subscription_id]))[subscription_id]


async def sessions_of_many(
    tx: Tx, subscription_ids: Sequence[UUID]
) -> dict[UUID, tuple[Session, ...]]:
    """Every booking of each subscription with its mark, by start, in one statement."""
    sessions: dict[UUID, list[Session]] = {i: [] for i in subscription_ids}
    for r in await (await driver(tx)).fetch(_SESSIONS_OF_RECORDS, list(sessions)):
        values_ = dict(r.items())
        sessions[values_.pop("subscription_id")].append(Session(**values_))
    return {i: tuple(found) for i, found in sessions.items()}


async def subscription_of_booking(tx: Tx, booking_id: UUID) -> UUID | None:
    """Whose a booking is (read without a lock: lock that subscription, then
    read the booking again, with the record)."""
    result = await tx.execute(
        select(bookings.c.subscription_id).where(bookings.c.booking_id == booking_id)
    )
    subscription_id: UUID | None = result.scalar_one_or_none()
    return subscription_id


async def save_record(
    tx: Tx, before: Record, after: Record, history: Sequence[HistoryEntry] = ()
) -> None:
    await save_records(tx, [(before, after)], history)


async def save_records(
    tx: Tx, changes: Sequence[tuple[Record, Record]], history: Sequence[HistoryEntry] = ()
) -> None:
    """Write what changes changed, and append `history`: the sessions new to the
    schedule copy first (rare: a renewal or a reactivation), then the states that
    differ, the marks that differ and the history in one statement. Each statement is
    a round trip, and a join's transaction was made of little else."""
    states = [after for before, after in changes if _state(after) != _state(before)]
    added: list[dict[str, object]] = []
    marked: list[Session] = []
    for before, after in changes:
        known = {s.booking_id: s for s in before.sessions}
        added += [
            booking_row(
                after.subscription_id, after.mentee_id, s.booking_id, s.starts_at, s.ends_at
            )
            for s in after.sessions
            if s.booking_id not in known
        ]
        marked += [s for s in after.sessions if known.get(s.booking_id) != s]
    # Before the marks: a sibling in one statement would not see the rows it inserts.
    await insert_bookings(tx, added)
    if states or marked or history:
        await (await driver(tx)).execute(
            _SAVE_CHANGES,
            *_state_columns(states),
            *_mark_columns(marked),
            *_history_columns(history),
        )


def _state(record: Record) -> dict[str, object]:
    return {name: getattr(record, name) for name in _STATE}


# Set-based writes take arrays (one per column) rather than a VALUES row per record:
# one cached, prepared statement whatever the number of rows. An empty array writes
# nothing, so one statement serves every mix of states, marks and history. Each
# update also finds its rows by primary key through an array computed first (an
# InitPlan, whose size the planner does not guess): joined to the unnest alone, or
# with the array as a literal, without statistics PostgreSQL scanned the whole table
# (40,000 bookings read to mark 128).
_HISTORY_NAMES = [f.name for f in fields(HistoryEntry)]
_SAVE_CHANGES = f"""
    WITH states AS (
        UPDATE subscriptions AS s
        SET cycle_starts_at = v.cycle_starts_at, cycle_ends_at = v.cycle_ends_at,
            ended = v.ended, is_reprobated = v.is_reprobated, reprobated_at = v.reprobated_at,
            reactivated_at = v.reactivated_at,
            warned_streaks = string_to_array(v.warned_streaks, E'\\n'),
            consecutive_absences = v.consecutive_absences,
            reprobation_due_at = v.reprobation_due_at,
            reprobation_lifts_at = v.reprobation_lifts_at
        FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::boolean[],
                    $5::boolean[], $6::timestamptz[], $7::timestamptz[], $8::text[],
                    $9::integer[], $10::timestamptz[], $11::timestamptz[])
            AS v(subscription_id, cycle_starts_at, cycle_ends_at, ended, is_reprobated,
                 reprobated_at, reactivated_at, warned_streaks, consecutive_absences,
                 reprobation_due_at, reprobation_lifts_at)
        WHERE s.subscription_id = ANY(ARRAY(SELECT unnest($1::uuid[])))
          AND s.subscription_id = v.subscription_id
    ), marks AS (
        UPDATE bookings AS b
        SET cancelled = m.cancelled, status = m.status, marked_by = m.marked_by,
            marked_at = m.marked_at, mark_reason = m.mark_reason,
            mark_revision = m.mark_revision, mentor_joined_at = m.mentor_joined_at
        FROM unnest($12::uuid[], $13::boolean[], $14::text[], $15::text[],
                    $16::timestamptz[], $17::text[], $18::integer[], $19::timestamptz[])
            AS m(booking_id, cancelled, status, marked_by, marked_at, mark_reason,
                 mark_revision, mentor_joined_at)
        WHERE b.booking_id = ANY(ARRAY(SELECT unnest($12::uuid[])))
          AND b.booking_id = m.booking_id
    )
    INSERT INTO history ({", ".join(_HISTORY_NAMES)})
    SELECT * FROM unnest($20::uuid[], $21::text[], $22::timestamptz[], $23::text[],
                         $24::uuid[], $25::uuid[], $26::text[], $27::text[], $28::text[])
"""
_INSERT_BOOKINGS = """
    INSERT INTO bookings (booking_id, subscription_id, mentee_id, starts_at, ends_at)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[],
                         $5::timestamptz[])
    ON CONFLICT DO NOTHING
    RETURNING booking_id
"""


def _columns(rows: Sequence[dict[str, object]]) -> dict[str, list[object]]:
    """Rows as one list per column: the parameters of an unnest."""
    return {name: [row[name] for row in rows] for name in rows[0]}


def _state_columns(records: Sequence[Record]) -> list[list[object]]:
    """The streak state of `records`, one list per column of `_SAVE_CHANGES`'s states.
    unnest takes no array of arrays of different lengths: each set of warned streaks
    travels as one line-separated text (a key is an ISO time or "start", never a line
    break)."""
    columns: list[list[object]] = [[r.subscription_id for r in records]]
    for name in _STATE:
        if name == "warned_streaks":
            columns.append(["\n".join(sorted(r.warned_streaks)) for r in records])
        else:
            columns.append([getattr(r, name) for r in records])
    return columns


# The Session fields `_SAVE_CHANGES`'s marks take, in the order of its columns.
_MARK_FIELDS = (
    "booking_id",
    "cancelled",
    "status",
    "marked_by",
    "marked_at",
    "reason",
    "revision",
    "mentor_joined_at",
)


def _mark_columns(sessions: Sequence[Session]) -> list[list[object]]:
    """The marks (and cancellation) of `sessions`, one list per column of its marks."""
    return [[getattr(s, name) for s in sessions] for name in _MARK_FIELDS]


def _history_columns(entries: Sequence[HistoryEntry]) -> list[list[object]]:
    return [[getattr(e, name) for e in entries] for name in _HISTORY_NAMES]


async def add_bookings(
    tx: Tx, subscription_id: UUID, mentee_id: UUID, refs: Sequence[BookingRef]
) -> int:
    """Add bookings to the schedule copy, in one statement; those known stay as they are."""
    rows = [
        booking_row(subscription_id, mentee_id, r.booking_id, r.starts_at, r.ends_at) for r in refs
    ]
    return len(await insert_bookings(tx, rows))


def booking_row(
    subscription_id: UUID, mentee_id: UUID, booking_id: UUID, starts_at: datetime, ends_at: datetime
) -> dict[str, object]:
    return {
        "booking_id": booking_id,
        "subscription_id": subscription_id,
        "mentee_id": mentee_id,
        "starts_at": starts_at,
        "ends_at": ends_at,
    }


async def insert_bookings(tx: Tx, rows: Sequence[dict[str, object]]) -> set[UUID]:
    """Add rows (`booking_row`) to the schedule copy, in one statement; those known stay
    as they are. Returns the ids added."""
    if not rows:
        return set()
    # In the column order of the statement (`booking_row`'s).
    added = await (await driver(tx)).fetch(_INSERT_BOOKINGS, *_columns(rows).values())
    return {row[0] for row in added}


async def subscriptions_of_bookings(tx: Tx, booking_ids: Iterable[UUID]) -> dict[UUID, UUID]:
    """Whose each known booking is (read without a lock, as `subscription_of_booking`)."""
    rows = await (await driver(tx)).fetch(
        "SELECT booking_id, subscription_id FROM bookings WHERE booking_id = ANY($1::uuid[])",
        list(set(booking_ids)),
    )
    return {r["booking_id"]: r["subscription_id"] for r in rows}


async def lock_subscriptions(tx: Tx, subscription_ids: Iterable[UUID]) -> None:
    """`lock_subscription` for many, in id order."""
    await tx.execute(
        select(subscriptions.c.subscription_id)
        .where(subscriptions.c.subscription_id.in_(sorted(set(subscription_ids))))
        .order_by(subscriptions.c.subscription_id)
        .with_for_update()
    )


async def cancel_bookings(tx: Tx, booking_ids: Sequence[UUID]) -> set[UUID]:
    """Cancel the bookings not cancelled yet; returns those."""
    result = await tx.execute(
        update(bookings)
        .where(bookings.c.booking_id.in_(booking_ids), bookings.c.cancelled.is_(False))
        .values(cancelled=True)
        .returning(bookings.c.booking_id)
    )
    return set(result.scalars())


# --- appeals ------------------------------------------------------------------------

_APPEAL_NAMES = [f.name for f in fields(Appeal)]


async def _appeals_where(tx: Tx, which: ColumnElement[bool]) -> list[Appeal]:
    """The appeals `which` selects, open ones first, then newest first."""
    a = appeals.c
    result = await tx.execute(
        select(*(a[name] for name in _APPEAL_NAMES))
        .where(which)
        .order_by((a.status == "open").desc(), a.filed_at.desc(), a.appeal_id)
    )
    return [Appeal(**row._mapping) for row in result]


async def appeals_of_booking(tx: Tx, booking_id: UUID) -> list[Appeal]:
    return await _appeals_where(tx, appeals.c.booking_id == booking_id)


async def appeals_of(tx: Tx, subscription_id: UUID) -> list[Appeal]:
    return await _appeals_where(tx, appeals.c.subscription_id == subscription_id)


async def appeals_of_many(tx: Tx, subscription_ids: Sequence[UUID]) -> dict[UUID, list[Appeal]]:
    """`appeals_of` for several subscriptions, in one statement."""
    found: dict[UUID, list[Appeal]] = {i: [] for i in subscription_ids}
    for a in await _appeals_where(tx, appeals.c.subscription_id.in_(list(subscription_ids))):
        found[a.subscription_id].append(a)
    return found


async def appeal(tx: Tx, appeal_id: UUID) -> Appeal | None:
    found = await _appeals_where(tx, appeals.c.appeal_id == appeal_id)
    return found[0] if found else None


async def save_appeals(tx: Tx, filed_or_decided: Sequence[Appeal]) -> None:
    """Add the appeals filed, and write the decisions on those known."""
    if filed_or_decided:
        rows = [{name: getattr(a, name) for name in _APPEAL_NAMES} for a in filed_or_decided]
        insert = pg_insert(appeals).values(rows)
        await tx.execute(
            insert.on_conflict_do_update(
                index_elements=[appeals.c.appeal_id],
                set_={
                    "status": insert.excluded.status,
                    "decided_at": insert.excluded.decided_at,
                    "decision_reason": insert.excluded.decision_reason,
                },
            )
        )


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
    reprobated_at: datetime | None
    reactivated_at: datetime | None
    reprobation_due_at: datetime | None
    reprobation_lifts_at: datetime | None
    cycle_starts_at: datetime
    cycle_ends_at: datetime
    policy: SubscriptionPolicy | None
    # The mentor's own, as it stands now (their latest edit).
    mentor_policy: SubscriptionPolicy | None
    # The rule that reached the latest reprobation (or pending one), in words.
    reprobated_for: str | None
    consecutive_absences: int
    absences: int  # in the current cycle
    mentor_no_shows: int  # in the current cycle
    upcoming_bookings: int
    next_booking_at: datetime | None
    last_attended_at: datetime | None
    open_appeals: int
    # The mentor's, from their latest activation that gave one (`mentor_zone`), not
    # necessarily this subscription's.
    mentor_timezone: str | None


def mentor_zone(mentor_id: ColumnElement[UUID]) -> ColumnElement[str | None]:
    """The zone of the mentor's most recently activated subscription that has one: an
    index lookup (subscriptions_mentor_zone)."""
    latest = subscriptions.alias("latest")
    return (
        select(latest.c.mentor_timezone)
        .where(latest.c.mentor_id == mentor_id, latest.c.mentor_timezone.is_not(None))
        .order_by(latest.c.activated_at.desc().nulls_last(), latest.c.subscription_id)
        .limit(1)
        .scalar_subquery()
    )


# The Subscriber fields read as they are from the subscription's row.
_SUBSCRIBER_COLUMNS = [
    f.name for f in fields(Subscriber) if f.name in subscriptions.c and f.name != "mentor_timezone"
]
# The history says which rule reached the latest reprobation (or pending one).
_REPROBATED_FOR = (
    select(history.c.reason)
    .where(
        history.c.subscription_id == subscriptions.c.subscription_id,
        history.c.kind.in_(["reprobation", "pending"]),
    )
    .order_by(history.c.at.desc(), history.c.entry_id.desc())
    .limit(1)
    .scalar_subquery()
    .label("reprobated_for")
)
_mp = mentor_policies_table.c
# The mentor's latest edit of their own policy.
_MENTOR_POLICY = (
    select(_mp.policy)
    .where(_mp.mentor_id == subscriptions.c.mentor_id)
    .order_by(_mp.since.desc())
    .limit(1)
    .scalar_subquery()
    .label("mentor_policy")
)


NEAR = timedelta(days=1)


async def sessions_near(tx: Tx, mentor_id: UUID, now: datetime) -> list[dict[str, object]]:
    """The live sessions of the mentor's subscriptions starting within a day of `now`,
    by start: one index range per subscription."""
    b = bookings.c
    result = await tx.execute(
        select(b.subscription_id, b.booking_id, b.starts_at, b.ends_at, b.status)
        .join(subscriptions, subscriptions.c.subscription_id == b.subscription_id)
        .where(
            subscriptions.c.mentor_id == mentor_id,
            b.cancelled.is_(False),
            b.starts_at >= now - NEAR,
            b.starts_at < now + NEAR,
        )
        .order_by(b.starts_at, b.subscription_id)
    )
    return [dict(r._mapping) for r in result]


async def subscribers_of(
    tx: Tx, mentor_id: UUID, now: datetime, counting: Collection[str]
) -> list[Subscriber]:
    return await _subscribers(tx, subscriptions.c.mentor_id == mentor_id, now, counting)


async def one_snapshot(tx: Tx) -> None:
    """Make the rest of this read-only transaction see one snapshot: a read of several
    statements (a subscription, then its sessions, then its appeals) could otherwise
    show a mark with the streak from before it (READ COMMITTED reads each statement's
    own). First in its transaction."""
    await tx.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))


async def subscriptions_of_mentee(
    tx: Tx, mentee_id: UUID, now: datetime, counting: Collection[str]
) -> list[Subscriber]:
    return await _subscribers(tx, subscriptions.c.mentee_id == mentee_id, now, counting)


async def subscriber(
    tx: Tx, subscription_id: UUID, now: datetime, counting: Collection[str]
) -> Subscriber | None:
    found = await _subscribers(
        tx, subscriptions.c.subscription_id == subscription_id, now, counting
    )
    return found[0] if found else None


async def _subscribers(
    tx: Tx, which: ColumnElement[bool], now: datetime, counting: Collection[str]
) -> list[Subscriber]:
    """One row per subscription with its counts, in one statement (no query per
    subscriber); an absence is a session whose status is one of `counting`."""
    b = bookings.c
    live = b.cancelled.is_(False)
    # A cancelled session counts only when cancelling was its mark (a late cancellation).
    cancelling = b.status.in_(sorted(CANCELLATIONS))
    in_cycle = and_(
        b.starts_at >= subscriptions.c.cycle_starts_at, b.starts_at < subscriptions.c.cycle_ends_at
    )
    upcoming = and_(live, b.starts_at >= now)
    query = (
        select(
            *(subscriptions.c[name] for name in _SUBSCRIBER_COLUMNS),
            mentor_zone(subscriptions.c.mentor_id).label("mentor_timezone"),
            _MENTOR_POLICY,
            _REPROBATED_FOR,
            func.count(b.booking_id)
            .filter(and_(in_cycle, b.status.in_(sorted(counting)), or_(live, cancelling)))
            .label("absences"),
            func.count(b.booking_id)
            .filter(and_(live, in_cycle, b.status == "mentor_no_show"))
            .label("mentor_no_shows"),
            func.count(b.booking_id).filter(upcoming).label("upcoming_bookings"),
            func.min(b.starts_at).filter(upcoming).label("next_booking_at"),
            # Never in the future, whatever a mark made before this rule says.
            func.max(b.starts_at)
            .filter(b.status.in_(sorted(ATTENDED)), b.starts_at <= now)
            .label("last_attended_at"),
            select(func.count())
            .where(
                appeals.c.subscription_id == subscriptions.c.subscription_id,
                appeals.c.status == "open",
            )
            .scalar_subquery()
            .label("open_appeals"),
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
    return [
        Subscriber(
            **{
                **r._mapping,
                "policy": own_policy(r.policy),
                "mentor_policy": own_policy(r.mentor_policy),
            }
        )
        for r in await tx.execute(query)
    ]


# --- the history -----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryLine:
    """A history entry as the mentor reads it, with the start of its session (and, for a
    make-up's line, what its step says: rpc.HistoryMakeup's fields)."""

    entry: HistoryEntry
    session_starts_at: datetime | None
    makeup: dict[str, object] | None = None


async def history_of(tx: Tx, subscription_id: UUID) -> list[HistoryLine]:
    """The subscription's history, oldest first."""
    h = history.c
    result = await tx.execute(
        select(*(h[name] for name in _HISTORY_NAMES), h.makeup, bookings.c.starts_at)
        .select_from(history.outerjoin(bookings, bookings.c.booking_id == h.booking_id))
        .where(h.subscription_id == subscription_id)
        .order_by(h.at, h.entry_id)
    )
    return [
        HistoryLine(
            HistoryEntry(**{n: row._mapping[n] for n in _HISTORY_NAMES}),
            row.starts_at,
            row.makeup,
        )
        for row in result
    ]


async def unknown_subscriptions(tx: Tx, subscription_ids: Iterable[UUID]) -> set[UUID]:
    """Those of `subscription_ids` whose activation attendance has not handled yet."""
    wanted = set(subscription_ids)
    result = await tx.execute(
        select(subscriptions.c.subscription_id).where(subscriptions.c.subscription_id.in_(wanted))
    )
    return wanted - set(result.scalars())


async def makeup_steps_of(tx: Tx, missed_booking_ids: Collection[UUID]) -> set[StepKey]:
    """The make-up steps the history holds for these missed sessions (none asked: no
    statement)."""
    if not missed_booking_ids:
        return set()
    h = history.c
    result = await tx.execute(
        select(h.booking_id, h.new_status, h.at).where(
            h.kind == "makeup", h.booking_id.in_(set(missed_booking_ids))
        )
    )
    return {(r.booking_id, r.new_status, r.at) for r in result}


async def add_makeup_steps(tx: Tx, steps: Sequence[Step]) -> set[StepKey]:
    """Append each make-up step's line unless the history holds it (the same step
    announced again); returns the keys of the lines written now."""
    if not steps:
        return set()
    rows = [
        {**{n: getattr(s.entry, n) for n in _HISTORY_NAMES}, "makeup": _makeup_json(s)}
        for s in steps
    ]
    h = history.c
    result = await tx.execute(
        pg_insert(history)
        .values(rows)
        .on_conflict_do_nothing(
            index_elements=[h.booking_id, h.new_status, h.at], index_where=h.kind == "makeup"
        )
        .returning(h.booking_id, h.new_status, h.at)
    )
    return {(r.booking_id, r.new_status, r.at) for r in result}


def _makeup_json(step: Step) -> dict[str, object]:
    return step.makeup.model_dump(mode="json", exclude_defaults=True)


@dataclass(frozen=True)
class Owner:
    """Whose subscription it is, and the zone its times are read in."""

    mentor_id: UUID
    slot_timezone: str


async def owner_of(tx: Tx, subscription_id: UUID) -> Owner | None:
    result = await tx.execute(
        select(subscriptions.c.mentor_id, subscriptions.c.slot_timezone).where(
            subscriptions.c.subscription_id == subscription_id
        )
    )
    row = result.one_or_none()
    return None if row is None else Owner(**row._mapping)


# --- the mentor's export ----------------------------------------------------------------


@dataclass(frozen=True)
class ExportedSession:
    """One booking of a mentor's, as the attendance export lists it."""

    mentee_name: str
    mentee_email: str
    slot_timezone: str
    booking_id: UUID
    starts_at: datetime
    cancelled: bool
    status: str | None
    marked_by: str | None
    marked_at: datetime | None
    reason: str | None


async def sessions_of_mentor(
    tx: Tx, mentor_id: UUID, starts_from: datetime, starts_before: datetime
) -> list[ExportedSession]:
    """Every booking of the mentor's subscriptions starting in [starts_from, starts_before),
    by start, in one statement."""
    b, s = bookings.c, subscriptions.c
    result = await tx.execute(
        select(
            s.mentee_name,
            s.mentee_email,
            s.slot_timezone,
            b.booking_id,
            b.starts_at,
            b.cancelled,
            b.status,
            b.marked_by,
            b.marked_at,
            b.mark_reason.label("reason"),
        )
        .select_from(bookings.join(subscriptions, s.subscription_id == b.subscription_id))
        .where(s.mentor_id == mentor_id, b.starts_at >= starts_from, b.starts_at < starts_before)
        .order_by(b.starts_at, s.mentee_name, b.booking_id)
    )
    return [ExportedSession(**row._mapping) for row in result]

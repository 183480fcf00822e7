"""A batch leaves what its messages one by one would, on the real database.

The same facts (absences, joins, cancellations, reprobations, reactivations of
several subscriptions, one of them unknown) are applied in several orders: each
order once message by message, once as one batch. The tables and the outbox
must come out the same. Each run happens in a transaction that is rolled back,
so every run starts from the same seeded state.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text

from contracts import (
    AttendanceMarked,
    BookingRef,
    BookingsCancelled,
    BookingUnattended,
    Event,
    MenteeReactivated,
    MenteeReprobated,
    Person,
    SessionJoined,
    Slot,
    SubscriptionActivated,
)
from services.attendance import handlers as attendance
from services.attendance import store as attendance_store
from services.attendance.app import MIGRATIONS as ATTENDANCE_MIGRATIONS
from services.attendance.domain import Policy as AttendancePolicy
from services.booking import handlers as booking
from services.booking.app import MIGRATIONS as BOOKING_MIGRATIONS
from services.booking.domain import Policy as BookingPolicy
from services.booking.domain import Subscription
from services.kit.database import Database, Tx
from services.kit.errors import BookingNotKnownYet, SubscriptionNotKnownYet
from services.kit.settings import Settings
from tests.conftest import derived

MONDAY = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
WEEK = timedelta(weeks=1)
HOUR = timedelta(hours=1)
ATTENDANCE_POLICY = AttendancePolicy(
    warn_after=1, reprobate_after=2, join_opens_before=timedelta(minutes=15)
)
BOOKING_POLICY = BookingPolicy(sweep_grace=timedelta(minutes=15))
ORDERS = 5

Handler = Callable[[Tx, Sequence[Any], Any], Awaitable[Sequence[str]]]


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return derived(settings, "batch")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def attendance_db(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings, "attendance", pool_size=2)
    await db.prepare(ATTENDANCE_MIGRATIONS)
    yield db
    await db.dispose()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def booking_db(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings, "booking", pool_size=2)
    await db.prepare(BOOKING_MIGRATIONS)
    yield db
    await db.dispose()


def activation(i: int) -> SubscriptionActivated:
    return SubscriptionActivated(
        occurred_at=MONDAY - 4 * WEEK,
        subscription_id=uuid.UUID(int=1000 + i),
        mentee=Person(id=uuid.UUID(int=2000 + i), name=f"Mentee {i}", email=f"e{i}@example.com"),
        mentor=Person(id=uuid.UUID(int=3000), name="Ana", email="ana@example.com"),
        slot=Slot(weekday=0, start_time="18:00", duration_minutes=60, timezone="UTC"),
        cycle_starts_at=MONDAY - 4 * WEEK,
        cycle_ends_at=MONDAY + 2 * WEEK,
    )


def sessions_of(i: int) -> list[BookingRef]:
    """Six weekly sessions: four past, two to come."""
    return [
        BookingRef(
            booking_id=uuid.UUID(int=10_000 + 10 * i + k),
            starts_at=MONDAY + (k - 4) * WEEK,
            ends_at=MONDAY + (k - 4) * WEEK + HOUR,
        )
        for k in range(6)
    ]


def attendance_facts() -> list[Event]:
    """Per subscription: absences, a join inside (and one outside) a window, a late
    absence report for an attended session, a cancellation. Subscriptions 0, 1 and 2
    reach a reprobation, a warning, or neither."""
    facts: list[Event] = []
    for i in range(3):
        a = activation(i)
        refs = sessions_of(i)
        for k in (0, 1, 2) if i == 0 else (0, 2) if i == 1 else (1,):
            facts.append(_unattended(a, refs[k]))
        facts.append(_joined(a, refs[3], refs[3].starts_at + timedelta(minutes=5)))
        facts.append(_unattended(a, refs[3]))
        facts.append(_joined(a, refs[1], refs[1].starts_at - 2 * HOUR))  # outside
        facts.append(
            BookingsCancelled(
                occurred_at=MONDAY,
                subscription_id=a.subscription_id,
                booking_ids=[refs[5].booking_id],
                reason="reprobation",
            )
        )
    return facts


def _unattended(a: SubscriptionActivated, ref: BookingRef) -> BookingUnattended:
    return BookingUnattended(
        occurred_at=ref.ends_at + HOUR,
        booking_id=ref.booking_id,
        subscription_id=a.subscription_id,
        mentee_id=a.mentee.id,
        mentor_id=a.mentor.id,
        starts_at=ref.starts_at,
        ends_at=ref.ends_at,
        detected_at=ref.ends_at + HOUR,
    )


def _joined(a: SubscriptionActivated, ref: BookingRef, at: datetime) -> SessionJoined:
    return SessionJoined(
        occurred_at=at, booking_id=ref.booking_id, mentee_id=a.mentee.id, joined_at=at
    )


ATTENDANCE_HANDLERS: dict[type[Event], Handler] = {
    BookingUnattended: attendance.record_absences,
    SessionJoined: attendance.record_joins,
    BookingsCancelled: attendance.cancel_bookings,
}


async def apply_attendance(tx: Tx, facts: Sequence[Event], *, batched: bool) -> list[str]:
    """As the kit does: one queue per message type, so a batch holds one type; batched,
    each run of same-typed messages is one batch, else each message is its own."""
    outcomes: list[str] = []
    for group in _runs(facts) if batched else [[f] for f in facts]:
        handler = ATTENDANCE_HANDLERS[type(group[0])]
        outcomes += await handler(tx, group, ATTENDANCE_POLICY)
    return outcomes


def _runs(facts: Sequence[Event]) -> list[list[Event]]:
    runs: list[list[Event]] = []
    for fact in facts:
        if runs and type(runs[-1][0]) is type(fact):
            runs[-1].append(fact)
        else:
            runs.append([fact])
    return runs


async def seed_attendance(tx: Tx) -> None:
    for i in range(3):
        a = activation(i)
        await attendance_store.add_subscriptions(tx, [a])
        await attendance_store.add_bookings(tx, a.subscription_id, a.mentee.id, sessions_of(i))


async def state(tx: Tx, tables: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of `tables`, and the outbox's events in their order per subscription
    (events about different subscriptions may interleave differently)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table in tables:
        rows = (await tx.execute(text(f"SELECT * FROM {table}"))).all()
        found[table] = sorted(tuple(r) for r in rows)
    events = await tx.execute(
        text("SELECT event_id, routing_key, body::text FROM outbox ORDER BY id")
    )
    per_subscription: dict[str, list[tuple[Any, ...]]] = {}
    for e in events:
        key = str(e.body).split('"subscription_id": "', 1)[-1][:36]
        per_subscription.setdefault(key, []).append(tuple(e))
    found["outbox"] = sorted((k, tuple(v)) for k, v in per_subscription.items())
    return found


async def run_in_rollback(
    db: Database, seed: Callable[[Tx], Awaitable[None]], apply: Callable[[Tx], Awaitable[Any]]
) -> tuple[Any, dict[str, list[tuple[Any, ...]]], list[str]]:
    async with db.engine.connect() as conn:
        outer = await conn.begin()
        try:
            await seed(conn)
            outcome = await apply(conn)
            return outcome, await state(conn, TABLES[db.service]), TABLES[db.service]
        finally:
            await outer.rollback()


TABLES = {"attendance": ["subscriptions", "bookings"], "booking": ["subscriptions", "bookings"]}


@pytest.mark.asyncio(loop_scope="session")
async def test_an_attendance_batch_leaves_what_one_by_one_leaves_in_any_order(
    attendance_db: Database,
) -> None:
    facts = attendance_facts()
    rng = random.Random(14)
    orders = [facts] + [rng.sample(facts, len(facts)) for _ in range(ORDERS - 1)]
    for order in orders:
        one_by_one, expected, _ = await run_in_rollback(
            attendance_db,
            seed_attendance,
            lambda tx, o=order: apply_attendance(tx, o, batched=False),
        )
        batched, found, _ = await run_in_rollback(
            attendance_db,
            seed_attendance,
            lambda tx, o=order: apply_attendance(tx, o, batched=True),
        )
        assert batched == one_by_one
        assert found == expected
    # The facts decide something: reprobations, warnings and marks were written.
    routing_keys = {e[1] for _, events in expected["outbox"] for e in events}
    assert {"mentee.warned", "mentee.reprobated", "attendance.marked"} <= routing_keys


@pytest.mark.asyncio(loop_scope="session")
async def test_an_attendance_batch_with_an_unknown_subscription_fails_whole(
    attendance_db: Database,
) -> None:
    """The kit then applies each message alone: only the unknown one waits."""
    facts: list[Event] = [_unattended(activation(0), sessions_of(0)[0])]
    facts.append(_unattended(activation(7), sessions_of(7)[0]))
    with pytest.raises(SubscriptionNotKnownYet):
        await run_in_rollback(
            attendance_db, seed_attendance, lambda tx: apply_attendance(tx, facts, batched=True)
        )


@pytest.mark.asyncio(loop_scope="session")
async def test_an_attendance_batch_with_a_join_for_an_unknown_booking_fails_whole(
    attendance_db: Database,
) -> None:
    """A join attendance has no schedule for yet is retried alone, not dropped: the
    gateway checked the booking with booking, so its schedule is on the way."""
    a = activation(0)
    facts: list[Event] = [_joined(a, sessions_of(0)[3], sessions_of(0)[3].starts_at)]
    facts.append(
        SessionJoined(
            occurred_at=MONDAY, booking_id=uuid.uuid4(), mentee_id=a.mentee.id, joined_at=MONDAY
        )
    )
    with pytest.raises(BookingNotKnownYet):
        await run_in_rollback(
            attendance_db, seed_attendance, lambda tx: apply_attendance(tx, facts, batched=True)
        )


# --- booking: lifecycle facts, several about one subscription in one batch ------------


def booking_facts() -> list[Event]:
    facts: list[Event] = []
    for i in range(3):
        subscription_id = activation(i).subscription_id
        facts.append(
            MenteeReprobated(
                event_id=uuid.UUID(int=50_000 + i),
                occurred_at=MONDAY,
                subscription_id=subscription_id,
                mentee_id=activation(i).mentee.id,
                mentor_id=activation(i).mentor.id,
                reprobated_at=MONDAY - HOUR,
                consecutive_absences=2,
                missed_booking_ids=[],
            )
        )
        if i != 2:
            facts.append(
                MenteeReactivated(
                    event_id=uuid.UUID(int=60_000 + i),
                    occurred_at=MONDAY + timedelta(minutes=5 + i),
                    subscription_id=subscription_id,
                    mentee_id=activation(i).mentee.id,
                    mentor_id=activation(i).mentor.id,
                    reactivated_at=MONDAY + timedelta(minutes=5 + i),
                    reactivated_by=activation(i).mentor.id,
                )
            )
    # A second reprobation of subscription 0, after its reactivation; a new subscription
    # activated twice, and subscription 0 again.
    again = facts[0].model_copy(
        update={"event_id": uuid.UUID(int=50_100), "reprobated_at": MONDAY + HOUR}
    )
    return [*facts, again, activation(3), activation(3), activation(0), *marks()]


def marks() -> list[AttendanceMarked]:
    """Attendance's marks for subscription 1's first bookings: a later revision over an
    earlier one (and the other way round), marks without a revision, an unknown booking."""
    first, second, third = [b.booking_id for b in Subscription.activate(activation(1)).to_book][:3]
    subscription_id = activation(1).subscription_id

    def mark(
        n: int, booking_id: uuid.UUID, attended: bool, revision: int | None
    ) -> AttendanceMarked:
        return AttendanceMarked(
            event_id=uuid.UUID(int=70_000 + n),
            occurred_at=MONDAY,
            booking_id=booking_id,
            subscription_id=subscription_id,
            attended=attended,
            marked_by="system" if revision == 1 else "mentor",
            marked_at=MONDAY + timedelta(minutes=n),
            revision=revision,
        )

    return [
        mark(0, first, False, 1),
        mark(1, first, True, 2),
        mark(2, second, True, 2),
        mark(3, second, False, 1),
        mark(4, third, True, None),
        mark(5, third, False, None),
        mark(6, uuid.UUID(int=99_999), True, 1),
    ]


BOOKING_HANDLERS: dict[type[Event], Handler] = {
    SubscriptionActivated: booking.activate_subscriptions,
    MenteeReprobated: booking.cancel_for_reprobations,
    MenteeReactivated: booking.regenerate_bookings,
    AttendanceMarked: booking.record_attendance,
}


async def seed_booking(tx: Tx) -> None:
    await booking.activate_subscriptions(tx, [activation(i) for i in range(3)], BOOKING_POLICY)


async def apply_booking(tx: Tx, facts: Sequence[Event], *, batched: bool) -> list[str]:
    """Batched, all facts of one type are one batch (several about one subscription
    included), in their order; across types, the order of first appearance."""
    outcomes: dict[int, str] = {}
    if not batched:
        for i, fact in enumerate(facts):
            outcomes[i] = (await BOOKING_HANDLERS[type(fact)](tx, [fact], BOOKING_POLICY))[0]
        return [outcomes[i] for i in range(len(facts))]
    for group in _runs(facts):
        results = await BOOKING_HANDLERS[type(group[0])](tx, group, BOOKING_POLICY)
        outcomes.update({facts.index(f): r for f, r in zip(group, results, strict=True)})
    return [outcomes[i] for i in range(len(facts))]


@pytest.mark.asyncio(loop_scope="session")
async def test_a_booking_batch_leaves_what_one_by_one_leaves_in_any_order(
    booking_db: Database,
) -> None:
    facts = booking_facts()
    rng = random.Random(41)
    orders = [facts] + [rng.sample(facts, len(facts)) for _ in range(ORDERS - 1)]
    # Sorted by type, so that one batch holds several facts about one subscription.
    orders.append(sorted(facts, key=lambda f: f.routing_key))
    for order in orders:
        one_by_one, expected, _ = await run_in_rollback(
            booking_db, seed_booking, lambda tx, o=order: apply_booking(tx, o, batched=False)
        )
        batched, found, _ = await run_in_rollback(
            booking_db, seed_booking, lambda tx, o=order: apply_booking(tx, o, batched=True)
        )
        assert batched == one_by_one
        assert found == expected
    routing_keys = {e[1] for _, events in expected["outbox"] for e in events}
    assert {"bookings.cancelled", "bookings.scheduled"} <= routing_keys
    # The batch kept a later revision over an earlier one that came after it, as one
    # by one did.
    assert "kept mark revision 2 over 1" in one_by_one

"""The booking service in-process on the real broker and database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import event

from contracts import (
    AttendanceMarked,
    BookingsCancelled,
    BookingsScheduled,
    BookingUnattended,
    MakeupOwed,
    MakeupUsed,
    MakeupWithdrawn,
    MenteeReactivated,
    MenteeReprobated,
    Person,
    Slot,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
    SweepTick,
)
from contracts.rpc import (
    BookingFound,
    FindBooking,
    ListMakeups,
    ListMenteeBookings,
    MakeupScheduled,
    MakeupsReply,
    MenteeBookingsReply,
    ScheduleMakeup,
)
from services.booking.app import create_runtime
from services.booking.domain import Policy
from services.gateway.owners import Owners
from services.kit.database import Database, driver
from services.kit.messaging import Messaging
from services.kit.runtime import ServiceRuntime
from services.kit.settings import Settings
from tests.conftest import derived
from tests.support.listening import Listener, listening, publish
from tests.support.settling import applied, settled
from tests.support.waiting import eventually

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
KEYS = ["bookings.#", "booking.unattended"]
Mark = tuple[str | None, bool | None]  # a booking's (status, attended), as the mentee sees it


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    # Booking alone in its namespace: its sweeps see only these tests' bookings.
    return derived(settings, "bk")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def booking(settings: Settings) -> AsyncIterator[ServiceRuntime[Policy]]:
    runtime = create_runtime(settings)
    app = runtime.app()
    await app.start()
    try:
        yield runtime
    finally:
        await app.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def owners(settings: Settings) -> AsyncIterator[Owners]:
    messaging = Messaging(settings, "gateway")
    await messaging.declare()
    await messaging.broker.start()
    try:
        yield Owners(messaging, timeout=5)
    finally:
        await messaging.broker.stop()
        await messaging.close()


@pytest_asyncio.fixture(loop_scope="session")
async def bus(settings: Settings, booking: ServiceRuntime[Policy]) -> AsyncIterator[Listener]:
    async with listening(settings, KEYS) as listener:
        yield listener


@pytest_asyncio.fixture(loop_scope="session")
async def makeup_bus(
    settings: Settings, booking: ServiceRuntime[Policy]
) -> AsyncIterator[Listener]:
    async with listening(settings, ["makeup.*"]) as listener:
        yield listener


def activation(weeks: int = 4, starts: datetime = MONDAY) -> SubscriptionActivated:
    return SubscriptionActivated(
        occurred_at=starts,
        subscription_id=uuid.uuid4(),
        mentee=Person(id=uuid.uuid4(), name="Maria", email="maria@example.com"),
        mentor=Person(id=uuid.uuid4(), name="Otto", email="otto@example.com"),
        slot=Slot(weekday=0, start_time="18:00", duration_minutes=60, timezone="UTC"),
        cycle_starts_at=starts,
        cycle_ends_at=starts + timedelta(weeks=weeks),
    )


async def activate(
    settings: Settings, bus: Listener, sub: SubscriptionActivated
) -> list[uuid.UUID]:
    await publish(settings, sub)
    [scheduled] = await bus.wait_for(BookingsScheduled, subscription_id=sub.subscription_id)
    return [b.booking_id for b in scheduled.bookings]


async def test_activation_books_every_weekly_occurrence_of_the_cycle_once(
    settings: Settings, booking: ServiceRuntime[Policy], bus: Listener
) -> None:
    sub = activation(weeks=4)
    await publish(settings, sub)
    [scheduled] = await bus.wait_for(BookingsScheduled, subscription_id=sub.subscription_id)
    assert [b.starts_at for b in scheduled.bookings] == [
        MONDAY + timedelta(weeks=w, hours=18) for w in range(4)
    ]
    assert all(b.ends_at - b.starts_at == timedelta(hours=1) for b in scheduled.bookings)

    again = sub.model_copy(update={"event_id": uuid.uuid4()})
    await publish(settings, again, sub)
    # Booking's one consumer takes subscription.activated in order: once a later
    # activation is booked, the two copies were handled.
    await activate(settings, bus, activation())
    await settled(bus, booking.db, BookingsScheduled)
    assert bus.of(BookingsScheduled, subscription_id=sub.subscription_id) == [scheduled]


async def test_the_sweep_marks_due_bookings_unattended_in_start_order_once(
    settings: Settings, booking: ServiceRuntime[Policy], bus: Listener
) -> None:
    sub = activation(weeks=4, starts=MONDAY + timedelta(weeks=60))
    ids = await activate(settings, bus, sub)
    # The third session ends at 19:00 UTC; with 15 minutes of grace it is due at 19:15.
    third_end = sub.cycle_starts_at + timedelta(weeks=2, hours=19)
    tick = SweepTick(occurred_at=third_end, tick_at=third_end + timedelta(minutes=15))
    await publish(settings, tick)
    swept = await bus.wait_for(BookingUnattended, 3, subscription_id=sub.subscription_id)
    assert [m.booking_id for m in swept] == ids[:3]
    assert {m.detected_at for m in swept} == {tick.tick_at}

    # The sentinel: a session ending a minute after the third, so due only at a later
    # tick, published after the three that must sweep nothing more on the same queue.
    later = activation(weeks=1, starts=sub.cycle_starts_at + timedelta(weeks=2))
    later = later.model_copy(update={"slot": later.slot.model_copy(update={"start_time": "18:01"})})
    [sentinel] = await activate(settings, bus, later)
    duplicate = tick.model_copy(update={"event_id": uuid.uuid4()})
    stale = SweepTick(occurred_at=third_end, tick_at=third_end - timedelta(days=1))
    after = tick.tick_at + timedelta(minutes=2)
    await publish(settings, tick, duplicate, stale, SweepTick(occurred_at=after, tick_at=after))
    [swept_later] = await bus.wait_for(BookingUnattended, subscription_id=later.subscription_id)
    assert swept_later.booking_id == sentinel
    await settled(bus, booking.db, BookingUnattended)
    assert len(bus.of(BookingUnattended, subscription_id=sub.subscription_id)) == 3


async def test_a_sweep_of_thousands_of_bookings_takes_a_handful_of_statements(
    settings: Settings, booking: ServiceRuntime[Policy], bus: Listener
) -> None:
    base = MONDAY + timedelta(weeks=200)
    subs = [activation(weeks=3, starts=base) for _ in range(1200)]
    await publish(settings, *subs)
    for sub in subs[-5:]:
        await bus.wait_for(BookingsScheduled, subscription_id=sub.subscription_id, within=30)
    await bus.wait_for(BookingsScheduled, len(subs), within=60)

    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(booking.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        tick_at = base + timedelta(weeks=1, hours=20)  # after the second session of each
        await publish(settings, SweepTick(occurred_at=tick_at, tick_at=tick_at))
        ours = {s.subscription_id for s in subs}

        async def swept_ours() -> list[BookingUnattended]:
            return [m for m in bus.of(BookingUnattended) if m.subscription_id in ours]

        swept = await eventually(swept_ours, lambda found: len(found) >= 2400, within=60)
    finally:
        event.remove(booking.db.engine.sync_engine, "before_cursor_execute", count)
    # The tick was applied in one transaction, so everything it wrote is out once the
    # outbox is drained: nothing more arrives (the third sessions are not due yet).
    await settled(bus, booking.db, BookingUnattended)
    assert len(await swept_ours()) == 2400
    assert {m.detected_at for m in swept} == {tick_at}
    sweep_updates = [s for s in statements if "SET status = 'unattended'" in s]
    assert len(sweep_updates) == 1  # 2,400 rows fit one batch of 5,000
    assert len([s for s in statements if "INSERT INTO outbox" in s]) <= 2


async def test_reprobation_cancels_exactly_the_later_bookings(
    settings: Settings, bus: Listener
) -> None:
    sub = activation(weeks=5, starts=MONDAY + timedelta(weeks=100))
    ids = await activate(settings, bus, sub)
    reprobated_at = sub.cycle_starts_at + timedelta(weeks=1, hours=20)
    await publish(
        settings,
        MenteeReprobated(
            occurred_at=reprobated_at,
            subscription_id=sub.subscription_id,
            mentee_id=sub.mentee.id,
            mentor_id=sub.mentor.id,
            missed_booking_ids=ids[:2],
            reprobated_at=reprobated_at,
        ),
    )
    [cancelled] = await bus.wait_for(BookingsCancelled, subscription_id=sub.subscription_id)
    assert cancelled.reason == "reprobation"
    assert cancelled.booking_ids == ids[2:]


async def test_reactivation_regenerates_exactly_the_missing_bookings(
    settings: Settings, bus: Listener, owners: Owners
) -> None:
    sub = activation(weeks=5, starts=MONDAY + timedelta(weeks=110))
    ids = await activate(settings, bus, sub)
    reprobated_at = sub.cycle_starts_at + timedelta(weeks=1, hours=20)
    await publish(
        settings,
        MenteeReprobated(
            occurred_at=reprobated_at,
            subscription_id=sub.subscription_id,
            mentee_id=sub.mentee.id,
            mentor_id=sub.mentor.id,
            missed_booking_ids=ids[:2],
            reprobated_at=reprobated_at,
        ),
    )
    await bus.wait_for(BookingsCancelled, subscription_id=sub.subscription_id)
    reactivated_at = sub.cycle_starts_at + timedelta(weeks=2, hours=19)  # during session 3
    reactivation = MenteeReactivated(
        occurred_at=reactivated_at,
        subscription_id=sub.subscription_id,
        mentee_id=sub.mentee.id,
        mentor_id=sub.mentor.id,
        reactivated_by=sub.mentor.id,
        reactivated_at=reactivated_at,
    )
    await publish(settings, reactivation, reactivation)
    scheduled = await bus.wait_for(
        BookingsScheduled, 3, within=2, subscription_id=sub.subscription_id
    )
    assert len(scheduled) == 2  # the activation's, then the reactivation's: once
    regenerated = scheduled[1].bookings
    assert [b.starts_at for b in regenerated] == [
        sub.cycle_starts_at + timedelta(weeks=w, hours=18) for w in (3, 4)
    ]
    assert not {b.booking_id for b in regenerated} & set(ids)

    reply = await owners.ask(ListMenteeBookings(mentee_id=sub.mentee.id), MenteeBookingsReply)
    statuses = [(b.starts_at, b.status) for b in reply.bookings]
    live = [s for s in statuses if s[1] != "cancelled"]
    # Sessions 1-2 stay (past), 3 stays cancelled (it had started), 4-5 are booked again.
    assert len(live) == 4 and len({s[0] for s in live}) == 4


def reprobation(sub: SubscriptionActivated, missed: list[uuid.UUID]) -> MenteeReprobated:
    return MenteeReprobated(
        occurred_at=sub.cycle_starts_at,
        subscription_id=sub.subscription_id,
        mentee_id=sub.mentee.id,
        mentor_id=sub.mentor.id,
        missed_booking_ids=missed,
        reprobated_at=sub.cycle_starts_at,
    )


def renewal(sub: SubscriptionActivated) -> SubscriptionRenewed:
    return SubscriptionRenewed(
        occurred_at=sub.cycle_ends_at,
        subscription_id=sub.subscription_id,
        cycle_starts_at=sub.cycle_ends_at,
        cycle_ends_at=sub.cycle_ends_at + timedelta(weeks=2),
    )


async def test_renewal_while_reprobated_extends_the_cycle_without_bookings(
    settings: Settings, booking: ServiceRuntime[Policy], bus: Listener
) -> None:
    sub = activation(weeks=2, starts=MONDAY + timedelta(weeks=120))
    ids = await activate(settings, bus, sub)
    await publish(settings, reprobation(sub, ids[:1]))
    await bus.wait_for(BookingsCancelled, subscription_id=sub.subscription_id)
    renewed = renewal(sub)
    await publish(settings, renewed)
    await applied(booking.db, [renewed])
    await settled(bus, booking.db, BookingsScheduled)
    scheduled = bus.of(BookingsScheduled, subscription_id=sub.subscription_id)
    assert len(scheduled) == 1  # the activation's only


async def test_a_reprobation_handled_after_a_renewal_cancels_the_new_cycle_too(
    settings: Settings, bus: Listener
) -> None:
    """Renewal and reprobation travel on different queues: either may be handled first."""
    sub = activation(weeks=2, starts=MONDAY + timedelta(weeks=125))
    ids = await activate(settings, bus, sub)
    await publish(settings, renewal(sub))
    [_, renewed] = await bus.wait_for(BookingsScheduled, 2, subscription_id=sub.subscription_id)
    await publish(settings, reprobation(sub, ids[:1]))
    [cancelled] = await bus.wait_for(BookingsCancelled, subscription_id=sub.subscription_id)
    new_cycle = {b.booking_id for b in renewed.bookings}
    assert len(new_cycle) == 2
    assert new_cycle <= set(cancelled.booking_ids)


async def test_renewal_books_the_new_cycle(settings: Settings, bus: Listener) -> None:
    sub = activation(weeks=2, starts=MONDAY + timedelta(weeks=130))
    await activate(settings, bus, sub)
    renewal = SubscriptionRenewed(
        occurred_at=sub.cycle_ends_at,
        subscription_id=sub.subscription_id,
        cycle_starts_at=sub.cycle_ends_at,
        cycle_ends_at=sub.cycle_ends_at + timedelta(weeks=2),
    )
    await publish(settings, renewal)
    scheduled = await bus.wait_for(BookingsScheduled, 2, subscription_id=sub.subscription_id)
    assert [b.starts_at for b in scheduled[1].bookings] == [
        sub.cycle_ends_at + timedelta(weeks=w, hours=18) for w in (0, 1)
    ]


async def test_an_ended_subscription_cancels_every_future_booking(
    settings: Settings, bus: Listener
) -> None:
    sub = activation(weeks=4, starts=MONDAY + timedelta(weeks=140))
    ids = await activate(settings, bus, sub)
    ended_at = sub.cycle_starts_at + timedelta(weeks=1, hours=20)
    await publish(
        settings,
        SubscriptionEnded(
            occurred_at=ended_at, subscription_id=sub.subscription_id, ended_at=ended_at
        ),
    )
    [cancelled] = await bus.wait_for(BookingsCancelled, subscription_id=sub.subscription_id)
    assert cancelled.reason == "subscription_ended"
    assert cancelled.booking_ids == ids[2:]


@dataclass(frozen=True)
class OneBooking:
    """A subscription with one session, marked by attendance and seen as its mentee sees it."""

    settings: Settings
    owners: Owners
    db: Database
    sub: SubscriptionActivated
    booking_id: uuid.UUID
    sent: list[AttendanceMarked] = field(default_factory=list)

    async def mark(self, revision: int, attended: bool, by: str, status: str | None = None) -> None:
        """Attendance's `revision`-th mark of the booking, made `revision` minutes in."""
        at = self.sub.cycle_starts_at + timedelta(hours=18, minutes=5)
        marked = {
            "occurred_at": at,
            "booking_id": self.booking_id,
            "subscription_id": self.sub.subscription_id,
            "attended": attended,
            "status": status,
            "marked_by": by,
            "marked_at": at + timedelta(minutes=revision),
            "revision": revision,
        }
        self.sent.append(AttendanceMarked.model_validate(marked))
        await publish(self.settings, self.sent[-1])

    async def becomes(self, expected: Mark) -> Mark:
        return await eventually(self.status, lambda s: s == expected)

    async def stays(self) -> Mark:
        """The status once every mark sent has been applied (none should change it)."""
        await applied(self.db, self.sent)
        return await self.status()

    async def status(self) -> Mark:
        reply = await self.owners.ask(
            ListMenteeBookings(mentee_id=self.sub.mentee.id), MenteeBookingsReply
        )
        return reply.bookings[0].status, reply.bookings[0].attended


async def one_booking(
    settings: Settings, bus: Listener, owners: Owners, db: Database, week: int
) -> OneBooking:
    sub = activation(weeks=1, starts=MONDAY + timedelta(weeks=week))
    [booking_id] = await activate(settings, bus, sub)
    return OneBooking(settings, owners, db, sub, booking_id)


async def test_a_mentors_mark_overrides_the_systems_and_not_the_other_way(
    settings: Settings, booking: ServiceRuntime[Policy], bus: Listener, owners: Owners
) -> None:
    """Attendance decides which mark wins and numbers its marks; booking keeps the
    latest: the mentor's (revision 2) over the system's, even when a system mark made
    before the mentor's (revision 1) reaches booking after it."""
    one = await one_booking(settings, bus, owners, booking.db, week=150)
    await one.mark(1, True, "system")
    assert await one.becomes(("attended", True)) == ("attended", True)
    await one.mark(2, False, "mentor")
    assert await one.becomes(("unattended", False)) == ("unattended", False)
    await one.mark(1, True, "system")
    found = await owners.ask(FindBooking(booking_id=one.booking_id), BookingFound)
    assert found.mentee_id == one.sub.mentee.id and found.mentor_id == one.sub.mentor.id
    assert await one.stays() == ("unattended", False)


async def test_marks_delivered_in_reverse_revision_order_leave_the_highest_revision(
    settings: Settings, booking: ServiceRuntime[Policy], bus: Listener, owners: Owners
) -> None:
    one = await one_booking(settings, bus, owners, booking.db, week=155)
    await one.mark(3, True, "mentor")
    assert await one.becomes(("attended", True)) == ("attended", True)
    await one.mark(2, False, "mentor")
    await one.mark(1, False, "system")
    assert await one.stays() == ("attended", True)


async def test_a_mentor_no_show_owes_one_make_up_and_a_correction_withdraws_it(
    settings: Settings, booking: ServiceRuntime[Policy], bus: Listener, owners: Owners
) -> None:
    """The sweep's no-show (revision 1) owes one make-up; delivered again, nothing more;
    the mentor's correction (revision 2: they did come) withdraws it; the no-show
    arriving late after it changes nothing."""
    one = await one_booking(settings, bus, owners, booking.db, week=160)
    async with listening(settings, ["makeup.*"]) as makeups:
        await one.mark(1, False, "system", status="mentor_no_show")
        [owed] = await makeups.wait_for(MakeupOwed, missed_booking_id=one.booking_id)
        assert (owed.subscription_id, owed.mentee_id) == (
            one.sub.subscription_id,
            one.sub.mentee.id,
        )
        await one.mark(1, False, "system", status="mentor_no_show")
        await applied(booking.db, one.sent)
        assert await credit_of(booking.db, one.booking_id) == "owed"
        await one.mark(2, True, "mentor", status="present")
        [withdrawn] = await makeups.wait_for(MakeupWithdrawn, missed_booking_id=one.booking_id)
        assert withdrawn.withdrawn_at == one.sent[-1].marked_at
        await one.mark(1, False, "system", status="mentor_no_show")
        await applied(booking.db, one.sent)
        assert await credit_of(booking.db, one.booking_id) == "withdrawn"
        assert len(makeups.of(MakeupOwed, missed_booking_id=one.booking_id)) == 1


async def credit_of(db: Database, booking_id: uuid.UUID) -> str | None:
    async with db.transaction() as tx:
        row = await (await driver(tx)).fetchrow(
            "SELECT status FROM makeups WHERE missed_booking_id = $1", booking_id
        )
    return None if row is None else str(row["status"])


async def owed_makeup(
    settings: Settings, bus: Listener, owners: Owners, db: Database, week: int
) -> OneBooking:
    """A two-week subscription whose first session the mentor missed: a make-up owed."""
    sub = activation(weeks=2, starts=MONDAY + timedelta(weeks=week))
    missed, _ = await activate(settings, bus, sub)
    one = OneBooking(settings, owners, db, sub, missed)
    await one.mark(1, False, "system", status="mentor_no_show")
    await eventually(lambda: credit_of(db, missed), lambda s: s == "owed")
    return one


def asked(
    one: OneBooking, starts_at: datetime, request_id: uuid.UUID | None = None
) -> ScheduleMakeup:
    return ScheduleMakeup(
        request_id=request_id or uuid.uuid4(),
        mentor_id=one.sub.mentor.id,
        subscription_id=one.sub.subscription_id,
        missed_booking_id=one.booking_id,
        starts_at=starts_at,
        requested_at=one.sub.cycle_starts_at + timedelta(days=1),
    )


async def test_a_mentor_books_the_make_up_owed_once_clear_of_their_sessions_and_it_is_used(
    settings: Settings,
    booking: ServiceRuntime[Policy],
    bus: Listener,
    owners: Owners,
    makeup_bus: Listener,
) -> None:
    """Booked as a booking of its own (bookings.scheduled, kind makeup), refused when it
    clashes with the mentor's next session, the same request again books nothing more;
    the subscription's end leaves it; its session marked, the credit is used."""
    one = await owed_makeup(settings, bus, owners, booking.db, week=170)
    next_session = one.sub.cycle_starts_at + timedelta(weeks=1, hours=18)
    clash = await owners.ask_raw(asked(one, next_session + timedelta(minutes=30)), MakeupScheduled)
    assert clash.error is not None and clash.error.code == "conflict"
    assert "clashes with another of your sessions" in clash.error.detail

    at = one.sub.cycle_starts_at + timedelta(days=3, hours=9)
    request = asked(one, at)
    reply = await owners.ask(request, MakeupScheduled)
    assert reply.makeup is not None and reply.makeup.status == "booked"
    made_up = reply.makeup.booking
    assert made_up is not None and (made_up.starts_at, made_up.ends_at) == (
        at,
        at + timedelta(hours=1),
    )
    [scheduled] = await bus.wait_for(BookingsScheduled, kind="makeup", makeup_for=one.booking_id)
    assert [b.booking_id for b in scheduled.bookings] == [made_up.booking_id]
    again = await owners.ask(request, MakeupScheduled)
    assert again.makeup == reply.makeup
    other = await owners.ask_raw(asked(one, at + timedelta(days=1)), MakeupScheduled)
    assert other.error is not None and other.error.code == "conflict"

    ended_at = one.sub.cycle_starts_at + timedelta(days=2)
    await publish(
        settings,
        SubscriptionEnded(
            occurred_at=ended_at, subscription_id=one.sub.subscription_id, ended_at=ended_at
        ),
    )
    [cancelled] = await bus.wait_for(BookingsCancelled, subscription_id=one.sub.subscription_id)
    assert made_up.booking_id not in cancelled.booking_ids and len(cancelled.booking_ids) == 1

    mentee = await owners.ask(ListMenteeBookings(mentee_id=one.sub.mentee.id), MenteeBookingsReply)
    [listed] = [b for b in mentee.bookings if b.booking_id == made_up.booking_id]
    assert (listed.kind, listed.makeup_for, listed.status) == (
        "makeup",
        one.booking_id,
        "scheduled",
    )
    marked = {"booking_id": made_up.booking_id, "attended": True, "status": "present"}
    await publish(
        settings,
        AttendanceMarked.model_validate(
            {**one.sent[-1].model_dump(), **marked, "event_id": uuid.uuid4()}
        ),
    )
    [used_event] = await makeup_bus.wait_for(MakeupUsed, missed_booking_id=one.booking_id)
    assert (used_event.booking_id, used_event.mark) == (made_up.booking_id, "present")
    assert await credit_of(booking.db, one.booking_id) == "used"
    listing = await owners.ask(ListMakeups(subscription_id=one.sub.subscription_id), MakeupsReply)
    [used] = listing.makeups
    assert used.status == "used" and used.booking is not None
    assert used.booking.status == "attended"
    assert used.book_by == one.sub.cycle_starts_at + timedelta(hours=18, days=14)
    assert used.missed_starts_at == one.sub.cycle_starts_at + timedelta(hours=18)


async def test_a_reprobation_cancels_the_make_up_and_the_credit_is_owed_again(
    settings: Settings,
    booking: ServiceRuntime[Policy],
    bus: Listener,
    owners: Owners,
    makeup_bus: Listener,
) -> None:
    one = await owed_makeup(settings, bus, owners, booking.db, week=175)
    at = one.sub.cycle_starts_at + timedelta(days=3, hours=9)
    reply = await owners.ask(asked(one, at), MakeupScheduled)
    assert reply.makeup is not None and reply.makeup.booking is not None
    made_up = reply.makeup.booking.booking_id
    await publish(settings, reprobation(one.sub, [one.booking_id]))
    [cancelled] = await bus.wait_for(BookingsCancelled, subscription_id=one.sub.subscription_id)
    assert made_up in cancelled.booking_ids
    assert await credit_of(booking.db, one.booking_id) == "owed"
    owed = await makeup_bus.wait_for(MakeupOwed, missed_booking_id=one.booking_id, count=2)
    assert owed[-1].owed_at == cancelled.occurred_at
    refused = await owners.ask_raw(asked(one, at + timedelta(hours=2)), MakeupScheduled)
    assert refused.error is not None and "reprobated" in refused.error.detail
    mine = await owners.ask(ListMakeups(mentee_id=one.sub.mentee.id), MakeupsReply)
    assert [(m.status, m.booking) for m in mine.makeups] == [("owed", None)]

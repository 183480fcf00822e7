"""The attendance service in-process on the real broker and database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import pytest_asyncio

from contracts import (
    AttendanceMarked,
    BookingRef,
    BookingsScheduled,
    BookingUnattended,
    Event,
    MakeupExpired,
    MakeupOwed,
    MakeupRefunded,
    MakeupUsed,
    MakeupWithdrawn,
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    Mentor,
    Person,
    SessionJoined,
    Slot,
    SubscriptionActivated,
)
from contracts.rpc import (
    GetHistory,
    GetSubscriber,
    HistoryReply,
    ListSubscribers,
    MarkAttendance,
    ReactivateMentee,
    SubscriberChanged,
    SubscriberReply,
    SubscribersReply,
)
from services.attendance.app import create_runtime
from services.gateway.owners import Owners
from services.kit.messaging import Messaging
from services.kit.runtime import ServiceRuntime
from services.kit.settings import Settings
from tests.conftest import derived
from tests.support.listening import Listener, listening, publish
from tests.support.settling import applied, settled
from tests.support.waiting import eventually

MONDAY = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
KEYS = ["attendance.marked", "mentee.*"]


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return derived(settings, "att")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def attendance(settings: Settings) -> AsyncIterator[list[ServiceRuntime]]:
    """Two attendance consumers side by side on the same queues, as two replicas."""
    runtimes = [create_runtime(settings), create_runtime(settings)]
    apps = [r.app() for r in runtimes]
    for app in apps:
        await app.start()
    try:
        yield runtimes
    finally:
        for app in apps:
            await app.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def owners(settings: Settings, attendance: list[ServiceRuntime]) -> AsyncIterator[Owners]:
    messaging = Messaging(settings, "gateway")
    await messaging.declare()
    await messaging.broker.start()
    try:
        yield Owners(messaging, timeout=5)
    finally:
        await messaging.broker.stop()
        await messaging.close()


@pytest_asyncio.fixture(loop_scope="session")
async def bus(settings: Settings, attendance: list[ServiceRuntime]) -> AsyncIterator[Listener]:
    async with listening(settings, KEYS) as listener:
        yield listener


class Mentorship:
    """A subscription with `weeks` weekly one-hour sessions, known to attendance."""

    def __init__(
        self, weeks: int = 4, mentor: Mentor | None = None, activated_at: datetime = MONDAY
    ) -> None:
        self.mentee = Person(id=uuid.uuid4(), name="Maria", email="maria@example.com")
        self.mentor = mentor or Mentor(id=uuid.uuid4(), name="Otto", email="otto@example.com")
        self.activated_at = activated_at
        self.subscription_id = uuid.uuid4()
        self.sessions = [
            BookingRef(
                booking_id=uuid.uuid4(),
                starts_at=MONDAY + timedelta(weeks=w),
                ends_at=MONDAY + timedelta(weeks=w, hours=1),
            )
            for w in range(weeks)
        ]

    def events(self) -> list[SubscriptionActivated | BookingsScheduled]:
        return [
            SubscriptionActivated(
                occurred_at=self.activated_at,
                subscription_id=self.subscription_id,
                mentee=self.mentee,
                mentor=self.mentor,
                slot=Slot(weekday=0, start_time="18:00", duration_minutes=60, timezone="UTC"),
                cycle_starts_at=MONDAY,
                cycle_ends_at=MONDAY + timedelta(weeks=len(self.sessions)),
            ),
            BookingsScheduled(
                occurred_at=MONDAY,
                subscription_id=self.subscription_id,
                mentee_id=self.mentee.id,
                mentor_id=self.mentor.id,
                bookings=self.sessions,
            ),
        ]

    def unattended(self, week: int, detected_at: datetime | None = None) -> BookingUnattended:
        s = self.sessions[week]
        detected = detected_at or s.ends_at + timedelta(minutes=20)
        return BookingUnattended(
            occurred_at=detected,
            booking_id=s.booking_id,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee.id,
            mentor_id=self.mentor.id,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            detected_at=detected,
        )

    def joined(
        self, week: int, after_start: timedelta, mentee_id: uuid.UUID | None = None
    ) -> SessionJoined:
        at = self.sessions[week].starts_at + after_start
        return SessionJoined(
            occurred_at=at,
            booking_id=self.sessions[week].booking_id,
            mentee_id=mentee_id or self.mentee.id,
            joined_at=at,
        )

    def marked_by_mentor(
        self,
        week: int,
        attended: bool,
        *,
        mentor_id: uuid.UUID | None = None,
        after_end: timedelta = timedelta(hours=1),
    ) -> MarkAttendance:
        return MarkAttendance(
            request_id=uuid.uuid4(),
            mentor_id=mentor_id or self.mentor.id,
            booking_id=self.sessions[week].booking_id,
            attended=attended,
            marked_at=self.sessions[week].ends_at + after_end,
        )


async def known(settings: Settings, owners: Owners, m: Mentorship) -> None:
    await publish(settings, *m.events())

    async def bookings() -> int:
        reply = await owners.ask_raw(
            GetSubscriber(mentor_id=m.mentor.id, subscription_id=m.subscription_id, now=MONDAY),
            SubscriberReply,
        )
        return len(reply.subscriber.bookings) if reply.subscriber else 0

    assert await eventually(bookings, lambda n: n == len(m.sessions)) == len(m.sessions)


async def test_a_join_inside_the_window_marks_present_and_outside_does_not(
    settings: Settings, attendance: list[ServiceRuntime], owners: Owners, bus: Listener
) -> None:
    m = Mentorship()
    await known(settings, owners, m)
    joins = [
        m.joined(0, -timedelta(minutes=16)),  # before the window opens
        m.joined(1, timedelta(minutes=60)),  # at ends_at: closed
        m.joined(2, timedelta(minutes=5), mentee_id=uuid.uuid4()),  # someone else
        m.joined(3, -timedelta(minutes=15)),  # exactly when it opens
    ]
    await publish(settings, *joins)
    await applied(attendance[0].db, joins)
    await settled(bus, attendance[0].db, AttendanceMarked)
    [marked] = bus.of(AttendanceMarked, subscription_id=m.subscription_id)
    assert marked.booking_id == m.sessions[3].booking_id
    assert marked.attended is True and marked.marked_by == "system"


async def test_an_absence_report_after_a_join_leaves_the_mark_standing(
    settings: Settings, attendance: list[ServiceRuntime], owners: Owners, bus: Listener
) -> None:
    m = Mentorship()
    await known(settings, owners, m)
    await publish(settings, m.joined(0, timedelta(minutes=3)))
    await bus.wait_for(AttendanceMarked, subscription_id=m.subscription_id)
    absence = m.unattended(0)
    await publish(settings, absence)
    await applied(attendance[0].db, [absence])
    await settled(bus, attendance[0].db, MenteeWarned)
    assert bus.of(MenteeWarned, subscription_id=m.subscription_id) == []


@pytest.mark.parametrize("order", [(0, 1), (1, 0)], ids=["in-order", "out-of-order"])
async def test_two_consecutive_absences_reprobate_whatever_the_arrival_order(
    settings: Settings,
    attendance: list[ServiceRuntime],
    owners: Owners,
    bus: Listener,
    order: tuple[int, int],
) -> None:
    m = Mentorship()
    await known(settings, owners, m)
    tick = m.sessions[1].ends_at + timedelta(minutes=20)
    for week in order:  # each applied before the next is sent: arrival in the order given
        absence = m.unattended(week, detected_at=tick)
        await publish(settings, absence)
        await applied(attendance[0].db, [absence])
    await settled(bus, attendance[0].db, MenteeReprobated, MenteeWarned)
    [reprobated] = bus.of(MenteeReprobated, subscription_id=m.subscription_id)
    assert reprobated.reprobated_at == tick
    assert sorted(reprobated.missed_booking_ids) == sorted(s.booking_id for s in m.sessions[:2])
    assert len(bus.of(MenteeWarned, subscription_id=m.subscription_id)) == 1


async def test_two_consumers_racing_on_one_subscription_reprobate_exactly_once(
    settings: Settings, attendance: list[ServiceRuntime], owners: Owners, bus: Listener
) -> None:
    m = Mentorship(weeks=6)
    await known(settings, owners, m)
    tick = m.sessions[-1].ends_at + timedelta(minutes=20)
    absences = [m.unattended(w, detected_at=tick) for w in range(6)]
    await publish(settings, *absences)
    # Two replicas share the queue, so no order holds between them: the inbox proves
    # every absence applied, whichever took it.
    await applied(attendance[0].db, absences)
    await settled(bus, attendance[0].db, MenteeReprobated, MenteeWarned)
    assert len(bus.of(MenteeReprobated, subscription_id=m.subscription_id)) == 1
    # Whatever the order, the streak is warned about once, before or with its reprobation.
    assert len(bus.of(MenteeWarned, subscription_id=m.subscription_id)) == 1
    reply = await owners.ask(
        GetSubscriber(mentor_id=m.mentor.id, subscription_id=m.subscription_id, now=tick),
        SubscriberReply,
    )
    assert reply.subscriber is not None and reply.subscriber.consecutive_absences == 6


async def test_a_replayed_absence_writes_nothing_new(
    settings: Settings, attendance: list[ServiceRuntime], owners: Owners, bus: Listener
) -> None:
    m = Mentorship()
    await known(settings, owners, m)
    absence = m.unattended(0)
    await publish(settings, absence)
    await bus.wait_for(MenteeWarned, subscription_id=m.subscription_id)
    replay = absence.model_copy(update={"event_id": uuid.uuid4()})  # same report, new id
    await publish(settings, absence, replay)
    await applied(attendance[0].db, [replay])
    await settled(bus, attendance[0].db, MenteeWarned)
    assert len(bus.of(MenteeWarned, subscription_id=m.subscription_id)) == 1


async def test_mentors_read_mark_and_reactivate_only_their_own_subscribers(
    settings: Settings, owners: Owners, bus: Listener
) -> None:
    m = Mentorship()
    await known(settings, owners, m)
    stranger = uuid.uuid4()
    now = m.sessions[2].starts_at

    listed = await owners.ask(ListSubscribers(mentor_id=stranger, now=now), SubscribersReply)
    assert listed.subscribers == []
    foreign = await owners.ask_raw(
        GetSubscriber(mentor_id=stranger, subscription_id=m.subscription_id, now=now),
        SubscriberReply,
    )
    assert foreign.error is not None and foreign.error.code == "forbidden"
    missing = await owners.ask_raw(
        GetSubscriber(mentor_id=m.mentor.id, subscription_id=uuid.uuid4(), now=now),
        SubscriberReply,
    )
    assert missing.error is not None and missing.error.code == "not_found"

    def mark(attended: bool, week: int, mentor: uuid.UUID) -> MarkAttendance:
        return m.marked_by_mentor(week, attended, mentor_id=mentor)

    refused = await owners.ask_raw(mark(False, 0, stranger), SubscriberChanged)
    assert refused.error is not None and refused.error.code == "forbidden"
    not_yet = await owners.ask_raw(
        ReactivateMentee(
            request_id=uuid.uuid4(),
            mentor_id=m.mentor.id,
            subscription_id=m.subscription_id,
            requested_at=now,
        ),
        SubscriberChanged,
    )
    assert not_yet.error is not None and not_yet.error.code == "conflict"

    # The mentor marks two absences: the second reprobates.
    await owners.ask(mark(False, 0, m.mentor.id), SubscriberChanged)
    after = await owners.ask(mark(False, 1, m.mentor.id), SubscriberChanged)
    assert after.subscriber is not None
    assert after.subscriber.is_reprobated and after.subscriber.status == "reprobated"
    assert {b.marked_by for b in after.subscriber.bookings if b.attended is False} == {"mentor"}
    await bus.wait_for(MenteeReprobated, subscription_id=m.subscription_id)

    # A correction after the fact does not lift the reprobation...
    corrected = await owners.ask(mark(True, 1, m.mentor.id), SubscriberChanged)
    assert corrected.subscriber is not None and corrected.subscriber.is_reprobated
    assert corrected.subscriber.consecutive_absences == 0
    # ...reactivation does.
    reactivated = await owners.ask(
        ReactivateMentee(
            request_id=uuid.uuid4(),
            mentor_id=m.mentor.id,
            subscription_id=m.subscription_id,
            requested_at=now,
        ),
        SubscriberChanged,
    )
    assert reactivated.subscriber is not None
    assert not reactivated.subscriber.is_reprobated and reactivated.subscriber.status == "active"
    [event] = await bus.wait_for(MenteeReactivated, subscription_id=m.subscription_id)
    assert event.reactivated_by == m.mentor.id and event.reactivated_at == now


async def test_the_mentors_zone_is_that_of_their_latest_activation_that_gave_one(
    settings: Settings, owners: Owners
) -> None:
    otto = Mentor(id=uuid.uuid4(), name="Otto", email="otto@example.com")

    def of_otto(zone: str | None, activated_days_ago: int) -> Mentorship:
        mentor = otto.model_copy(update={"timezone": zone})
        return Mentorship(mentor=mentor, activated_at=MONDAY - timedelta(days=activated_days_ago))

    # Known out of order: the latest activation with a zone wins, whatever arrives last.
    latest = of_otto("America/Sao_Paulo", activated_days_ago=10)
    older, without = of_otto("Asia/Tokyo", activated_days_ago=30), of_otto(None, 1)
    for m in (latest, older, without):
        await known(settings, owners, m)
    stranger = Mentorship()  # another mentor, who gave no zone
    await known(settings, owners, stranger)

    listed = await owners.ask(ListSubscribers(mentor_id=otto.id, now=MONDAY), SubscribersReply)
    assert listed.mentor_timezone == "America/Sao_Paulo"
    assert {s.mentor_timezone for s in listed.subscribers} == {"America/Sao_Paulo"}
    assert {s.timezone for s in listed.subscribers} == {"UTC"}  # the slots keep theirs
    one = await owners.ask(
        GetSubscriber(mentor_id=otto.id, subscription_id=older.subscription_id, now=MONDAY),
        SubscriberReply,
    )
    assert one.subscriber is not None and one.subscriber.mentor_timezone == "America/Sao_Paulo"
    changed = await owners.ask(without.marked_by_mentor(0, True), SubscriberChanged)
    assert changed.subscriber is not None
    assert changed.subscriber.mentor_timezone == "America/Sao_Paulo"

    theirs = await owners.ask(
        ListSubscribers(mentor_id=stranger.mentor.id, now=MONDAY), SubscribersReply
    )
    assert theirs.mentor_timezone is None
    assert [s.mentor_timezone for s in theirs.subscribers] == [None]


async def test_a_mentor_correction_stops_a_pending_reprobation(
    settings: Settings, attendance: list[ServiceRuntime], owners: Owners, bus: Listener
) -> None:
    m = Mentorship()
    await known(settings, owners, m)
    await publish(settings, m.unattended(0))
    await bus.wait_for(MenteeWarned, subscription_id=m.subscription_id)
    await owners.ask(
        m.marked_by_mentor(0, attended=True, after_end=timedelta(hours=2)),
        SubscriberChanged,
    )
    second = m.unattended(1)
    await publish(settings, second)
    await applied(attendance[0].db, [second])
    await settled(bus, attendance[0].db, MenteeWarned, MenteeReprobated)
    warnings = bus.of(MenteeWarned, subscription_id=m.subscription_id)
    assert [w.consecutive_absences for w in warnings] == [1, 1]
    assert bus.of(MenteeReprobated, subscription_id=m.subscription_id) == []


async def test_each_mark_is_announced_with_the_bookings_next_revision(
    settings: Settings, owners: Owners, bus: Listener
) -> None:
    m = Mentorship()
    await known(settings, owners, m)
    await publish(settings, m.unattended(0))  # revision 1, booking's own finding
    await bus.wait_for(MenteeWarned, subscription_id=m.subscription_id)
    await publish(settings, m.joined(0, timedelta(minutes=3)))  # a late join: revision 2
    await bus.wait_for(AttendanceMarked, subscription_id=m.subscription_id)
    corrected = await owners.ask(
        m.marked_by_mentor(0, attended=False, after_end=timedelta(hours=2)),
        SubscriberChanged,
    )
    marks = await bus.wait_for(AttendanceMarked, 2, subscription_id=m.subscription_id)
    assert [(mark.revision, mark.marked_by, mark.attended) for mark in marks] == [
        (2, "system", True),
        (3, "mentor", False),
    ]
    assert corrected.subscriber is not None
    [booking] = [b for b in corrected.subscriber.bookings if b.attended is not None]
    assert (booking.marked_by, booking.attended) == ("mentor", False)


async def test_the_history_keeps_every_change_with_its_actor_and_cannot_be_rewritten(
    settings: Settings, owners: Owners, bus: Listener
) -> None:
    m = Mentorship()
    await known(settings, owners, m)
    await publish(settings, m.unattended(0))
    await bus.wait_for(MenteeWarned, subscription_id=m.subscription_id)
    correction = m.marked_by_mentor(0, attended=False).model_copy(
        update={"attended": None, "status": "excused", "reason": "ill, told me ahead"}
    )
    await owners.ask(correction, SubscriberChanged)

    reply = await owners.ask(
        GetHistory(mentor_id=m.mentor.id, subscription_id=m.subscription_id), HistoryReply
    )
    lines = [
        (h.kind, h.old_status, h.new_status, h.actor, h.actor_id, h.reason) for h in reply.history
    ]
    assert lines == [
        ("mark", None, "absent", "system", None, None),
        ("warning", None, None, "system", None, "1 absence in a row"),
        ("mark", "absent", "excused", "mentor", m.mentor.id, "ill, told me ahead"),
    ]
    assert {h.session_starts_at for h in reply.history} == {m.sessions[0].starts_at}
    assert reply.history[-1].at == correction.marked_at

    stranger = await owners.ask_raw(
        GetHistory(mentor_id=uuid.uuid4(), subscription_id=m.subscription_id), HistoryReply
    )
    unknown = await owners.ask_raw(
        GetHistory(mentor_id=m.mentor.id, subscription_id=uuid.uuid4()), HistoryReply
    )
    assert stranger.error is not None and stranger.error.code == "forbidden"
    assert unknown.error is not None and unknown.error.code == "not_found"

    conn = await asyncpg.connect(settings.database_url("attendance").replace("+asyncpg", ""))
    try:
        for statement in ("UPDATE history SET reason = 'rewritten'", "DELETE FROM history"):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()


# --- a make-up owed for a session the mentor missed -----------------------------------


def makeup_steps(m: Mentorship, makeup: BookingRef) -> list[Event]:
    """Each step booking announces of the make-up owed for week 0's session, in order:
    owed, withdrawn, owed again (the no-show marked again), booked, owed again (the
    make-up cancelled), booked, used; and for week 1's, owed, expired, refunded."""
    about = {
        "subscription_id": m.subscription_id,
        "mentee_id": m.mentee.id,
        "mentor_id": m.mentor.id,
        "missed_booking_id": m.sessions[0].booking_id,
        "missed_starts_at": m.sessions[0].starts_at,
    }
    t = m.sessions[0].ends_at + timedelta(hours=1)
    first, second = (
        BookingsScheduled(
            occurred_at=at,
            subscription_id=m.subscription_id,
            mentee_id=m.mentee.id,
            mentor_id=m.mentor.id,
            bookings=[booking],
            kind="makeup",
            makeup_for=m.sessions[0].booking_id,
        )
        for at, booking in [(t + timedelta(hours=3), makeup), (t + timedelta(hours=5), makeup)]
    )
    week_1 = {
        **about,
        "missed_booking_id": m.sessions[1].booking_id,
        "missed_starts_at": m.sessions[1].starts_at,
    }
    expires = m.sessions[1].starts_at + timedelta(days=7)
    return [
        MakeupOwed(occurred_at=t, owed_at=t, **about),
        MakeupWithdrawn(occurred_at=t + HOUR, withdrawn_at=t + HOUR, **about),
        MakeupOwed(occurred_at=t + 2 * HOUR, owed_at=t + 2 * HOUR, **about),
        first,
        MakeupOwed(occurred_at=t + 4 * HOUR, owed_at=t + 4 * HOUR, **about),
        second,
        MakeupUsed(
            occurred_at=makeup.ends_at,
            booking_id=makeup.booking_id,
            starts_at=makeup.starts_at,
            mark="present",
            used_at=makeup.ends_at,
            **about,
        ),
        MakeupOwed(occurred_at=expires - timedelta(days=7), owed_at=expires, **week_1),
        MakeupExpired(
            occurred_at=expires,
            book_by=expires,
            expired_at=expires,
            refund="stripe_credit",
            **week_1,
        ),
        MakeupRefunded(
            occurred_at=expires + HOUR,
            amount=1500,
            currency="eur",
            stripe_balance_transaction_id="cbtxn_1",
            refunded_at=expires + HOUR,
            **week_1,
        ),
    ]


async def test_each_step_of_a_makeup_is_one_line_of_the_history_however_often_it_comes(
    settings: Settings, attendance: list[ServiceRuntime], owners: Owners
) -> None:
    m = Mentorship()
    week = m.sessions[0]
    makeup = BookingRef(
        booking_id=uuid.uuid4(),
        starts_at=week.starts_at + timedelta(days=3),
        ends_at=week.ends_at + timedelta(days=3),
    )
    steps = makeup_steps(m, makeup)
    # Before the activation: the steps wait for it (retried), as the facts about a record.
    await publish(settings, steps[0])
    await known(settings, owners, m)
    # Each step in turn, each announced twice: redelivered, and again under a new event id.
    for step in steps:
        again = step.model_copy(update={"event_id": uuid.uuid4()})
        await publish(settings, step, step, again)
        await applied(attendance[0].db, [step, again], within=20)

    reply = await owners.ask(
        GetHistory(mentor_id=m.mentor.id, subscription_id=m.subscription_id), HistoryReply
    )
    lines = [
        (h.kind, h.new_status, h.actor, h.actor_id, h.booking_id, h.session_starts_at, h.at)
        for h in reply.history
    ]
    t = week.ends_at + HOUR

    def on(week_: BookingRef, status: str, by: str = "system") -> tuple[object, ...]:
        who = m.mentor.id if by == "mentor" else None
        return ("makeup", status, by, who, week_.booking_id, week_.starts_at)

    expires = m.sessions[1].starts_at + timedelta(days=7)
    assert lines == [
        (*on(week, "owed"), t),
        (*on(week, "withdrawn"), t + HOUR),
        (*on(week, "owed"), t + 2 * HOUR),
        (*on(week, "booked", "mentor"), t + 3 * HOUR),
        (*on(week, "owed"), t + 4 * HOUR),
        (*on(week, "booked", "mentor"), t + 5 * HOUR),
        (*on(week, "used"), makeup.ends_at),
        (*on(m.sessions[1], "owed"), expires),
        (*on(m.sessions[1], "expired"), expires),
        (*on(m.sessions[1], "refunded"), expires + HOUR),
    ]
    assert [h.reason for h in reply.history] == [
        None,
        "the no-show mark was corrected",
        "owed again",
        "make-up on Thu 05 Mar 2026, 18:00 UTC",
        "owed again",
        "make-up on Thu 05 Mar 2026, 18:00 UTC",
        "make-up of Thu 05 Mar 2026, 18:00 UTC: present",
        None,
        f"not booked by {expires:%a %d %b %Y, %H:%M} UTC; one session's share is credited "
        "to the mentee's Stripe balance",
        "€15.00 credited to the mentee's Stripe balance",
    ]
    said = [h.makeup for h in reply.history]
    assert [s.again if s else None for s in said] == [
        False, False, True, False, True, False, False, False, False, False
    ]  # fmt: skip
    assert said[3] is not None and (said[3].booking_id, said[3].starts_at) == (
        makeup.booking_id,
        makeup.starts_at,
    )
    assert said[6] is not None and said[6].mark == "present"
    assert said[9] is not None and (said[9].amount, said[9].currency) == (1500, "eur")

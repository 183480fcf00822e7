"""Booking's domain without a database: one subscription's lifecycle (what each fact
books or cancels, and the events that say so), which of attendance's marks a
booking keeps, and a mentee's cancellation."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from contracts import (
    AttendanceMarked,
    BookingCancelled,
    BookingsCancelled,
    BookingsScheduled,
    MenteeReactivated,
    MenteeReprobated,
    Person,
    Slot,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
)
from contracts.rpc import CancelBooking
from services.booking.domain import (
    Booking,
    BookingStatus,
    CancellableBooking,
    Cancellation,
    Change,
    Policy,
    Refusal,
    Subscription,
    SweptBooking,
    cancel_by_mentee,
    unattended,
)

# Fixed ids, so the derived ids below are the ones booking has always written.
SUBSCRIPTION = UUID("5b2e0c1a-7f3d-4e8b-9a6c-2d1f0e9b8a70")
BOOKING = UUID("9d4c3b2a-1e0f-4a5b-8c7d-6e5f4a3b2c1d")
REACTIVATION = UUID("3c9a1f7e-2b4d-4c6e-8f0a-1b2c3d4e5f60")
CYCLE_START = datetime(2026, 3, 16, tzinfo=UTC)  # a Monday; Lisbon springs forward on 03-29
CYCLE_END = CYCLE_START + timedelta(weeks=4)
LISBON = ZoneInfo("Europe/Lisbon")
MIDCYCLE = datetime(2026, 3, 24, 12, tzinfo=UTC)  # after the second session


def activation() -> SubscriptionActivated:
    return SubscriptionActivated(
        occurred_at=CYCLE_START,
        subscription_id=SUBSCRIPTION,
        stripe_subscription_id="sub_123",
        mentee=Person(id=uuid.uuid4(), name="Maria", email="maria@example.com"),
        mentor=Person(id=uuid.uuid4(), name="Otto", email="otto@example.com"),
        slot=Slot(weekday=0, start_time="18:00", duration_minutes=60, timezone="Europe/Lisbon"),
        cycle_starts_at=CYCLE_START,
        cycle_ends_at=CYCLE_END,
    )


def active() -> Subscription:
    return Subscription.activate(activation()).subscription


def renewal(weeks: int = 2) -> SubscriptionRenewed:
    return SubscriptionRenewed(
        occurred_at=CYCLE_END,
        subscription_id=SUBSCRIPTION,
        cycle_starts_at=CYCLE_END,
        cycle_ends_at=CYCLE_END + timedelta(weeks=weeks),
    )


def reprobation(at: datetime = MIDCYCLE) -> MenteeReprobated:
    return MenteeReprobated(
        occurred_at=at,
        subscription_id=SUBSCRIPTION,
        mentee_id=uuid.uuid4(),
        mentor_id=uuid.uuid4(),
        missed_booking_ids=[uuid.uuid4(), uuid.uuid4()],
        reprobated_at=at,
    )


def reactivation(at: datetime) -> MenteeReactivated:
    return MenteeReactivated(
        event_id=REACTIVATION,
        occurred_at=at,
        subscription_id=SUBSCRIPTION,
        mentee_id=uuid.uuid4(),
        mentor_id=uuid.uuid4(),
        reactivated_by=uuid.uuid4(),
        reactivated_at=at,
    )


def ending(at: datetime = MIDCYCLE) -> SubscriptionEnded:
    return SubscriptionEnded(occurred_at=at, subscription_id=SUBSCRIPTION, ended_at=at)


def everything_booked(change: Change) -> list[object]:
    """The events when the store inserted every planned booking and cancelled none."""
    return list(change.events(change.to_book, []))


# --- activation ---------------------------------------------------------------------


def test_activation_books_each_session_of_the_cycle_at_its_local_time_across_dst() -> None:
    change = Subscription.activate(activation())
    assert change.subscription.status == "active"
    starts = [b.starts_at for b in change.to_book]
    assert [s.hour for s in starts] == [18, 18, 17, 17]  # 18:00 WET, then 18:00 WEST
    assert {s.astimezone(LISBON).strftime("%a %H:%M") for s in starts} == {"Mon 18:00"}
    assert change.cancel is None
    assert change.outcome(booked=4) == "scheduled 4 bookings"


def test_activation_derives_the_same_booking_and_event_ids_as_ever() -> None:
    change = Subscription.activate(activation())
    assert [b.booking_id for b in change.to_book] == [
        UUID("a64dff88-0986-5804-9c2d-593a625dcde5"),
        UUID("a544fbd6-be9a-55ae-90e9-70713039f944"),
        UUID("21475dc2-6ed5-59f4-bc52-91a5c5065840"),
        UUID("27ea39f6-03b6-5300-9718-1722ecd9b10f"),
    ]
    [scheduled] = change.events(change.to_book, [])
    assert isinstance(scheduled, BookingsScheduled)
    assert scheduled.event_id == UUID("f95ff5ed-cda0-55ea-94ed-1e7ee37633a4")


def test_a_replayed_activation_decides_exactly_the_same() -> None:
    first = activation()
    again = first.model_copy(update={"event_id": uuid.uuid4()})
    assert Subscription.activate(first) == Subscription.activate(again)
    assert everything_booked(Subscription.activate(first)) == everything_booked(
        Subscription.activate(again)
    )


def test_scheduled_lists_only_what_the_store_inserted_and_nothing_is_said_for_nothing() -> None:
    change = Subscription.activate(activation())
    [scheduled] = change.events(change.to_book[2:], [])
    assert isinstance(scheduled, BookingsScheduled)
    assert [b.booking_id for b in scheduled.bookings] == [b.booking_id for b in change.to_book[2:]]
    assert scheduled.mentee_id == change.subscription.mentee_id
    assert scheduled.occurred_at == CYCLE_START
    assert change.events([], []) == []


# --- renewal ------------------------------------------------------------------------


def test_renewal_opens_and_books_the_new_cycle() -> None:
    change = active().renew(renewal(weeks=2))
    assert (change.subscription.cycle_starts_at, change.subscription.cycle_ends_at) == (
        CYCLE_END,
        CYCLE_END + timedelta(weeks=2),
    )
    assert [b.starts_at for b in change.to_book] == [
        datetime(2026, 4, 13, 17, tzinfo=UTC),
        datetime(2026, 4, 20, 17, tzinfo=UTC),
    ]
    first_cycle = {b.booking_id for b in Subscription.activate(activation()).to_book}
    assert first_cycle.isdisjoint({b.booking_id for b in change.to_book})
    assert change.outcome(booked=2) == "scheduled 2 bookings for the new cycle"


def test_a_renewal_of_a_cycle_already_covered_changes_nothing() -> None:
    subscription = active().renew(renewal()).subscription
    change = subscription.renew(renewal())
    assert change.subscription == subscription
    assert change.to_book == () and change.cancel is None
    assert change.outcome() == "cycle already covered"


def test_renewal_while_reprobated_extends_the_cycle_and_books_nothing() -> None:
    reprobated = active().reprobate(reprobation()).subscription
    change = reprobated.renew(renewal())
    assert change.subscription.status == "reprobated"
    assert change.subscription.cycle_ends_at == CYCLE_END + timedelta(weeks=2)
    assert change.to_book == ()
    assert change.outcome() == "cycle extended; reprobated, so no bookings until reactivation"


def test_renewal_of_an_ended_subscription_is_ignored() -> None:
    ended = active().end(ending()).subscription
    change = ended.renew(renewal())
    assert change.subscription == ended
    assert change.to_book == ()
    assert change.outcome() == "subscription ended, renewal ignored"


# --- reprobation --------------------------------------------------------------------


def test_reprobation_cancels_every_booking_after_it_and_leaves_stripe_alone() -> None:
    subscription = active()
    change = subscription.reprobate(reprobation())
    assert change.subscription == replace(subscription, status="reprobated", reprobated_at=MIDCYCLE)
    assert change.subscription.stripe_subscription_id == "sub_123"
    assert change.cancel == Cancellation(after=MIDCYCLE, reason="reprobation")
    assert change.to_book == ()
    cancelled = [uuid.uuid4(), uuid.uuid4()]
    [event] = change.events([], cancelled)
    assert isinstance(event, BookingsCancelled)
    assert event.event_id == UUID("5df1eeb2-5d7f-5e6d-a68e-337957f0f12b")
    assert (event.reason, event.booking_ids, event.occurred_at) == (
        "reprobation",
        cancelled,
        MIDCYCLE,
    )
    assert change.outcome(cancelled=2) == "reprobated; cancelled 2 bookings"


def test_a_reprobation_that_cancels_nothing_says_nothing() -> None:
    assert active().reprobate(reprobation()).events([], []) == []


def test_a_reprobation_after_the_end_cancels_but_the_subscription_stays_ended() -> None:
    ended = active().end(ending(MIDCYCLE + timedelta(weeks=1))).subscription
    change = ended.reprobate(reprobation())
    assert change.subscription == ended
    assert change.cancel == Cancellation(after=MIDCYCLE, reason="reprobation")


# --- reactivation -------------------------------------------------------------------


def test_reactivation_books_the_sessions_after_it_up_to_the_cycle_end_with_new_ids() -> None:
    reprobated = active().reprobate(reprobation()).subscription
    during_third = datetime(2026, 3, 30, 17, 30, tzinfo=UTC)
    change = reprobated.reactivate(reactivation(during_third))
    assert change.subscription.status == "active"
    assert change.subscription.reprobated_at is None
    assert [b.starts_at for b in change.to_book] == [datetime(2026, 4, 6, 17, tzinfo=UTC)]
    cycle_ids = {b.booking_id for b in Subscription.activate(activation()).to_book}
    assert cycle_ids.isdisjoint({b.booking_id for b in change.to_book})
    [scheduled] = change.events(change.to_book, [])
    assert scheduled.event_id == UUID("d8d75e87-63db-54ce-9853-20771f8f2cc3")
    assert scheduled.occurred_at == during_third
    assert change.outcome(booked=1) == "reactivated; scheduled 1 bookings"


def test_a_replayed_reactivation_plans_the_same_bookings() -> None:
    reprobated = active().reprobate(reprobation()).subscription
    assert reprobated.reactivate(reactivation(MIDCYCLE)) == reprobated.reactivate(
        reactivation(MIDCYCLE)
    )


def test_an_ended_subscription_is_not_reactivated() -> None:
    ended = active().end(ending()).subscription
    change = ended.reactivate(reactivation(MIDCYCLE))
    assert change.subscription == ended
    assert change.to_book == ()
    assert change.outcome() == "subscription ended, nothing to regenerate"


# --- end ----------------------------------------------------------------------------


def test_ending_cancels_every_booking_after_the_end() -> None:
    change = active().end(ending())
    assert (change.subscription.status, change.subscription.ended_at) == ("ended", MIDCYCLE)
    assert change.cancel == Cancellation(after=MIDCYCLE, reason="subscription_ended")
    [event] = change.events([], [BOOKING])
    assert isinstance(event, BookingsCancelled)
    assert event.event_id == UUID("e32d9e5a-31c1-5f5c-ba71-ea7575b5e3b4")
    assert (event.reason, event.booking_ids) == ("subscription_ended", [BOOKING])
    assert change.outcome(cancelled=1) == "ended; cancelled 1 bookings"


def test_ending_a_reprobated_subscription_ends_it() -> None:
    reprobated = active().reprobate(reprobation()).subscription
    assert reprobated.end(ending()).subscription.status == "ended"


# --- the sweep ----------------------------------------------------------------------


def test_each_swept_booking_is_announced_unattended_at_the_tick_with_its_usual_id() -> None:
    tick_at = datetime(2026, 3, 16, 19, 15, tzinfo=UTC)
    swept = SweptBooking(
        booking_id=BOOKING,
        subscription_id=SUBSCRIPTION,
        mentee_id=uuid.uuid4(),
        mentor_id=uuid.uuid4(),
        starts_at=datetime(2026, 3, 16, 18, tzinfo=UTC),
        ends_at=datetime(2026, 3, 16, 19, tzinfo=UTC),
    )
    [event] = unattended([swept], tick_at)
    assert event.event_id == UUID("ac5a0025-5aec-59bb-bb10-2c77fc6ac01c")
    assert (event.detected_at, event.occurred_at, event.mentee_id) == (
        tick_at,
        tick_at,
        swept.mentee_id,
    )
    assert unattended([swept], tick_at) == [event]


# --- attendance marks ---------------------------------------------------------------

MARKED_AT = datetime(2026, 3, 16, 18, 5, tzinfo=UTC)


def mark(attended: bool, revision: int | None, by: str = "system") -> AttendanceMarked:
    return AttendanceMarked.model_validate(
        {
            "occurred_at": MARKED_AT,
            "booking_id": BOOKING,
            "subscription_id": SUBSCRIPTION,
            "attended": attended,
            "marked_by": by,
            "marked_at": MARKED_AT + timedelta(minutes=revision or 0),
            "revision": revision,
        }
    )


def scheduled() -> Booking:
    return Booking(booking_id=BOOKING, status="scheduled")


def apply(booking: Booking, *marks: AttendanceMarked) -> Booking:
    for m in marks:
        booking = booking.record(m).booking
    return booking


def test_a_mark_records_attendance_and_its_revision() -> None:
    change = scheduled().record(mark(True, 1))
    assert change.applied
    assert change.booking == Booking(
        booking_id=BOOKING,
        status="attended",
        attended=True,
        mark_status="present",
        marked_by="system",
        marked_at=MARKED_AT + timedelta(minutes=1),
        mark_revision=1,
    )
    assert change.outcome == "marked present"


def test_a_mark_keeps_attendances_status() -> None:
    excused = mark(False, 2).model_copy(update={"status": "excused"})
    booking = scheduled().record(excused).booking
    assert (booking.status, booking.attended, booking.mark_status) == (
        "unattended",
        False,
        "excused",
    )
    absent = scheduled().record(mark(False, 1))
    assert (absent.booking.status, absent.outcome) == ("unattended", "marked absent")


def test_a_lower_revision_arriving_late_is_ignored() -> None:
    booking = apply(scheduled(), mark(True, 1), mark(False, 2, by="mentor"))
    late = booking.record(mark(True, 1))
    assert not late.applied
    assert late.booking == booking
    assert late.outcome == "kept mark revision 2 over 1"


def test_a_mark_with_the_revision_already_held_changes_nothing() -> None:
    booking = apply(scheduled(), mark(False, 2, by="mentor"))
    assert not booking.record(mark(True, 2)).applied


@pytest.mark.parametrize("order", list(itertools.permutations([1, 2, 3])), ids=str)
def test_the_highest_revision_stands_whatever_the_arrival_order(
    order: tuple[int, ...],
) -> None:
    booking = apply(scheduled(), *(mark(revision % 2 == 1, revision) for revision in order))
    assert (booking.mark_revision, booking.attended, booking.status) == (3, True, "attended")


def test_a_mark_without_revision_from_an_older_producer_is_applied_as_it_arrives() -> None:
    booking = apply(scheduled(), mark(False, 2, by="mentor"))
    legacy = booking.record(mark(True, None))
    assert legacy.applied
    assert (legacy.booking.attended, legacy.booking.mark_revision) == (True, None)
    # A mark held without revision cannot be ordered: the next one replaces it.
    assert legacy.booking.record(mark(False, 1)).applied


def test_a_cancelled_booking_stays_cancelled_but_keeps_the_mark() -> None:
    cancelled = Booking(booking_id=BOOKING, status="cancelled")
    booking = apply(cancelled, mark(True, 1))
    assert (booking.status, booking.attended, booking.mark_revision) == ("cancelled", True, 1)


# --- a mentee's cancellation ------------------------------------------------------------

STARTS = datetime(2026, 3, 23, 18, tzinfo=UTC)
MENTEE_ID, MENTOR_ID = uuid.uuid4(), uuid.uuid4()


def owned(status: BookingStatus = "scheduled") -> CancellableBooking:
    return CancellableBooking(
        BOOKING, SUBSCRIPTION, MENTEE_ID, MENTOR_ID, STARTS, STARTS + timedelta(hours=1), status
    )


def cancelling(before_start: timedelta, mentee_id: UUID = MENTEE_ID) -> CancelBooking:
    return CancelBooking(
        request_id=uuid.uuid4(),
        mentee_id=mentee_id,
        booking_id=BOOKING,
        requested_at=STARTS - before_start,
    )


@pytest.mark.parametrize(
    ("before_start", "status"),
    [
        (timedelta(days=3), "cancelled_in_time"),
        (timedelta(hours=24), "cancelled_in_time"),
        (timedelta(hours=23, minutes=59), "cancelled_late"),
        (timedelta(minutes=1), "cancelled_late"),
    ],
    ids=["days-ahead", "exactly-the-notice", "a-minute-short", "a-minute-before"],
)
def test_a_mentee_cancels_in_time_with_the_notice_and_late_without(
    before_start: timedelta, status: str
) -> None:
    request = cancelling(before_start)
    cancelled = cancel_by_mentee(owned(), request, Policy())
    assert isinstance(cancelled, BookingCancelled)
    assert (cancelled.status, cancelled.event_id, cancelled.cancelled_at) == (
        status,
        request.request_id,
        request.requested_at,
    )
    assert (cancelled.mentor_id, cancelled.starts_at) == (MENTOR_ID, STARTS)


@pytest.mark.parametrize(
    ("booking", "request_", "refusal"),
    [
        (
            owned(),
            cancelling(timedelta(days=2), uuid.uuid4()),
            ("forbidden", "this booking is not yours"),
        ),
        (
            owned("cancelled"),
            cancelling(timedelta(days=2)),
            ("conflict", "the booking is already cancelled"),
        ),
        (owned(), cancelling(timedelta(0)), ("conflict", "the session has already started")),
        (
            owned("unattended"),
            cancelling(-timedelta(days=1)),
            ("conflict", "the session has already started"),
        ),
    ],
    ids=["someone-elses", "cancelled-twice", "at-the-start", "past"],
)
def test_cancelling_someone_elses_a_cancelled_or_a_started_booking_is_refused(
    booking: CancellableBooking, request_: CancelBooking, refusal: tuple[str, str]
) -> None:
    assert cancel_by_mentee(booking, request_, Policy()) == Refusal(*refusal)  # type: ignore[arg-type]

"""Each step of a make-up (booking's events) as a line of the subscriber's history in
attendance: at the step's own time, by whom, about the missed session, with what the step
says in words (times in UTC) and for a reader to put in theirs (`makeup`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts import (
    BookingRef,
    BookingsScheduled,
    MakeupExpired,
    MakeupOwed,
    MakeupRefunded,
    MakeupUsed,
    MakeupWithdrawn,
    MarkStatus,
)
from contracts.rpc import HistoryMakeup
from services.attendance.makeups import MakeupEvent, Step, booked, steps

SUBSCRIPTION, MENTEE, MENTOR = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
MISSED = uuid.uuid4()
MISSED_AT = datetime(2026, 12, 1, 21, tzinfo=UTC)
MAKEUP = uuid.uuid4()
MAKEUP_AT = datetime(2026, 12, 8, 22, tzinfo=UTC)
ABOUT = {
    "subscription_id": SUBSCRIPTION,
    "mentee_id": MENTEE,
    "mentor_id": MENTOR,
    "missed_booking_id": MISSED,
    "missed_starts_at": MISSED_AT,
}


def owed(at: datetime) -> MakeupOwed:
    return MakeupOwed(occurred_at=at, owed_at=at, **ABOUT)


def scheduled(at: datetime) -> BookingsScheduled:
    return BookingsScheduled(
        occurred_at=at,
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        bookings=[
            BookingRef(
                booking_id=MAKEUP, starts_at=MAKEUP_AT, ends_at=MAKEUP_AT + timedelta(hours=1)
            )
        ],
        kind="makeup",
        makeup_for=MISSED,
    )


def used(at: datetime, mark: MarkStatus = "present") -> MakeupUsed:
    return MakeupUsed(
        occurred_at=at, booking_id=MAKEUP, starts_at=MAKEUP_AT, mark=mark, used_at=at, **ABOUT
    )


def line(step: Step) -> tuple[object, ...]:
    e = step.entry
    return (e.subscription_id, e.kind, e.at, e.actor, e.actor_id, e.booking_id, e.new_status)


def test_each_step_is_a_line_about_the_missed_session_at_its_own_time() -> None:
    t = MISSED_AT + timedelta(hours=2)
    # Published after the fact (occurred_at later than the step): the step's own time counts.
    late = timedelta(minutes=7)
    events: list[MakeupEvent] = [
        MakeupOwed(occurred_at=t + late, owed_at=t, **ABOUT),
        MakeupWithdrawn(occurred_at=t + 2 * late, withdrawn_at=t + late, **ABOUT),
        MakeupExpired(
            occurred_at=t + timedelta(days=14),
            book_by=MISSED_AT + timedelta(days=14),
            expired_at=t + timedelta(days=14),
            refund="stripe_credit",
            **ABOUT,
        ),
        MakeupRefunded(
            occurred_at=t + timedelta(days=15),
            amount=1500,
            currency="eur",
            stripe_balance_transaction_id="cbtxn_1",
            refunded_at=t + timedelta(days=14, minutes=1),
            **ABOUT,
        ),
        used(t + timedelta(days=8), "cancelled_late"),
    ]
    found = steps(events, earlier=set())
    system = (SUBSCRIPTION, "makeup")
    assert [line(s) for s in found] == [
        (*system, t, "system", None, MISSED, "owed"),
        (*system, t + late, "system", None, MISSED, "withdrawn"),
        (*system, t + timedelta(days=14), "system", None, MISSED, "expired"),
        (*system, t + timedelta(days=14, minutes=1), "system", None, MISSED, "refunded"),
        (*system, t + timedelta(days=8), "system", None, MISSED, "used"),
    ]
    assert [s.entry.reason for s in found] == [
        None,
        "the no-show mark was corrected",
        "not booked by Tue 15 Dec 2026, 21:00 UTC; one session's share is credited to the "
        "mentee's Stripe balance",
        "€15.00 credited to the mentee's Stripe balance",
        "make-up of Tue 08 Dec 2026, 22:00 UTC: cancelled late",
    ]
    assert [s.makeup for s in found] == [
        HistoryMakeup(),
        HistoryMakeup(),
        HistoryMakeup(book_by=MISSED_AT + timedelta(days=14), refund="stripe_credit"),
        HistoryMakeup(amount=1500, currency="eur"),
        HistoryMakeup(booking_id=MAKEUP, starts_at=MAKEUP_AT, mark="cancelled_late"),
    ]


def test_the_make_up_booked_is_the_mentors_line_with_its_start() -> None:
    at = MISSED_AT + timedelta(days=1)
    step = booked(scheduled(at))
    assert line(step) == (SUBSCRIPTION, "makeup", at, "mentor", MENTOR, MISSED, "booked")
    assert step.entry.reason == "make-up on Tue 08 Dec 2026, 22:00 UTC"
    assert step.makeup == HistoryMakeup(booking_id=MAKEUP, starts_at=MAKEUP_AT)
    assert step.key == (MISSED, "booked", at)


def test_a_used_make_up_says_its_mark() -> None:
    [step] = steps([used(MAKEUP_AT + timedelta(hours=1))], earlier=())
    assert step.entry.reason == "make-up of Tue 08 Dec 2026, 22:00 UTC: present"
    assert step.makeup.mark == "present"


def test_owed_after_an_earlier_owed_of_the_same_session_is_owed_again() -> None:
    first, cancelled = MISSED_AT + timedelta(hours=2), MISSED_AT + timedelta(days=3)
    # In one batch, or with the first already in the history.
    together = steps([owed(first), owed(cancelled)], earlier=set())
    after = steps([owed(cancelled)], earlier={(MISSED, "owed", first)})
    for again in (together[1], after[0]):
        assert (again.entry.reason, again.makeup.again) == ("owed again", True)
    assert (together[0].entry.reason, together[0].makeup.again) == (None, False)
    # The same owed announced again is the same line (same key), not owed again.
    [same] = steps([owed(first)], earlier={(MISSED, "owed", first)})
    assert same.makeup.again is False and same.key == (MISSED, "owed", first)
    # Another session's owed, or an earlier line of another step, says nothing of it.
    other = {(uuid.uuid4(), "owed", first), (MISSED, "booked", first)}
    [alone] = steps([owed(cancelled)], earlier=other)
    assert alone.makeup.again is False

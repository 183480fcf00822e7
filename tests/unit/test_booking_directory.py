"""The gateway's booking directory: who owns a booking and whether it is cancelled, as
heard from booking's events and answers (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts import BookingRef, BookingsScheduled
from contracts.rpc import BookingFound
from services.gateway.directory import BookingDirectory

NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def scheduled(count: int = 2) -> BookingsScheduled:
    return BookingsScheduled(
        occurred_at=NOW,
        subscription_id=uuid.uuid4(),
        mentee_id=uuid.uuid4(),
        mentor_id=uuid.uuid4(),
        bookings=[
            BookingRef(
                booking_id=uuid.uuid4(),
                starts_at=NOW + timedelta(weeks=w),
                ends_at=NOW + timedelta(weeks=w, hours=1),
            )
            for w in range(count)
        ],
        timezone="Europe/Lisbon",
    )


def test_a_scheduled_booking_is_found_as_booking_would_answer_and_an_unknown_is_not() -> None:
    directory = BookingDirectory(capacity=10)
    msg = scheduled()
    directory.scheduled(msg)
    found = directory.found(msg.bookings[1].booking_id)
    assert found == BookingFound(
        booking_id=msg.bookings[1].booking_id,
        subscription_id=msg.subscription_id,
        mentee_id=msg.mentee_id,
        mentor_id=msg.mentor_id,
        status="scheduled",
        starts_at=msg.bookings[1].starts_at,
        ends_at=msg.bookings[1].ends_at,
        timezone="Europe/Lisbon",
    )
    assert directory.found(uuid.uuid4()) is None
    assert (directory.hits, directory.misses) == (1, 1)


def test_a_cancellation_sticks_whatever_is_heard_after_it() -> None:
    directory = BookingDirectory(capacity=10)
    msg = scheduled()
    booking_id = msg.bookings[0].booking_id
    directory.scheduled(msg)
    directory.cancelled([booking_id, uuid.uuid4()])  # an unknown one is no entry
    assert len(directory) == 2
    directory.scheduled(msg)  # a repeat of the schedule
    before = BookingFound(
        booking_id=booking_id,
        subscription_id=msg.subscription_id,
        mentee_id=msg.mentee_id,
        mentor_id=msg.mentor_id,
        status="scheduled",
    )
    directory.answered(before)  # an answer booking gave before it cancelled
    found = directory.found(booking_id)
    assert found is not None and found.status == "cancelled"


def test_booking_answers_are_kept_and_an_answer_about_no_booking_is_not() -> None:
    directory = BookingDirectory(capacity=10)
    answer = BookingFound(
        booking_id=uuid.uuid4(),
        subscription_id=uuid.uuid4(),
        mentee_id=uuid.uuid4(),
        mentor_id=uuid.uuid4(),
        status="attended",
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=1),
        timezone="America/Sao_Paulo",
    )
    directory.answered(answer)
    directory.answered(BookingFound(booking_id=uuid.uuid4()))
    assert len(directory) == 1
    found = directory.found(answer.booking_id)
    assert found is not None and (found.mentee_id, found.status) == (answer.mentee_id, "scheduled")
    assert (found.starts_at, found.ends_at, found.timezone) == (
        answer.starts_at,
        answer.ends_at,
        "America/Sao_Paulo",
    )


def test_beyond_its_capacity_it_forgets_the_bookings_heard_of_first() -> None:
    directory = BookingDirectory(capacity=3)
    first, second = scheduled(2), scheduled(2)
    directory.scheduled(first)
    directory.scheduled(second)
    assert len(directory) == 3
    assert directory.found(first.bookings[0].booking_id) is None
    assert directory.found(second.bookings[1].booking_id) is not None
    directory.forget_all()
    assert len(directory) == 0
    none = BookingDirectory(capacity=0)
    none.scheduled(first)
    assert len(none) == 0

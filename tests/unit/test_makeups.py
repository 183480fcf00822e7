"""A make-up owed for a mentor's no-show: owed once per missed booking, withdrawn by a
correction unless already booked or used, the same whatever order or repetition the
marks arrive in."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import (
    AttendanceMarked,
    MakeupOwed,
    MakeupUsed,
    MakeupWithdrawn,
    MarkStatus,
    Slot,
)
from contracts.rpc import ScheduleMakeup
from services.booking.domain import BookedSession, Booking, Subscription
from services.booking.makeups import (
    Clash,
    Makeup,
    Scheduled,
    after_cancellation,
    after_makeup_mark,
    after_mark,
    expired,
    schedule,
    session_share,
)
from services.kit.refusals import Refusal

STARTS = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
SESSION = BookedSession(
    uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), STARTS, STARTS + timedelta(hours=1)
)


def mark(revision: int, status: MarkStatus) -> AttendanceMarked:
    at = STARTS + timedelta(hours=1, minutes=revision)
    return AttendanceMarked(
        occurred_at=at,
        booking_id=SESSION.booking_id,
        subscription_id=SESSION.subscription_id,
        attended=status in ("present", "late"),
        status=status,
        marked_by="mentor" if revision > 1 else "system",
        marked_at=at,
        revision=revision,
    )


def deliver(
    *marks: AttendanceMarked, credit: Makeup | None = None
) -> tuple[Makeup | None, list[object]]:
    """Apply the marks as booking does, and the credit after each mark it applies."""
    booking = Booking(SESSION.booking_id, "scheduled")
    events: list[object] = []
    for m in marks:
        change = booking.record(m)
        if not change.applied:
            continue
        booking = change.booking
        after, event = after_mark(SESSION, booking, credit)
        credit = after or credit
        events += [event] if event else []
    return credit, events


def test_a_mentor_no_show_owes_one_make_up_and_says_so() -> None:
    credit, events = deliver(mark(1, "mentor_no_show"))
    assert credit is not None and credit.status == "owed"
    assert credit.missed_booking_id == SESSION.booking_id
    [owed] = events
    assert isinstance(owed, MakeupOwed)
    assert (owed.missed_starts_at, owed.owed_at) == (STARTS, mark(1, "absent").marked_at)


def test_the_same_no_show_again_owes_nothing_more() -> None:
    credit, events = deliver(mark(1, "mentor_no_show"), mark(1, "mentor_no_show"))
    assert credit is not None and credit.status == "owed" and len(events) == 1
    # A later revision that is still a no-show (the mentor confirms it): no second credit.
    credit, events = deliver(mark(1, "mentor_no_show"), mark(2, "mentor_no_show"))
    assert len(events) == 1


def test_a_correction_withdraws_the_credit_and_a_no_show_again_owes_it_again() -> None:
    credit, events = deliver(mark(1, "mentor_no_show"), mark(2, "present"))
    assert credit is not None and credit.status == "withdrawn"
    assert [type(e) for e in events] == [MakeupOwed, MakeupWithdrawn]
    credit, events = deliver(
        mark(1, "mentor_no_show"), mark(2, "present"), mark(3, "mentor_no_show")
    )
    assert credit is not None and credit.status == "owed"
    assert [type(e) for e in events] == [MakeupOwed, MakeupWithdrawn, MakeupOwed]
    assert len({e.event_id for e in events}) == 3  # type: ignore[attr-defined]


def test_a_credit_booked_or_used_is_not_withdrawn() -> None:
    owed, _ = deliver(mark(1, "mentor_no_show"))
    assert owed is not None
    for status in ("booked", "used", "expired"):
        kept = replace(owed, status=status)
        booking = Booking(SESSION.booking_id, "attended", True, "present", "mentor", STARTS, 2)
        assert after_mark(SESSION, booking, kept) == (None, None)


def test_other_marks_owe_nothing() -> None:
    for status in ("present", "late", "absent", "excused"):
        credit, events = deliver(mark(1, status))  # type: ignore[arg-type]
        assert credit is None and events == []


STATUSES: list[MarkStatus] = ["mentor_no_show", "present", "absent", "excused"]


@settings(max_examples=200, deadline=None)
@given(
    statuses=st.lists(st.sampled_from(STATUSES), min_size=1, max_size=5),
    repeats=st.lists(st.integers(0, 4), max_size=3),
    data=st.data(),
)
def test_any_arrival_order_ends_with_the_credit_of_the_last_revision(
    statuses: list[MarkStatus], repeats: list[int], data: st.DataObject
) -> None:
    marks = [mark(revision, s) for revision, s in enumerate(statuses, start=1)]
    marks += [marks[i] for i in repeats if i < len(marks)]
    in_order, _ = deliver(*sorted(marks, key=lambda m: m.revision or 0))
    arrived, events = deliver(*data.draw(st.permutations(marks)))

    def standing(credit: Makeup | None) -> str:
        return "none" if credit is None or credit.status == "withdrawn" else credit.status

    assert standing(arrived) == standing(in_order)
    assert standing(in_order) == ("owed" if statuses[-1] == "mentor_no_show" else "none")
    # Owed and withdrawn alternate: never two credits at once.
    kinds = [type(e) for e in events]
    assert all(a is not b for a, b in pairwise(kinds))


# --- booking the make-up -------------------------------------------------------------

SUBSCRIPTION = Subscription(
    subscription_id=SESSION.subscription_id,
    stripe_subscription_id=None,
    mentee_id=SESSION.mentee_id,
    mentor_id=SESSION.mentor_id,
    slot=Slot(weekday=0, start_time="18:00", duration_minutes=60, timezone="Europe/Lisbon"),
    cycle_starts_at=STARTS,
    cycle_ends_at=STARTS + timedelta(weeks=4),
)
OWED = Makeup(SESSION.booking_id, SESSION.subscription_id, "owed", STARTS, STARTS)
WITHIN = timedelta(days=14)


def asked(
    starts_at: datetime, *, by: uuid.UUID = SESSION.mentor_id, request_id: uuid.UUID | None = None
) -> ScheduleMakeup:
    return ScheduleMakeup(
        request_id=request_id or uuid.uuid4(),
        mentor_id=by,
        subscription_id=SESSION.subscription_id,
        missed_booking_id=SESSION.booking_id,
        starts_at=starts_at,
        requested_at=STARTS + timedelta(days=1),
    )


def test_a_make_up_booked_is_a_booking_as_long_as_the_missed_session_announced_as_one() -> None:
    at = STARTS + timedelta(days=3)
    request = asked(at)
    done = schedule(request, SUBSCRIPTION, SESSION, OWED, WITHIN, [])
    assert isinstance(done, Scheduled)
    assert (done.booking.starts_at, done.booking.ends_at) == (at, at + timedelta(hours=1))
    assert done.credit.status == "booked" and done.credit.booking_id == done.booking.booking_id
    assert done.credit.changed_at == request.requested_at
    event = done.event
    assert event is not None and (event.kind, event.makeup_for) == ("makeup", SESSION.booking_id)
    assert [b.booking_id for b in event.bookings] == [done.booking.booking_id]
    assert event.timezone == "Europe/Lisbon" and event.mentee_id == SESSION.mentee_id
    # The same request delivered again: the same booking, nothing to write.
    again = schedule(request, SUBSCRIPTION, SESSION, done.credit, WITHIN, [])
    assert isinstance(again, Scheduled) and again.event is None
    assert again.booking == done.booking
    # Another request for the same credit: already booked.
    other = schedule(asked(at), SUBSCRIPTION, SESSION, done.credit, WITHIN, [])
    assert other == Refusal("conflict", "this make-up is already booked")


def test_a_make_up_starts_ahead_and_within_the_days_after_the_missed_session() -> None:
    latest = STARTS + WITHIN
    assert isinstance(schedule(asked(latest), SUBSCRIPTION, SESSION, OWED, WITHIN, []), Scheduled)
    late = schedule(asked(latest + timedelta(minutes=1)), SUBSCRIPTION, SESSION, OWED, WITHIN, [])
    assert isinstance(late, Refusal) and late.code == "invalid"
    assert "within 14 days" in late.detail and "2026-03-16T18:00" in late.detail
    past = schedule(asked(STARTS + timedelta(days=1)), SUBSCRIPTION, SESSION, OWED, WITHIN, [])
    assert past == Refusal("invalid", "a make-up must start in the future")


def test_a_make_up_never_overlaps_another_of_the_mentors_sessions_and_says_which() -> None:
    at = STARTS + timedelta(days=3)
    clash = Clash(at + timedelta(minutes=30), at + timedelta(minutes=90), "Europe/Lisbon")
    refused = schedule(asked(at), SUBSCRIPTION, SESSION, OWED, WITHIN, [clash])
    assert refused == Refusal(
        "conflict",
        "clashes with another of your sessions, Thu 05 Mar 2026, 18:30 to 19:30 (Europe/Lisbon)",
    )


def test_only_the_mentor_books_only_a_make_up_owed_and_not_for_a_reprobated_mentee() -> None:
    at = STARTS + timedelta(days=3)
    stranger = schedule(asked(at, by=uuid.uuid4()), SUBSCRIPTION, SESSION, OWED, WITHIN, [])
    assert isinstance(stranger, Refusal) and stranger.code == "forbidden"
    assert schedule(asked(at), SUBSCRIPTION, SESSION, None, WITHIN, []) == Refusal(
        "not_found", "no make-up is owed for this session"
    )
    for status in ("withdrawn", "used", "expired"):
        refused = schedule(
            asked(at), SUBSCRIPTION, SESSION, replace(OWED, status=status), WITHIN, []
        )
        assert isinstance(refused, Refusal) and refused.code == "conflict"
    reprobated = replace(SUBSCRIPTION, status="reprobated", reprobated_at=STARTS)
    refused = schedule(asked(at), reprobated, SESSION, OWED, WITHIN, [])
    assert isinstance(refused, Refusal) and "reprobated" in refused.detail


def test_a_make_ups_session_marked_uses_it_and_a_cleared_mark_books_it_again() -> None:
    at = STARTS + timedelta(days=3)
    makeup = replace(
        SESSION, booking_id=uuid.uuid4(), starts_at=at, ends_at=at + timedelta(hours=1)
    )
    booked = replace(OWED, status="booked", booking_id=makeup.booking_id)
    booking = Booking(makeup.booking_id, "scheduled", makeup_for=SESSION.booking_id)
    assert after_makeup_mark(SESSION, makeup, booking, booked) == (None, None)  # unmarked
    events = set()
    for status in ("present", "absent", "mentor_no_show"):
        marked = replace(booking, mark_status=status, marked_at=at)
        used, event = after_makeup_mark(SESSION, makeup, marked, booked)
        assert used is not None and (used.status, used.changed_at) == ("used", at)
        assert isinstance(event, MakeupUsed) and (event.mark, event.starts_at) == (status, at)
        assert event.missed_booking_id == SESSION.booking_id
        events.add(event.event_id)
    assert len(events) == 1  # one use per make-up, whichever mark says so
    used = replace(booked, status="used")
    assert after_makeup_mark(SESSION, makeup, booking, used) == (
        replace(booked, status="booked"),
        None,
    )


def test_a_make_up_cancelled_is_owed_again_unless_the_mentee_cancelled_late() -> None:
    makeup = replace(SESSION, booking_id=uuid.uuid4())
    booked = replace(OWED, status="booked", booking_id=makeup.booking_id)
    at = STARTS + timedelta(days=2)
    again, owed = after_cancellation(SESSION, makeup, booked, at, late=False)
    assert again == replace(OWED, status="owed", booking_id=None, changed_at=at)
    assert isinstance(owed, MakeupOwed) and owed.owed_at == at
    other = replace(makeup, booking_id=uuid.uuid4())
    _, owed_after_another = after_cancellation(SESSION, other, booked, at, late=False)
    assert owed_after_another is not None and owed_after_another.event_id != owed.event_id
    used, event = after_cancellation(SESSION, makeup, booked, at, late=True)
    assert used is not None and used.status == "used" and used.booking_id == makeup.booking_id
    assert isinstance(event, MakeupUsed) and event.mark == "cancelled_late"
    assert after_cancellation(SESSION, makeup, OWED, at, late=False) == (None, None)


def test_an_expired_make_up_says_its_latest_start_and_the_refund_and_replays_the_same() -> None:
    tick = STARTS + timedelta(days=15)
    [event] = expired([SESSION], tick, WITHIN, "stripe_credit")
    assert (event.missed_booking_id, event.book_by, event.expired_at, event.refund) == (
        SESSION.booking_id,
        STARTS + WITHIN,
        tick,
        "stripe_credit",
    )
    [again] = expired([SESSION], tick + timedelta(hours=1), WITHIN, "stripe_credit")
    assert again.event_id == event.event_id


def test_one_sessions_share_is_the_cycles_price_over_its_weekly_sessions_rounded_down() -> None:
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    four_weeks = replace(  # 2 to 30 March: four Mondays
        SUBSCRIPTION,
        slot=Slot(weekday=0, start_time="18:00", duration_minutes=60, timezone="UTC"),
        cycle_starts_at=monday,
        cycle_ends_at=monday + timedelta(weeks=4),
    )
    assert session_share(6000, four_weeks) == 1500
    assert session_share(5999, four_weeks) == 1499
    five = replace(four_weeks, cycle_ends_at=monday + timedelta(weeks=4, days=1))
    assert session_share(6000, five) == 1200
    assert session_share(0, four_weeks) == 0


def test_a_make_up_asked_with_an_offset_is_booked_at_that_instant_in_utc() -> None:
    sao_paulo = timezone(timedelta(hours=-3))
    at = (STARTS + timedelta(days=3)).astimezone(sao_paulo)
    done = schedule(asked(at), SUBSCRIPTION, SESSION, OWED, WITHIN, [])
    assert isinstance(done, Scheduled) and done.event is not None
    assert done.booking.starts_at == at and done.booking.starts_at.tzinfo is UTC
    assert done.event.bookings[0].starts_at.utcoffset() == timedelta(0)

"""A make-up owed for a mentor's no-show: owed once per missed booking, withdrawn by a
correction unless already booked or used, the same whatever order or repetition the
marks arrive in."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import AttendanceMarked, MakeupOwed, MakeupWithdrawn, MarkStatus
from services.booking.domain import BookedSession, Booking
from services.booking.makeups import Makeup, after_mark

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

"""Marks that can be true: what happened in a session is known only once it has
started; excused may be given ahead, and a mentor may take their mark back before the
session. Each session is shown once, whatever bookings it has had."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from contracts import AttendanceMarkCleared, MarkStatus
from contracts.rpc import ClearMark, MarkAttendance
from contracts.sessions import one_per_session
from services.attendance.domain import Change, Record, too_early_to_mark
from services.kit.refusals import Refusal
from tests.unit.test_attendance_record import MENTOR, POLICY, absent, run, subscription

BEFORE = timedelta(minutes=1)


def mark_at(record: Record, week: int, status: MarkStatus, at: datetime) -> MarkAttendance:
    return MarkAttendance(
        request_id=uuid.uuid4(),
        mentor_id=MENTOR,
        booking_id=record.sessions[week].booking_id,
        status=status,
        marked_at=at,
    )


def clear_at(record: Record, week: int, at: datetime, mentor_id: uuid.UUID = MENTOR) -> ClearMark:
    return ClearMark(
        request_id=uuid.uuid4(),
        mentor_id=mentor_id,
        booking_id=record.sessions[week].booking_id,
        requested_at=at,
    )


@pytest.mark.parametrize("status", ["present", "late", "absent", "mentor_no_show"])
def test_what_happened_cannot_be_marked_before_the_session_starts(status: MarkStatus) -> None:
    record = subscription()
    starts = record.sessions[1].starts_at
    refused = record.mark(mark_at(record, 1, status, starts - BEFORE), POLICY)
    assert isinstance(refused, Refusal)
    assert refused.code == "conflict"
    assert "has not started" in refused.detail
    assert status.replace("_", " ") in refused.detail
    # From the start on, it can.
    assert isinstance(record.mark(mark_at(record, 1, status, starts), POLICY), Change)


def test_excused_may_be_given_ahead() -> None:
    record = subscription()
    starts = record.sessions[2].starts_at
    change = record.mark(mark_at(record, 2, "excused", starts - timedelta(days=3)), POLICY)
    assert isinstance(change, Change)
    assert change.record.sessions[2].status == "excused"


def test_the_rule_is_about_the_session_start_and_the_request_time_only() -> None:
    starts = subscription().sessions[0].starts_at
    assert too_early_to_mark("present", starts, starts - BEFORE) is not None
    assert too_early_to_mark("present", starts, starts) is None
    assert too_early_to_mark("excused", starts, starts - timedelta(days=30)) is None


def test_a_mentor_clears_their_mark_before_the_session_and_booking_is_told() -> None:
    record = subscription()
    starts = record.sessions[2].starts_at
    marked = record.mark(mark_at(record, 2, "excused", starts - timedelta(days=2)), POLICY)
    assert isinstance(marked, Change)
    request = clear_at(marked.record, 2, starts - timedelta(days=1))
    cleared = marked.record.clear(request, POLICY)
    assert isinstance(cleared, Change)
    session = cleared.record.sessions[2]
    assert (session.status, session.marked_by, session.marked_at) == (None, None, None)
    # The revision counts the clearing, so booking applies it over the mark.
    assert session.revision == marked.record.sessions[2].revision + 1
    (event,) = [e for e in cleared.events if isinstance(e, AttendanceMarkCleared)]
    assert (event.event_id, event.revision) == (request.request_id, session.revision)
    (line,) = cleared.history
    assert (line.kind, line.old_status, line.new_status, line.actor) == (
        "mark",
        "excused",
        None,
        "mentor",
    )


def test_a_mark_cannot_be_cleared_once_the_session_has_started() -> None:
    record = subscription()
    starts = record.sessions[1].starts_at
    marked = record.mark(mark_at(record, 1, "excused", starts - BEFORE), POLICY)
    assert isinstance(marked, Change)
    refused = marked.record.clear(clear_at(marked.record, 1, starts), POLICY)
    assert isinstance(refused, Refusal)
    assert refused.code == "conflict"
    assert "has started" in refused.detail


def test_only_the_mentors_own_mark_by_the_mentor_themselves_can_be_cleared() -> None:
    fresh = subscription()
    record, _ = run(fresh, absent(fresh, 0))
    # The system's absence of a past session: not the mentor's, and started anyway.
    refused = record.clear(clear_at(record, 0, record.sessions[0].starts_at - BEFORE), POLICY)
    assert isinstance(refused, Refusal)
    assert "only a mark of yours" in refused.detail
    other = record.clear(clear_at(record, 0, record.sessions[0].starts_at, uuid.uuid4()), POLICY)
    assert isinstance(other, Refusal)
    assert other.code == "forbidden"


def test_clearing_an_unmarked_session_changes_nothing() -> None:
    record = subscription()
    change = record.clear(clear_at(record, 3, record.sessions[3].starts_at - BEFORE), POLICY)
    assert isinstance(change, Change)
    assert (change.record, change.events, change.history) == (record, (), ())


@dataclass(frozen=True)
class Booked:
    id: str
    starts: int
    live: bool


def test_each_session_is_shown_once_by_its_live_booking() -> None:
    bookings = [
        Booked("a", 1, True),
        Booked("b", 2, False),  # cancelled by a reprobation
        Booked("c", 3, False),
        Booked("b2", 2, True),  # booked again by the reactivation
        Booked("c2", 3, True),
        Booked("d", 4, False),  # cancelled, never booked again
    ]
    shown = one_per_session(bookings, lambda b: b.starts, lambda b: b.live)
    assert [(s.booking.id, [r.id for r in s.replaces]) for s in shown] == [
        ("a", []),
        ("b2", ["b"]),
        ("c2", ["c"]),
        ("d", []),
    ]

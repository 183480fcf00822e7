"""One subscription's attendance (`Record`), fed facts in different orders, without I/O:
the join window, whose mark stands, the streak, and what it calls for."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from contracts import (
    AttendanceMarked,
    BookingCancelled,
    BookingUnattended,
    Event,
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    SessionJoined,
    SubscriptionEnded,
    SubscriptionRenewed,
)
from contracts.rpc import MarkAttendance, ReactivateMentee
from services.attendance.domain import (
    Change,
    Policy,
    Record,
    Refusal,
    Session,
    join_window_contains,
    subscriber_status,
)
from services.kit.ids import derived_id

START = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
OPENS = timedelta(minutes=15)
POLICY = Policy(warn_after=1, reprobate_after=2, join_opens_before=OPENS)
MENTEE = uuid.uuid4()
MENTOR = uuid.uuid4()

Fact = BookingUnattended | SessionJoined | MarkAttendance | ReactivateMentee | BookingCancelled


def subscription(weeks: int = 4) -> Record:
    """A subscription with `weeks` weekly one-hour sessions, none marked."""
    return Record(
        subscription_id=uuid.uuid4(),
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        cycle_starts_at=START,
        cycle_ends_at=START + timedelta(weeks=weeks),
        sessions=tuple(
            Session(uuid.uuid4(), START + timedelta(weeks=w), END + timedelta(weeks=w))
            for w in range(weeks)
        ),
    )


def tick_after(record: Record, week: int) -> datetime:
    return record.sessions[week].ends_at + timedelta(minutes=20)


def absent(record: Record, week: int, detected_at: datetime | None = None) -> BookingUnattended:
    s = record.sessions[week]
    detected = detected_at or tick_after(record, week)
    return BookingUnattended(
        occurred_at=detected,
        booking_id=s.booking_id,
        subscription_id=record.subscription_id,
        mentee_id=record.mentee_id,
        mentor_id=record.mentor_id,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        detected_at=detected,
    )


def joined(
    record: Record, week: int, after_start: timedelta = timedelta(minutes=3)
) -> SessionJoined:
    at = record.sessions[week].starts_at + after_start
    return SessionJoined(
        occurred_at=at, booking_id=record.sessions[week].booking_id, mentee_id=MENTEE, joined_at=at
    )


def mentor_marks(
    record: Record, week: int, attended: bool, mentor_id: uuid.UUID = MENTOR
) -> MarkAttendance:
    return MarkAttendance(
        request_id=uuid.uuid4(),
        mentor_id=mentor_id,
        booking_id=record.sessions[week].booking_id,
        attended=attended,
        marked_at=record.sessions[week].ends_at + timedelta(hours=1),
    )


def reactivation(at: datetime, mentor_id: uuid.UUID = MENTOR) -> ReactivateMentee:
    return ReactivateMentee(
        request_id=uuid.uuid4(), mentor_id=mentor_id, subscription_id=uuid.uuid4(), requested_at=at
    )


def apply(record: Record, fact: Fact, policy: Policy = POLICY) -> Change:
    """What the handler for `fact` asks of the record."""
    change: Change | Refusal
    if isinstance(fact, BookingUnattended):
        change = record.record_absence(fact, policy)
    elif isinstance(fact, SessionJoined):
        change = record.record_join(fact, policy)
    elif isinstance(fact, MarkAttendance):
        change = record.mark(fact, policy)
    elif isinstance(fact, BookingCancelled):
        change = record.record_cancellation(fact, policy)
    else:
        change = record.reactivate(fact)
    assert isinstance(change, Change), change
    return change


def run(record: Record, *facts: Fact, policy: Policy = POLICY) -> tuple[Record, list[Event]]:
    """Apply `facts` in the order given; the record after them and every event caused."""
    events: list[Event] = []
    for fact in facts:
        change = apply(record, fact, policy)
        record, events = change.record, [*events, *change.events]
    return record, events


def kinds(events: list[Event]) -> list[str]:
    return [e.routing_key for e in events]


# --- the join window -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("joined_at", "inside"),
    [
        (START - OPENS, True),
        (START - OPENS - timedelta(seconds=1), False),
        (START, True),
        (END - timedelta(seconds=1), True),
        (END, False),
    ],
    ids=["at-opening", "second-before-opening", "at-start", "last-second", "at-end"],
)
def test_the_join_window_opens_before_the_start_and_closes_at_the_end(
    joined_at: datetime, inside: bool
) -> None:
    assert join_window_contains(START, END, joined_at, OPENS) is inside


def test_a_join_inside_the_window_marks_present_and_announces_it() -> None:
    record = subscription()
    join = joined(record, 0, -OPENS)
    change = apply(record, join)
    [marked] = change.events
    assert isinstance(marked, AttendanceMarked)
    assert (marked.booking_id, marked.attended, marked.marked_by, marked.marked_at) == (
        join.booking_id,
        True,
        "system",
        join.joined_at,
    )
    assert change.record.sessions[0].attended is True and change.outcome == "marked present"


@pytest.mark.parametrize(
    "after_start", [-OPENS - timedelta(seconds=1), timedelta(hours=1)], ids=["early", "at-end"]
)
def test_a_join_outside_the_window_marks_nothing(after_start: timedelta) -> None:
    record = subscription()
    change = apply(record, joined(record, 0, after_start))
    assert change.record == record and change.events == ()
    assert change.outcome == "not marked: joined outside the session's window"


def test_a_join_by_another_mentee_or_on_a_cancelled_booking_marks_nothing() -> None:
    record = subscription()
    stranger = joined(record, 0).model_copy(update={"mentee_id": uuid.uuid4()})
    assert apply(record, stranger).events == ()
    cancelled = replace(
        record, sessions=(replace(record.sessions[0], cancelled=True), *record.sessions[1:])
    )
    change = apply(cancelled, joined(cancelled, 0))
    assert change.events == () and change.outcome == "not marked: the booking is cancelled"


# --- the streak and its thresholds ------------------------------------------------------


def test_a_first_absence_warns() -> None:
    record = subscription()
    after, events = run(record, absent(record, 0))
    [warned] = events
    assert isinstance(warned, MenteeWarned)
    assert warned.consecutive_absences == 1 and warned.booking_id == record.sessions[0].booking_id
    assert after.consecutive_absences == 1 and after.warned_streaks == {"start"}
    assert not after.is_reprobated


def test_a_second_consecutive_absence_reprobates_at_the_ticks_time() -> None:
    record = subscription()
    tick = tick_after(record, 1)
    after, events = run(record, absent(record, 0), absent(record, 1, detected_at=tick))
    assert kinds(events) == ["mentee.warned", "mentee.reprobated"]
    reprobated = events[-1]
    assert isinstance(reprobated, MenteeReprobated)
    assert reprobated.reprobated_at == tick and after.reprobated_at == tick
    assert reprobated.missed_booking_ids == [s.booking_id for s in record.sessions[:2]]
    assert after.is_reprobated and after.consecutive_absences == 2


def test_miss_attend_miss_warns_twice_and_does_not_reprobate() -> None:
    record = subscription()
    after, events = run(record, absent(record, 0), joined(record, 1), absent(record, 2))
    assert kinds(events) == ["mentee.warned", "attendance.marked", "mentee.warned"]
    assert not after.is_reprobated and after.consecutive_absences == 1


def test_absences_arriving_out_of_order_still_reprobate_once() -> None:
    record = subscription()
    tick = tick_after(record, 1)
    first, second = absent(record, 0, detected_at=tick), absent(record, 1, detected_at=tick)
    in_order, in_order_events = run(record, first, second)
    out_of_order, out_of_order_events = run(record, second, first)
    assert kinds(out_of_order_events) == ["mentee.warned", "mentee.reprobated"]
    assert [e.event_id for e in out_of_order_events] == [e.event_id for e in in_order_events]
    assert out_of_order == in_order and out_of_order.reprobated_at == tick


def test_each_threshold_is_acted_on_once_per_streak() -> None:
    record = subscription(weeks=4)
    after, events = run(record, *(absent(record, w) for w in range(4)))
    assert kinds(events) == ["mentee.warned", "mentee.reprobated"]
    assert after.consecutive_absences == 4


def test_the_thresholds_are_the_policys() -> None:
    record = subscription()
    policy = Policy(warn_after=2, reprobate_after=3)
    _, events = run(record, *(absent(record, w) for w in range(3)), policy=policy)
    assert kinds(events) == ["mentee.warned", "mentee.reprobated"]
    assert isinstance(events[0], MenteeWarned) and events[0].consecutive_absences == 2
    assert events[0].reprobate_after_absences == 3  # for the email: one more cancels


def test_cancelled_sessions_do_not_count() -> None:
    record = subscription()
    sessions = list(record.sessions)
    sessions[1] = replace(sessions[1], cancelled=True, status="absent", marked_by="system")
    record = replace(record, sessions=tuple(sessions))
    after, events = run(record, absent(record, 0), absent(record, 2))
    assert after.consecutive_absences == 2 and kinds(events)[-1] == "mentee.reprobated"


def test_an_unmarked_session_holds_the_decisions_after_it_until_it_is_marked() -> None:
    record = subscription()
    waiting, held = run(record, absent(record, 1))  # week 0 not swept yet
    assert held == [] and waiting.consecutive_absences == 0
    assert waiting.sessions[1].status == "absent"
    after, events = run(waiting, absent(record, 0))
    assert kinds(events) == ["mentee.warned", "mentee.reprobated"]
    assert after.consecutive_absences == 2


def test_an_absence_missing_from_the_schedule_copy_is_recorded_from_the_report() -> None:
    full = subscription()
    record = replace(full, sessions=full.sessions[1:])
    after, events = run(record, absent(full, 0))
    assert kinds(events) == ["mentee.warned"]
    assert after.sessions[0].booking_id == full.sessions[0].booking_id
    assert after.sessions[0].attended is False


# --- whose mark stands --------------------------------------------------------------------


def test_a_mentors_mark_overrides_the_systems() -> None:
    record = subscription()
    after, events = run(record, absent(record, 0), mentor_marks(record, 0, attended=True))
    assert kinds(events) == ["mentee.warned", "attendance.marked"]
    session = after.sessions[0]
    assert (session.attended, session.marked_by) == (True, "mentor")
    assert after.consecutive_absences == 0


def test_the_system_never_overrides_a_mentors_mark() -> None:
    record = subscription()
    marked, _ = run(record, mentor_marks(record, 0, attended=False))
    join = apply(marked, joined(marked, 0))
    absence = apply(marked, absent(marked, 0))
    assert join.record == marked and join.events == ()
    assert join.outcome == "not marked: the mentor's mark stands"
    assert absence.record == marked and absence.events == ()


def test_an_absence_report_after_a_join_leaves_the_mark_standing() -> None:
    record = subscription()
    present, _ = run(record, joined(record, 0))
    change = apply(present, absent(present, 0))
    assert change.record == present and change.events == ()


def test_a_late_join_corrects_the_systems_absence_without_acting_on_thresholds() -> None:
    record = subscription()
    missed, _ = run(record, absent(record, 0), absent(record, 1))
    change = apply(missed, joined(missed, 1))
    assert kinds(list(change.events)) == ["attendance.marked"]
    assert change.record.consecutive_absences == 0 and change.record.is_reprobated


def test_a_mentor_correction_stops_a_pending_reprobation() -> None:
    record = subscription()
    _, events = run(
        record, absent(record, 0), mentor_marks(record, 0, attended=True), absent(record, 1)
    )
    warnings = [e for e in events if isinstance(e, MenteeWarned)]
    assert [w.consecutive_absences for w in warnings] == [1, 1]
    assert not any(isinstance(e, MenteeReprobated) for e in events)


def test_a_mentors_absence_acts_on_thresholds_like_the_sweeps() -> None:
    record = subscription()
    mark = mentor_marks(record, 1, attended=False)
    after, events = run(record, mentor_marks(record, 0, attended=False), mark)
    assert kinds(events) == [
        "attendance.marked",
        "mentee.warned",
        "attendance.marked",
        "mentee.reprobated",
    ]
    assert events[2].event_id == mark.request_id and after.reprobated_at == mark.marked_at


def test_only_the_subscriptions_mentor_may_mark_and_only_live_bookings() -> None:
    record = subscription()
    foreign = record.mark(mentor_marks(record, 0, True, mentor_id=uuid.uuid4()), POLICY)
    assert foreign == Refusal("forbidden", "this booking is not one of your mentees'")
    cancelled = replace(
        record, sessions=(replace(record.sessions[0], cancelled=True), *record.sessions[1:])
    )
    assert cancelled.mark(mentor_marks(cancelled, 0, True), POLICY) == Refusal(
        "conflict", "the booking is cancelled"
    )


def test_each_applied_mark_increments_the_sessions_revision() -> None:
    record = subscription()
    after, events = run(
        record,
        absent(record, 0),  # revision 1, booking's own finding: not announced
        joined(record, 0),  # a late join: revision 2
        mentor_marks(record, 0, attended=False),  # revision 3
        mentor_marks(record, 0, attended=False),  # the same again: still a mark, 4
    )
    marks = [e for e in events if isinstance(e, AttendanceMarked)]
    assert [m.revision for m in marks] == [2, 3, 4]
    assert after.sessions[0].revision == 4
    assert [s.revision for s in after.sessions[1:]] == [0, 0, 0]


# --- reactivation ---------------------------------------------------------------------------


def test_reactivation_starts_the_streak_over_and_a_later_absence_warns_again() -> None:
    record = subscription(weeks=4)
    reprobated, first = run(record, absent(record, 0), absent(record, 1))
    request = reactivation(record.sessions[2].starts_at - timedelta(days=1))
    reactivated, events = run(reprobated, request)
    [event] = events
    assert isinstance(event, MenteeReactivated) and event.event_id == request.request_id
    assert event.reactivated_by == MENTOR and event.reactivated_at == request.requested_at
    assert not reactivated.is_reprobated and reactivated.reprobated_at is None
    assert (
        reactivated.consecutive_absences == 0
        and reactivated.warned_streaks == reprobated.warned_streaks
    )

    after, later = run(reactivated, absent(record, 2), absent(record, 3))
    assert kinds(later) == ["mentee.warned", "mentee.reprobated"]
    assert isinstance(later[0], MenteeWarned) and later[0].consecutive_absences == 1
    assert {e.event_id for e in later}.isdisjoint(e.event_id for e in first)
    assert after.is_reprobated


def test_only_the_mentor_reactivates_and_only_a_reprobated_mentee() -> None:
    record = subscription()
    at = record.sessions[2].starts_at
    assert record.reactivate(reactivation(at)) == Refusal(
        "conflict", "the mentee is not reprobated"
    )
    reprobated, _ = run(record, absent(record, 0), absent(record, 1))
    assert reprobated.reactivate(reactivation(at, mentor_id=uuid.uuid4())) == Refusal(
        "forbidden", "this mentee is not your subscriber"
    )


# --- replays and the cycle ------------------------------------------------------------------


def test_replaying_a_fact_derives_the_same_event_ids_and_changes_nothing_more() -> None:
    record = subscription()
    facts = (absent(record, 0), joined(record, 1), absent(record, 2), absent(record, 3))
    after, events = run(record, *facts)
    again, replayed = run(record, *facts)
    assert [e.event_id for e in replayed] == [e.event_id for e in events] and again == after
    for fact in facts:  # the same report delivered once more, with a new message id
        change = apply(after, fact.model_copy(update={"event_id": uuid.uuid4()}))
        assert change.record == after and change.events == ()


def test_event_ids_are_derived_as_before_so_replays_across_versions_match() -> None:
    namespace = uuid.UUID("5d1e0f7a-8c8b-4f7e-9a7c-3f2b1e6d4c90")
    record = subscription()
    join = joined(record, 2)
    _, events = run(record, absent(record, 0), absent(record, 1), join)
    warned, reprobated, marked = events
    assert warned.event_id == derived_id(namespace, "warned", record.subscription_id, "start")
    assert reprobated.event_id == derived_id(namespace, "reprobated", record.subscription_id, None)
    assert marked.event_id == derived_id(namespace, "joined", join.event_id)


def test_a_renewal_extends_the_cycle_once_and_an_end_is_kept() -> None:
    record = subscription()
    later = record.cycle_ends_at + timedelta(weeks=4)
    renewal = SubscriptionRenewed(
        occurred_at=START,
        subscription_id=record.subscription_id,
        cycle_starts_at=record.cycle_ends_at,
        cycle_ends_at=later,
    )
    renewed = record.renew(renewal, POLICY)
    assert renewed.record.cycle_ends_at == later and renewed.outcome == "cycle renewed"
    again = renewed.record.renew(renewal, POLICY)
    assert again.record == renewed.record and again.outcome == "cycle already covered"
    ended = record.end(
        SubscriptionEnded(occurred_at=later, subscription_id=record.subscription_id, ended_at=later)
    )
    assert ended.record.ended and ended.events == ()


def test_a_subscribers_status_says_where_they_stand() -> None:
    def status(ended: bool, is_reprobated: bool, consecutive_absences: int) -> str:
        return subscriber_status(
            POLICY,
            ended=ended,
            is_reprobated=is_reprobated,
            consecutive_absences=consecutive_absences,
        )

    assert status(False, True, 2) == "reprobated"
    assert status(False, False, 1) == "warned"
    assert status(False, False, 0) == "active"
    assert status(True, False, 0) == "ended"

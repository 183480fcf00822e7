"""Mark statuses and what they do to the streak, late joins, the mentor's marks, and
consequences that are a function of the session history, not of arrival order."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import (
    AttendanceMarked,
    BookingCancelled,
    Event,
    MarkStatus,
    MenteeReprobated,
    MenteeWarned,
    MentorMissed,
    SessionJoined,
    SubscriptionPolicy,
)
from contracts.policy import AbsencesInDays
from contracts.rpc import MarkAttendance
from services.attendance.domain import (
    STATUSES,
    Effect,
    Policy,
    Record,
    Refusal,
    streak_effect,
)
from tests.unit.test_attendance_record import (
    MENTEE,
    MENTOR,
    POLICY,
    Fact,
    absent,
    apply,
    joined,
    kinds,
    mentor_marks,
    reactivation,
    run,
    subscription,
)

EXPECTED_EFFECT: dict[MarkStatus, tuple[Effect, Effect]] = {
    # status: (effect by default, effect with LATE_COUNTS_AS_ABSENCE)
    "present": ("resets", "resets"),
    "late": ("resets", "counts"),
    "absent": ("counts", "counts"),
    "cancelled_late": ("counts", "counts"),
    "excused": ("neutral", "neutral"),
    "mentor_no_show": ("neutral", "neutral"),
    "cancelled_in_time": ("neutral", "neutral"),
}


def test_the_rule_table_covers_every_status() -> None:
    assert set(EXPECTED_EFFECT) == set(STATUSES)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("late_counts", [False, True], ids=["late-resets", "late-counts"])
def test_what_each_status_does_to_the_streak(status: MarkStatus, late_counts: bool) -> None:
    policy = Policy(late_counts_as_absence=late_counts)
    assert streak_effect(status, policy) == EXPECTED_EFFECT[status][late_counts]


def status_mark(
    record: Record, week: int, status: MarkStatus, reason: str | None = None
) -> MarkAttendance:
    return MarkAttendance(
        request_id=uuid.uuid4(),
        mentor_id=MENTOR,
        booking_id=record.sessions[week].booking_id,
        status=status,
        reason=reason,
        marked_at=record.sessions[week].ends_at + timedelta(hours=1),
    )


# --- neutral, counting and resetting sessions in a row -------------------------------


def test_absent_excused_absent_reprobates_the_excused_session_is_neutral() -> None:
    record = subscription()
    after, events = run(
        record, absent(record, 0), status_mark(record, 1, "excused"), absent(record, 2)
    )
    assert [e.routing_key for e in events if not isinstance(e, AttendanceMarked)] == [
        "mentee.warned",
        "mentee.reprobated",
    ]
    reprobated = events[-1]
    assert isinstance(reprobated, MenteeReprobated)
    assert reprobated.missed_booking_ids == [
        record.sessions[0].booking_id,
        record.sessions[2].booking_id,
    ]
    assert after.is_reprobated and after.consecutive_absences == 2


def test_absent_present_absent_warns_twice_and_does_not_reprobate() -> None:
    record = subscription()
    after, events = run(
        record, absent(record, 0), status_mark(record, 1, "present"), absent(record, 2)
    )
    assert kinds(events) == ["mentee.warned", "attendance.marked", "mentee.warned"]
    assert not after.is_reprobated and after.consecutive_absences == 1


@pytest.mark.parametrize(
    ("neutral", "announced"),
    [
        ("excused", ["attendance.marked"]),
        ("mentor_no_show", ["attendance.marked", "mentor.missed"]),
    ],
)
def test_a_neutral_mark_neither_counts_nor_resets(
    neutral: MarkStatus, announced: list[str]
) -> None:
    record = subscription()
    after, events = run(
        record, absent(record, 0), status_mark(record, 1, neutral), absent(record, 2)
    )
    assert kinds(events) == ["mentee.warned", *announced, "mentee.reprobated"]
    assert after.consecutive_absences == 2 and after.is_reprobated


def cancellation(record: Record, week: int, status: MarkStatus) -> BookingCancelled:
    s = record.sessions[week]
    ahead = timedelta(days=2) if status == "cancelled_in_time" else timedelta(hours=1)
    return BookingCancelled(
        occurred_at=s.starts_at - ahead,
        booking_id=s.booking_id,
        subscription_id=record.subscription_id,
        mentee_id=record.mentee_id,
        mentor_id=record.mentor_id,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        cancelled_at=s.starts_at - ahead,
        status=status,  # type: ignore[arg-type]
    )


def test_a_late_cancellation_counts_and_one_in_time_is_neutral() -> None:
    record = subscription()
    after, events = run(
        record,
        cancellation(record, 0, "cancelled_late"),
        cancellation(record, 1, "cancelled_in_time"),
        absent(record, 2),
    )
    assert kinds(events) == ["mentee.warned", "mentee.reprobated"]  # none announced back
    assert after.consecutive_absences == 2
    assert [(s.cancelled, s.status, s.marked_by) for s in after.sessions[:2]] == [
        (True, "cancelled_late", "mentee"),
        (True, "cancelled_in_time", "mentee"),
    ]


def test_a_cancellation_stands_against_a_join_and_is_recorded_once() -> None:
    record = subscription()
    late = cancellation(record, 0, "cancelled_late")
    cancelled, _ = run(record, late)
    assert apply(cancelled, joined(record, 0)).outcome == "not marked: the booking is cancelled"
    again = apply(cancelled, late)
    assert again.record == cancelled and again.history == ()
    [entry] = apply(record, late).history[:1]
    assert (entry.actor, entry.actor_id, entry.new_status) == ("mentee", MENTEE, "cancelled_late")


# --- late joins ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_start", "status"),
    [
        (timedelta(minutes=-5), "present"),
        (timedelta(minutes=10), "present"),
        (timedelta(minutes=10, seconds=1), "late"),
        (timedelta(minutes=59), "late"),
    ],
    ids=["early", "at-late-after", "just-after", "last-minute"],
)
def test_a_join_after_late_after_marks_late(after_start: timedelta, status: MarkStatus) -> None:
    record = subscription()
    after, [marked] = run(record, joined(record, 0, after_start))
    assert isinstance(marked, AttendanceMarked)
    assert (marked.status, marked.attended) == (status, True)
    assert after.sessions[0].status == status


def test_late_resets_the_streak_unless_the_policy_counts_it() -> None:
    record = subscription()
    facts: list[Fact] = [absent(record, 0), joined(record, 1, timedelta(minutes=30))]
    resets, _ = run(record, *facts)
    counts, events = run(record, *facts, policy=replace(POLICY, late_counts_as_absence=True))
    assert not resets.is_reprobated and resets.consecutive_absences == 0
    assert counts.is_reprobated and kinds(events)[-1] == "mentee.reprobated"


def test_the_first_join_decides_whatever_order_the_joins_arrive_in() -> None:
    record = subscription()
    early, late = joined(record, 0, timedelta(minutes=2)), joined(record, 0, timedelta(minutes=20))
    in_order, _ = run(record, early, late)
    reversed_, _ = run(record, late, early)
    assert in_order.sessions[0].status == reversed_.sessions[0].status == "present"


# --- the mentor's marks --------------------------------------------------------------


def test_a_mentors_mark_carries_its_status_and_reason() -> None:
    record = subscription()
    _, [marked] = run(record, status_mark(record, 0, "excused", reason="sick, told me ahead"))
    assert isinstance(marked, AttendanceMarked)
    assert (marked.status, marked.attended, marked.marked_by, marked.reason) == (
        "excused",
        False,
        "mentor",
        "sick, told me ahead",
    )


@pytest.mark.parametrize("status", ["cancelled_in_time", "cancelled_late"])
def test_a_mentor_may_not_set_a_cancellation(status: MarkStatus) -> None:
    record = subscription()
    refused = record.mark(status_mark(record, 0, status), POLICY)
    assert refused == Refusal("invalid", f"a mentor may not mark a session {status}")


def test_an_older_mark_of_the_mentors_does_not_replace_a_newer_one() -> None:
    record = subscription()
    newer = status_mark(record, 0, "excused")
    older = status_mark(record, 0, "absent").model_copy(
        update={"marked_at": newer.marked_at - timedelta(minutes=5)}
    )
    after, _ = run(record, newer, older)
    assert after.sessions[0].status == "excused"


def test_the_attended_flag_of_older_clients_still_marks() -> None:
    record = subscription()
    after, _ = run(record, mentor_marks(record, 0, attended=False))
    assert after.sessions[0].status == "absent"


# --- consequences follow the history, not the arrival order ----------------------------


def test_a_first_absence_recorded_after_a_later_attended_session_still_warns() -> None:
    """The measured defect: the mentor marks session 2 attended, then the sweep finds
    sessions 1 and 3: two warnings, the first naming session 1, as in session order."""
    record = subscription()
    _, events = run(record, status_mark(record, 1, "present"), absent(record, 0), absent(record, 2))
    warnings = [e for e in events if isinstance(e, MenteeWarned)]
    assert [w.booking_id for w in warnings] == [
        record.sessions[0].booking_id,
        record.sessions[2].booking_id,
    ]
    assert warnings[0].missed_starts_at == record.sessions[0].starts_at
    assert not any(isinstance(e, MenteeReprobated) for e in events)


SYSTEM_FACTS = ("join", "late_join", "absent", "cancelled_in_time", "cancelled_late")
FACT_KINDS = (*SYSTEM_FACTS, "present", "late", "absent_by_mentor", "excused", "mentor_no_show")


def fact_for(record: Record, week: int, kind: str) -> Fact:
    if kind == "join":
        return joined(record, week)
    if kind == "late_join":
        return joined(record, week, timedelta(minutes=25))
    if kind == "absent":
        return absent(record, week)
    if kind.startswith("cancelled"):
        return cancellation(record, week, kind)  # type: ignore[arg-type]
    status: MarkStatus = "absent" if kind == "absent_by_mentor" else kind  # type: ignore[assignment]
    return status_mark(record, week, status)


def fact_time(fact: Fact) -> object:
    for name in ("joined_at", "detected_at", "cancelled_at", "marked_at"):
        if hasattr(fact, name):
            return getattr(fact, name)
    raise AssertionError(fact)


def by_id(events: list[Event]) -> dict[uuid.UUID, Event]:
    return {e.event_id: e for e in events}


# A mentor's edits: stricter, milder, and a window rule.
MENTOR_EDITS = [
    SubscriptionPolicy(warn_after_absences=1, reprobate_after_absences=2),
    SubscriptionPolicy(warn_after_absences=2, reprobate_after_absences=4),
    SubscriptionPolicy(reprobate_after_absences_in_days="2:14"),
]
# Weekly sessions: windows of one to five weeks, edges included.
IN_DAYS_N = st.integers(1, 3)
IN_DAYS_D = st.sampled_from([6, 7, 13, 14, 21, 35])


@settings(max_examples=500, deadline=None)
@given(
    kinds_=st.lists(st.sampled_from(FACT_KINDS), min_size=1, max_size=6),
    redelivered=st.lists(st.integers(min_value=0, max_value=5), max_size=3),
    thresholds=st.sampled_from([(1, 2), (1, 3), (2, 2), (2, 3), (9, 9)]),
    late_counts=st.booleans(),
    in_days=st.tuples(*[st.none() | st.builds(AbsencesInDays, IN_DAYS_N, IN_DAYS_D)] * 2),
    rate=st.none() | st.tuples(st.sampled_from([50.0, 60.0, 75.0]), st.integers(2, 4)),
    edit=st.none() | st.tuples(st.integers(0, 6), st.sampled_from(MENTOR_EDITS)),
    data=st.data(),
)
def test_any_arrival_order_gives_the_marks_warnings_and_reprobation_of_session_order(
    kinds_: list[str],
    redelivered: list[int],
    thresholds: tuple[int, int],
    late_counts: bool,
    in_days: tuple[AbsencesInDays | None, AbsencesInDays | None],
    rate: tuple[float, int] | None,
    edit: tuple[int, SubscriptionPolicy] | None,
    data: st.DataObject,
) -> None:
    record = subscription(weeks=len(kinds_))
    if edit is not None:  # the mentor edited their policy after that week's sweep
        week, edited = edit
        since = record.sessions[min(week, len(kinds_) - 1)].ends_at + timedelta(hours=1)
        record = replace(record, mentor_policies=((since, edited),))
    policy = replace(
        POLICY,
        warn_after=thresholds[0],
        reprobate_after=thresholds[1],
        late_counts_as_absence=late_counts,
        warn_after_in_days=in_days[0],
        reprobate_after_in_days=in_days[1],
        warn_below_rate=rate[0] if rate else None,
        rate_sessions=rate[1] if rate else 10,
    )
    facts = [fact_for(record, week, kind) for week, kind in enumerate(kinds_)]
    # The system's reports may be delivered again (the handlers' inbox drops most
    # redeliveries, not all: a consumer of several queues sees a fact once per queue).
    # A mentor's request is deduplicated by its request id before it reaches the record.
    facts += [facts[i] for i in redelivered if i < len(kinds_) and kinds_[i] in SYSTEM_FACTS]
    in_session_order = sorted(
        facts,
        key=lambda f: (record.session(f.booking_id).starts_at, fact_time(f)),  # type: ignore[union-attr]
    )
    arrival = data.draw(st.permutations(facts))

    expected, expected_events = run(record, *in_session_order, policy=policy)
    actual, actual_events = run(record, *arrival, policy=policy)

    assert [s.status for s in actual.sessions] == [s.status for s in expected.sessions]
    assert actual == expected
    assert by_id(actual_events) == by_id(expected_events)
    assert len(actual_events) == len(expected_events)


# --- the history ---------------------------------------------------------------------


def history_of(record: Record, *facts: Fact) -> list[tuple[object, ...]]:
    lines = []
    for fact in facts:
        change = apply(record, fact)
        record = change.record
        lines += [
            (h.kind, h.booking_id, h.old_status, h.new_status, h.actor, h.actor_id, h.reason)
            for h in change.history
        ]
    return lines


def test_the_history_has_every_mark_change_and_consequence_with_its_actor() -> None:
    record = subscription()
    first, second = (s.booking_id for s in record.sessions[:2])
    correction = status_mark(record, 0, "excused", reason="ill")
    assert history_of(record, absent(record, 0), absent(record, 1), correction) == [
        ("mark", first, None, "absent", "system", None, None),
        ("warning", first, None, None, "system", None, "1 absence in a row"),
        ("mark", second, None, "absent", "system", None, None),
        ("reprobation", None, None, "reprobated", "system", None, "2 absences in a row"),
        ("mark", first, "absent", "excused", "mentor", MENTOR, "ill"),
    ]


def test_a_reactivation_and_a_refused_or_standing_fact_in_the_history() -> None:
    record = subscription()
    reprobated, _ = run(record, absent(record, 0), absent(record, 1))
    at = record.sessions[2].starts_at - timedelta(days=1)
    change = reprobated.reactivate(reactivation(at))
    assert not isinstance(change, Refusal)
    [entry] = change.history
    assert (entry.kind, entry.old_status, entry.new_status, entry.actor, entry.at) == (
        "reactivation",
        "reprobated",
        "active",
        "mentor",
        at,
    )
    assert entry.actor_id == MENTOR
    # A fact that changes nothing writes no history.
    assert history_of(reprobated, absent(record, 0)) == []


# --- the mentor's joins and no-shows -------------------------------------------------------

TRACKING = replace(POLICY, track_mentor_joins=True)


def mentor_joined(
    record: Record, week: int, after_start: timedelta = timedelta(minutes=1)
) -> SessionJoined:
    at = record.sessions[week].starts_at + after_start
    return SessionJoined(
        occurred_at=at,
        booking_id=record.sessions[week].booking_id,
        mentee_id=record.mentee_id,
        joined_at=at,
        role="mentor",
        mentor_id=MENTOR,
    )


def test_with_tracking_a_session_the_mentor_never_joined_is_their_no_show() -> None:
    record = subscription()
    after, events = run(record, absent(record, 0), absent(record, 1), policy=TRACKING)
    assert kinds(events) == [
        "attendance.marked",
        "mentor.missed",
        "attendance.marked",
        "mentor.missed",
    ]
    assert [s.status for s in after.sessions[:2]] == ["mentor_no_show"] * 2
    assert after.consecutive_absences == 0 and not after.is_reprobated
    missed = events[1]
    assert isinstance(missed, MentorMissed)
    assert (missed.booking_id, missed.starts_at, missed.marked_by) == (
        record.sessions[0].booking_id,
        record.sessions[0].starts_at,
        "system",
    )


def test_with_tracking_an_absence_after_the_mentors_join_counts() -> None:
    record = subscription()
    after, events = run(
        record, mentor_joined(record, 0), absent(record, 0), absent(record, 1), policy=TRACKING
    )
    assert kinds(events) == ["mentee.warned", "attendance.marked", "mentor.missed"]
    assert [s.status for s in after.sessions[:2]] == ["absent", "mentor_no_show"]


def test_without_tracking_the_mentors_joins_change_nothing() -> None:
    record = subscription()
    _, events = run(record, absent(record, 0), absent(record, 1))
    assert kinds(events) == ["mentee.warned", "mentee.reprobated"]
    joined_first, _ = run(record, mentor_joined(record, 0))
    assert joined_first.sessions[0].status is None
    assert joined_first.sessions[0].mentor_joined_at is not None


def test_a_mentors_join_arriving_after_the_sweep_makes_the_no_show_an_absence() -> None:
    record = subscription()
    after, events = run(record, absent(record, 0), mentor_joined(record, 0), policy=TRACKING)
    assert kinds(events) == [
        "attendance.marked",
        "mentor.missed",
        "attendance.marked",
        "mentee.warned",
    ]
    marked = events[2]
    assert isinstance(marked, AttendanceMarked) and marked.status == "absent"
    assert after.sessions[0].status == "absent" and after.consecutive_absences == 1


def test_a_mentors_join_outside_the_window_or_for_another_mentor_is_not_recorded() -> None:
    record = subscription()
    early = apply(record, mentor_joined(record, 0, -timedelta(hours=1)))
    stranger = apply(
        record, mentor_joined(record, 0).model_copy(update={"mentor_id": uuid.uuid4()})
    )
    assert early.record == record and stranger.record == record
    assert stranger.outcome == "not recorded: the booking is another mentor's"


def test_one_apology_per_booking_however_often_the_mentor_marks_their_no_show() -> None:
    record = subscription()
    first = status_mark(record, 0, "mentor_no_show")
    present = status_mark(record, 0, "present").model_copy(
        update={"marked_at": first.marked_at + timedelta(minutes=1)}
    )
    again = first.model_copy(
        update={"request_id": uuid.uuid4(), "marked_at": first.marked_at + timedelta(minutes=2)}
    )
    _, events = run(record, first, present, again)
    missed = [e for e in events if isinstance(e, MentorMissed)]
    assert len({e.event_id for e in missed}) == 1 and missed[0].marked_by == "mentor"

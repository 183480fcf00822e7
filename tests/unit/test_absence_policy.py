"""The absence policy and the join window, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.attendance.domain import (
    Policy,
    Session,
    current_streak,
    decide,
    join_window_contains,
    mark_stands_against,
    subscriber_status,
)

START = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
OPENS = timedelta(minutes=15)
POLICY = Policy(warn_after=1, reprobate_after=2)


def week(n: int, attended: bool | None, cancelled: bool = False) -> Session:
    return Session(uuid.uuid4(), START + timedelta(weeks=n), attended, cancelled)


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


def replay(policy: Policy, arrivals: list[tuple[Session, ...]]) -> list[str]:
    """Feed marks in the given arrival order; return the actions taken, as the handler would."""
    known: list[Session] = []
    warned_for: str | None = None
    reprobated = False
    actions: list[str] = []
    for batch in arrivals:
        known.extend(batch)
        streak = current_streak(known, None)
        decision = decide(
            policy,
            streak,
            after_absence=any(s.attended is False for s in batch),
            warned_for=warned_for,
            is_reprobated=reprobated,
        )
        if decision.warn:
            warned_for = streak.key
            actions.append(f"warn@{streak.count}")
        if decision.reprobate:
            reprobated = True
            actions.append(f"reprobate@{streak.count}")
    return actions


def test_a_first_absence_warns() -> None:
    assert replay(POLICY, [(week(0, False),)]) == ["warn@1"]


def test_a_second_consecutive_absence_reprobates() -> None:
    assert replay(POLICY, [(week(0, False),), (week(1, False),)]) == ["warn@1", "reprobate@2"]


def test_miss_attend_miss_does_not_reprobate() -> None:
    arrivals = [(week(0, False),), (week(1, True),), (week(2, False),)]
    assert replay(POLICY, arrivals) == ["warn@1", "warn@1"]


def test_absences_arriving_out_of_order_give_the_same_outcome() -> None:
    first, second = week(0, False), week(1, False)
    assert replay(POLICY, [(second,), (first,)]) == replay(POLICY, [(first,), (second,)])


def test_each_threshold_is_acted_on_once_per_streak() -> None:
    arrivals = [(week(0, False),), (week(1, False),), (week(2, False),), (week(3, False),)]
    assert replay(POLICY, arrivals) == ["warn@1", "reprobate@2"]


def test_cancelled_and_unmarked_sessions_do_not_count() -> None:
    sessions = [week(0, False), week(1, None), week(2, False, cancelled=True), week(3, False)]
    assert current_streak(sessions, None).count == 2


def test_a_mentor_turning_an_absence_into_attendance_stops_a_pending_reprobation() -> None:
    missed = week(0, False)
    corrected = Session(missed.booking_id, missed.starts_at, True)
    streak = current_streak([corrected], None)
    assert streak.count == 0
    after = current_streak([corrected, week(1, False)], None)
    assert (
        decide(POLICY, after, after_absence=True, warned_for="x", is_reprobated=False).reprobate
        is False
    )


def test_a_correction_never_acts_on_thresholds_by_itself() -> None:
    streak = current_streak([week(0, False), week(1, True), week(2, False)], None)
    decision = decide(POLICY, streak, after_absence=False, warned_for=None, is_reprobated=False)
    assert not decision.warn and not decision.reprobate


def test_reactivation_starts_the_streak_over() -> None:
    sessions = [week(0, False), week(1, False), week(3, False)]
    reactivated_at = START + timedelta(weeks=2)
    streak = current_streak(sessions, reactivated_at)
    assert streak.count == 1
    assert decide(POLICY, streak, after_absence=True, warned_for=None, is_reprobated=False).warn


def test_thresholds_are_configurable() -> None:
    policy = Policy(warn_after=2, reprobate_after=3)
    arrivals = [(week(0, False),), (week(1, False),), (week(2, False),)]
    assert replay(policy, arrivals) == ["warn@2", "reprobate@3"]


def test_the_system_never_overrides_a_mentors_mark() -> None:
    assert mark_stands_against("system", "mentor")
    assert not mark_stands_against("mentor", "system")
    assert not mark_stands_against("system", None)


def test_a_subscribers_status_says_where_they_stand() -> None:
    assert (
        subscriber_status(POLICY, ended=False, is_reprobated=True, consecutive_absences=2)
        == "reprobated"
    )
    assert (
        subscriber_status(POLICY, ended=False, is_reprobated=False, consecutive_absences=1)
        == "warned"
    )
    assert (
        subscriber_status(POLICY, ended=False, is_reprobated=False, consecutive_absences=0)
        == "active"
    )
    assert (
        subscriber_status(POLICY, ended=True, is_reprobated=False, consecutive_absences=0)
        == "ended"
    )

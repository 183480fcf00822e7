"""REPROBATION_REVIEW_HOURS: a reached reprobation waits for the mentor's review, and
the tick at `due_at` applies what is still pending (times as data, no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from contracts import (
    MenteeReprobated,
    MenteeReprobationPending,
    MenteeReprobationWaived,
    MenteeReprobationWithdrawn,
    MenteeWarned,
)
from contracts.rpc import MarkAttendance, WaiveReprobation
from services.attendance.domain import Record
from services.kit.refusals import Refusal
from tests.unit.test_attendance_record import MENTOR, POLICY, absent, kinds, run, subscription

REVIEWED = replace(POLICY, review_window=timedelta(hours=24))


def pending() -> tuple[Record, MenteeReprobationPending]:
    base = subscription()
    record, events = run(base, absent(base, 0), absent(base, 1), policy=REVIEWED)
    assert kinds(events) == ["mentee.warned", "mentee.reprobation_pending"]
    assert isinstance(events[0], MenteeWarned)
    waiting = events[1]
    assert isinstance(waiting, MenteeReprobationPending)
    return record, waiting


def waiver(record: Record, hours: float = 2, mentor_id: uuid.UUID = MENTOR) -> WaiveReprobation:
    assert record.reprobation_due_at is not None
    return WaiveReprobation(
        request_id=uuid.uuid4(),
        mentor_id=mentor_id,
        subscription_id=record.subscription_id,
        reason="both were the bank holiday weekend",
        requested_at=record.reprobation_due_at - timedelta(hours=hours),
    )


def excused(record: Record, week: int) -> MarkAttendance:
    return MarkAttendance(
        request_id=uuid.uuid4(),
        mentor_id=MENTOR,
        booking_id=record.sessions[week].booking_id,
        status="excused",
        reason="ill, told me ahead",
        marked_at=record.sessions[week].ends_at + timedelta(hours=3),
    )


def test_reaching_the_threshold_makes_the_reprobation_pending_until_the_window_ends() -> None:
    record, waiting = pending()
    reached = waiting.reached_at
    assert waiting.due_at == reached + timedelta(hours=24)
    assert waiting.missed_booking_ids == [s.booking_id for s in record.sessions[:2]]
    assert not record.is_reprobated and record.reprobation_due_at == waiting.due_at
    # A third absence while pending adds nothing.
    _, more = run(record, absent(record, 2), policy=REVIEWED)
    assert more == []


def test_without_a_window_the_reprobation_is_applied_at_once_as_before() -> None:
    base = subscription()
    record, events = run(base, absent(base, 0), absent(base, 1))
    assert kinds(events) == ["mentee.warned", "mentee.reprobated"]
    assert record.is_reprobated and record.reprobation_due_at is None


def test_the_tick_at_due_at_applies_it_as_of_due_at_and_a_replay_changes_nothing() -> None:
    record, waiting = pending()
    early = record.apply_pending(waiting.due_at - timedelta(seconds=1), REVIEWED)
    assert early.events == () and early.record == record
    applied = record.apply_pending(waiting.due_at, REVIEWED)
    late = record.apply_pending(waiting.due_at + timedelta(hours=5), REVIEWED)
    assert applied.events == late.events  # a late tick applies the same
    [reprobation] = applied.events
    assert isinstance(reprobation, MenteeReprobated)
    assert reprobation.reprobated_at == waiting.due_at
    assert reprobation.missed_booking_ids == waiting.missed_booking_ids
    assert applied.record.is_reprobated and applied.record.reprobation_due_at is None
    assert applied.record.apply_pending(waiting.due_at, REVIEWED).events == ()


def test_a_waiver_clears_it_restarts_the_streak_and_the_tick_applies_nothing() -> None:
    record, waiting = pending()
    change = record.waive(waiver(record))
    assert not isinstance(change, Refusal)
    [event] = change.events
    assert isinstance(event, MenteeReprobationWaived)
    assert (event.waived_by, event.reason) == (MENTOR, "both were the bank holiday weekend")
    waived = change.record
    assert waived.reprobation_due_at is None and waived.consecutive_absences == 0
    [entry] = change.history
    assert (entry.kind, entry.actor, entry.old_status, entry.new_status) == (
        "waiver",
        "mentor",
        "pending",
        "active",
    )
    assert waived.apply_pending(waiting.due_at, REVIEWED).events == ()
    # The next absence starts a new streak: a warning, not a reprobation.
    _, later = run(waived, absent(waived, 2), policy=REVIEWED)
    assert kinds(later) == ["mentee.warned"]


def test_only_the_mentor_waives_and_only_what_is_pending() -> None:
    record, waiting = pending()
    other = record.waive(waiver(record, mentor_id=uuid.uuid4()))
    assert isinstance(other, Refusal) and other.code == "forbidden"
    applied = record.apply_pending(waiting.due_at, REVIEWED).record
    refused = applied.waive(waiver(record))
    assert isinstance(refused, Refusal) and refused.code == "conflict"
    assert "already applied" in refused.detail
    nothing = subscription().waive(
        WaiveReprobation(
            request_id=uuid.uuid4(),
            mentor_id=MENTOR,
            subscription_id=record.subscription_id,
            reason="why not",
            requested_at=waiting.due_at,
        )
    )
    assert isinstance(nothing, Refusal) and nothing.detail == "no reprobation is pending"


def test_a_correction_below_the_threshold_withdraws_it() -> None:
    record, waiting = pending()
    corrected, events = run(record, excused(record, 0), policy=REVIEWED)
    assert kinds(events) == ["attendance.marked", "mentee.reprobation_withdrawn"]
    assert isinstance(events[1], MenteeReprobationWithdrawn)
    assert corrected.reprobation_due_at is None and not corrected.is_reprobated
    assert corrected.apply_pending(waiting.due_at, REVIEWED).events == ()

"""Appeals: a mentee contests an absence within the appeal window; the mentor accepts
it (the session becomes excused and the history is recounted) or rejects it (times as
data, no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts import (
    AppealAccepted,
    AppealFiled,
    AppealRejected,
    AttendanceMarked,
    MenteeReactivated,
    MenteeReprobationWithdrawn,
    MenteeWarned,
)
from contracts.rpc import AppealAbsence, DecideAppeal
from services.attendance.appeals import Appeal, appeal_closes_at
from services.attendance.domain import (
    Change,
    Policy,
    Record,
    Refusal,
)
from tests.unit.test_attendance_record import (
    MENTEE,
    MENTOR,
    POLICY,
    absent,
    joined,
    kinds,
    run,
    subscription,
)
from tests.unit.test_reprobation_review import REVIEWED, pending


def appealing(
    record: Record, week: int, *, days: float = 1, mentee_id: uuid.UUID = MENTEE
) -> AppealAbsence:
    marked_at = record.sessions[week].marked_at or record.sessions[week].ends_at
    return AppealAbsence(
        request_id=uuid.uuid4(),
        mentee_id=mentee_id,
        booking_id=record.sessions[week].booking_id,
        reason="I was in hospital",
        requested_at=marked_at + timedelta(days=days),
    )


def filed(record: Record, week: int, policy: Policy = POLICY) -> tuple[Change, Appeal]:
    change = record.appeal(appealing(record, week), [], policy)
    assert isinstance(change, Change), change
    [appeal] = change.appeals
    return change, appeal


def deciding(
    appeal: Appeal,
    accept: bool,
    *,
    reason: str | None = None,
    at: datetime | None = None,
    mentor_id: uuid.UUID = MENTOR,
) -> DecideAppeal:
    return DecideAppeal(
        request_id=uuid.uuid4(),
        mentor_id=mentor_id,
        appeal_id=appeal.appeal_id,
        accept=accept,
        reason=reason,
        requested_at=at or appeal.filed_at + timedelta(hours=5),
    )


def reprobated() -> Record:
    base = subscription()
    record, events = run(base, absent(base, 0), absent(base, 1))
    assert kinds(events) == ["mentee.warned", "mentee.reprobated"]
    return record


def test_an_appeal_of_an_absence_is_filed_and_told_with_its_session() -> None:
    record = reprobated()
    change, appeal = filed(record, 1)
    [event] = change.events
    assert isinstance(event, AppealFiled)
    assert event.event_id == appeal.appeal_id
    assert (event.booking_id, event.starts_at) == (
        record.sessions[1].booking_id,
        record.sessions[1].starts_at,
    )
    assert (event.contested_status, event.reason, event.mentor_id) == (
        "absent",
        "I was in hospital",
        MENTOR,
    )
    assert change.record == record  # filing changes no mark
    [entry] = change.history
    assert (entry.kind, entry.actor, entry.old_status, entry.new_status) == (
        "appeal",
        "mentee",
        "absent",
        "open",
    )


def test_only_the_mentees_own_absences_within_the_window_can_be_appealed() -> None:
    base = subscription()
    record, _ = run(base, joined(base, 0), absent(base, 1))

    def refusal(request: AppealAbsence, earlier: list[Appeal] | None = None) -> Refusal:
        refused = record.appeal(request, earlier or [], POLICY)
        assert isinstance(refused, Refusal)
        return refused

    present = refusal(appealing(record, 0))
    assert present.code == "conflict" and "marked present" in present.detail
    unmarked = refusal(appealing(record, 2))
    assert unmarked.code == "conflict" and "not marked yet" in unmarked.detail
    other = refusal(appealing(record, 1, mentee_id=uuid.uuid4()))
    assert (other.code, other.detail) == ("forbidden", "this booking is not yours")
    late = refusal(appealing(record, 1, days=7.01))
    assert late.code == "conflict" and "ended on" in late.detail and "7 days" in late.detail
    assert isinstance(record.appeal(appealing(record, 1, days=7), [], POLICY), Change)
    unknown = record.appeal(
        appealing(record, 1).model_copy(update={"booking_id": uuid.uuid4()}), [], POLICY
    )
    assert isinstance(unknown, Refusal) and unknown.code == "not_found"
    shorter = replace(POLICY, appeal_window=timedelta(days=2))
    assert isinstance(record.appeal(appealing(record, 1, days=3), [], shorter), Refusal)


def test_one_open_appeal_per_absence_and_none_after_a_rejection() -> None:
    record = reprobated()
    _, appeal = filed(record, 1)
    again = record.appeal(appealing(record, 1), [appeal], POLICY)
    assert isinstance(again, Refusal) and again.detail == "this absence already has an open appeal"
    rejected = replace(appeal, status="rejected")
    after = record.appeal(appealing(record, 1), [rejected], POLICY)
    assert isinstance(after, Refusal) and "already rejected" in after.detail
    # Another absence of the same subscription is appealed on its own.
    assert isinstance(record.appeal(appealing(record, 0), [appeal], POLICY), Change)


def test_accepting_an_appeal_that_breaks_the_streak_lifts_the_reprobation() -> None:
    record = reprobated()
    _, appeal = filed(record, 1)
    decision = deciding(appeal, True, reason="the hospital note")
    change = record.decide_appeal(appeal, decision, POLICY)
    assert isinstance(change, Change)
    assert kinds(list(change.events)) == [
        "appeal.accepted",
        "attendance.marked",
        "mentee.reactivated",
    ]
    accepted, marked, reactivated = change.events
    assert isinstance(accepted, AppealAccepted) and accepted.reprobation_lifted
    assert accepted.event_id == decision.request_id
    assert (accepted.reason, accepted.appeal_reason) == ("the hospital note", "I was in hospital")
    assert isinstance(marked, AttendanceMarked)
    assert (marked.status, marked.marked_by, marked.booking_id) == (
        "excused",
        "mentor",
        appeal.booking_id,
    )
    assert isinstance(reactivated, MenteeReactivated)
    assert (reactivated.lifted_by, reactivated.reactivated_at) == ("mentor", decision.requested_at)
    after = change.record
    assert not after.is_reprobated and after.consecutive_absences == 0
    assert after.sessions[1].status == "excused"
    [decided] = change.appeals
    assert (decided.status, decided.decided_at, decided.decision_reason) == (
        "accepted",
        decision.requested_at,
        "the hospital note",
    )
    assert [h.kind for h in change.history] == ["appeal_decision", "mark", "reactivation"]


def test_accepting_an_appeal_the_streak_survives_keeps_the_reprobation() -> None:
    base = subscription()
    record, _ = run(base, absent(base, 0), absent(base, 1), absent(base, 2))
    # Reprobated on the first two; the appeal of the first leaves two in a row.
    _, appeal = filed(record, 0)
    change = record.decide_appeal(appeal, deciding(appeal, True), POLICY)
    assert isinstance(change, Change)
    assert kinds(list(change.events)) == ["appeal.accepted", "attendance.marked"]
    accepted = change.events[0]
    assert isinstance(accepted, AppealAccepted) and not accepted.reprobation_lifted
    assert change.record.is_reprobated and change.record.sessions[0].status == "excused"


def test_accepting_an_appeal_withdraws_a_pending_reprobation_it_was_needed_for() -> None:
    record, _ = pending()
    _, appeal = filed(record, 1, REVIEWED)
    decided = record.decide_appeal(appeal, deciding(appeal, True), REVIEWED)
    assert isinstance(decided, Change)
    assert kinds(list(decided.events)) == [
        "appeal.accepted",
        "attendance.marked",
        "mentee.reprobation_withdrawn",
    ]
    assert isinstance(decided.events[2], MenteeReprobationWithdrawn)
    assert decided.record.reprobation_due_at is None and not decided.record.is_reprobated


def test_a_rejection_says_why_and_leaves_the_mark_standing() -> None:
    record = reprobated()
    _, appeal = filed(record, 1)
    with pytest.raises(ValidationError, match="a reason is needed"):
        deciding(appeal, False)
    change = record.decide_appeal(
        appeal, deciding(appeal, False, reason="you said you forgot"), POLICY
    )
    assert isinstance(change, Change)
    [event] = change.events
    assert isinstance(event, AppealRejected) and event.reason == "you said you forgot"
    assert change.record == record
    [decided] = change.appeals
    assert decided.status == "rejected"
    [entry] = change.history
    assert (entry.kind, entry.old_status, entry.new_status, entry.actor) == (
        "appeal_decision",
        "open",
        "rejected",
        "mentor",
    )


def test_only_its_mentor_decides_and_only_once() -> None:
    record = reprobated()
    _, appeal = filed(record, 1)
    other = record.decide_appeal(appeal, deciding(appeal, True, mentor_id=uuid.uuid4()), POLICY)
    assert isinstance(other, Refusal) and other.code == "forbidden"
    accepted = replace(appeal, status="accepted")
    twice = record.decide_appeal(accepted, deciding(appeal, False, reason="no"), POLICY)
    assert isinstance(twice, Refusal)
    assert (twice.code, twice.detail) == ("conflict", "the appeal was already accepted")


def test_accepting_after_the_mark_changed_to_no_absence_marks_nothing_more() -> None:
    base = subscription()
    record, _ = run(base, absent(base, 0))
    _, appeal = filed(record, 0)
    # The mentee's late join, after the sweep, turned the absence into a late mark.
    corrected, _ = run(record, joined(record, 0, timedelta(minutes=30)))
    change = corrected.decide_appeal(appeal, deciding(appeal, True), POLICY)
    assert isinstance(change, Change)
    assert kinds(list(change.events)) == ["appeal.accepted"]
    assert change.record.sessions[0].status == corrected.sessions[0].status


def test_a_warning_says_until_when_its_absence_can_be_appealed() -> None:
    base = subscription()
    record, [warned] = run(base, absent(base, 0))
    assert isinstance(warned, MenteeWarned)
    marked_at = record.sessions[0].marked_at
    assert marked_at is not None and warned.appeal_until == marked_at + timedelta(days=7)
    # The mentee's page offers the appeal until the same moment (appealable_until).
    assert appeal_closes_at(record.sessions[0], [], POLICY) == warned.appeal_until
    off = replace(POLICY, appeal_window=timedelta())
    _, [unappealable] = run(base, absent(base, 0), policy=off)
    assert isinstance(unappealable, MenteeWarned) and unappealable.appeal_until is None

"""The commands a mentor's action sends to attendance (and, for a make-up, to booking),
built one way for the API and the dashboard alike; each raises pydantic's ValidationError
for what the command refuses."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from contracts.messages import MentorMarkStatus
from contracts.rpc import (
    ClearMark,
    DecideAppeal,
    MarkAttendance,
    ReactivateMentee,
    ScheduleMakeup,
    WaiveReprobation,
)


def mark(
    mentor_id: UUID,
    booking_id: UUID,
    *,
    status: MentorMarkStatus | None,
    attended: bool | None,
    reason: str | None,
    now: datetime,
) -> MarkAttendance:
    """A mark (an excuse is one: `status="excused"`), or, as before statuses, `attended`."""
    return MarkAttendance(
        request_id=uuid4(),
        mentor_id=mentor_id,
        booking_id=booking_id,
        attended=attended,
        status=status,
        reason=reason,
        marked_at=now,
    )


def clear_mark(mentor_id: UUID, booking_id: UUID, now: datetime) -> ClearMark:
    return ClearMark(
        request_id=uuid4(), mentor_id=mentor_id, booking_id=booking_id, requested_at=now
    )


def reactivate(mentor_id: UUID, subscription_id: UUID, now: datetime) -> ReactivateMentee:
    return ReactivateMentee(
        request_id=uuid4(), mentor_id=mentor_id, subscription_id=subscription_id, requested_at=now
    )


def waive(mentor_id: UUID, subscription_id: UUID, reason: str, now: datetime) -> WaiveReprobation:
    return WaiveReprobation(
        request_id=uuid4(),
        mentor_id=mentor_id,
        subscription_id=subscription_id,
        reason=reason,
        requested_at=now,
    )


def decide_appeal(
    mentor_id: UUID, appeal_id: UUID, *, accept: bool, reason: str | None, now: datetime
) -> DecideAppeal:
    return DecideAppeal(
        request_id=uuid4(),
        mentor_id=mentor_id,
        appeal_id=appeal_id,
        accept=accept,
        reason=reason,
        requested_at=now,
    )


def schedule_makeup(
    mentor_id: UUID,
    subscription_id: UUID,
    missed_booking_id: UUID,
    starts_at: datetime,
    now: datetime,
) -> ScheduleMakeup:
    return ScheduleMakeup(
        request_id=uuid4(),
        mentor_id=mentor_id,
        subscription_id=subscription_id,
        missed_booking_id=missed_booking_id,
        starts_at=starts_at,
        requested_at=now,
    )

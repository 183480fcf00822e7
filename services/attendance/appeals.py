"""Appeals, pure like the rest of attendance's rules (no SQL, no broker, no clock): a
mentee contests the absence a session is marked with, within the appeal window after
the mark, and its mentor rejects the appeal (the mark stands) or accepts it (the
session becomes excused and the history is recounted).

Each rule takes the subscription's `Record` and returns the `Change` it makes, or
the `Refusal` that says why not; `Record.appeal` and `Record.decide_appeal` are the
way in, with the policy in force for the subscription.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from contracts import AppealAccepted, AppealFiled, AppealRejected, MarkStatus
from contracts.rpc import AppealAbsence, AppealStatus, DecideAppeal
from services.attendance.domain import (
    Change,
    Mark,
    Policy,
    Record,
    Session,
    consequences,
    derived_event_id,
    mark_stands_against,
    only_their_mentor,
    streak_effect,
)
from services.kit.refusals import Refusal


@dataclass(frozen=True)
class Appeal:
    """A mentee's appeal of the mark a session held when it was filed, and the
    mentor's decision on it."""

    appeal_id: UUID
    subscription_id: UUID
    booking_id: UUID
    contested_status: MarkStatus
    reason: str
    filed_at: datetime
    status: AppealStatus = "open"
    decided_at: datetime | None = None
    decision_reason: str | None = None


def appeal_closes_at(
    session: Session, earlier: Iterable[Appeal], policy: Policy
) -> datetime | Refusal:
    """Until when the mentee may appeal the mark `session` holds (its time plus the
    appeal window), or why it cannot be appealed at all: only an absence, one open
    appeal at a time, and not again once its mentor rejected an appeal of this mark.
    `policy` is the one in force for the subscription."""
    mark = session.mark
    if mark is None or streak_effect(mark.status, policy) != "counts":
        held = "not marked yet" if mark is None else f"marked {mark.status.replace('_', ' ')}"
        return Refusal("conflict", f"only an absence can be appealed; this session is {held}")
    about_this_mark = [
        a for a in earlier if a.booking_id == session.booking_id and a.filed_at >= mark.at
    ]
    if any(a.status == "open" for a in about_this_mark):
        return Refusal("conflict", "this absence already has an open appeal")
    if any(a.status == "rejected" for a in about_this_mark):
        return Refusal("conflict", "an appeal of this absence was already rejected")
    return mark.at + policy.appeal_window


# --- filing ---------------------------------------------------------------------------


def file(
    record: Record, request: AppealAbsence, earlier: Iterable[Appeal], policy: Policy
) -> Change | Refusal:
    """The mentee contests the absence a session is marked with: only their own,
    only an absence, within the appeal window after the mark, one open appeal at a
    time, and not again once its mentor rejected an appeal of this mark."""
    session = record.session(request.booking_id)
    if session is None:
        return Refusal("not_found", "no such booking")
    if request.mentee_id != record.mentee_id:
        return Refusal("forbidden", "this booking is not yours")
    closes = appeal_closes_at(session, earlier, policy)
    if isinstance(closes, Refusal):
        return closes
    if request.requested_at > closes:
        return Refusal(
            "conflict",
            f"the time to appeal this absence ended on {closes:%Y-%m-%d %H:%M} UTC "
            f"({policy.appeal_window.total_seconds() / 86400:g} days after it was marked)",
        )
    mark = session.mark
    assert mark is not None  # appeal_closes_at refuses an unmarked session
    return _filed(record, session, mark.status, request)


def _filed(
    record: Record, session: Session, contested: MarkStatus, request: AppealAbsence
) -> Change:
    """The appeal, kept open, and told to the mentor (appeal.filed); no mark changes."""
    at = request.requested_at
    appeal = Appeal(
        request.request_id,
        record.subscription_id,
        session.booking_id,
        contested,
        request.reason,
        at,
    )
    event = AppealFiled(
        event_id=request.request_id,
        occurred_at=at,
        appeal_id=appeal.appeal_id,
        booking_id=session.booking_id,
        subscription_id=record.subscription_id,
        mentee_id=record.mentee_id,
        mentor_id=record.mentor_id,
        starts_at=session.starts_at,
        contested_status=contested,
        reason=request.reason,
        filed_at=at,
    )
    entry = record.history_entry(
        "appeal",
        at,
        "mentee",
        session.booking_id,
        request.reason,
        new_status="open",
        old_status=contested,
    )
    return Change(record, (event,), "absence appealed", (entry,), (appeal,))


# --- deciding -------------------------------------------------------------------------


def decide(
    record: Record, appeal: Appeal, request: DecideAppeal, policy: Policy
) -> Change | Refusal:
    """The mentor rejects an open appeal, or accepts it: the session becomes excused
    and the history is recounted, which withdraws a pending reprobation the absence
    was needed for, and lifts an applied one."""
    refusal = only_their_mentor(
        record.mentor_id, request.mentor_id, "this appeal is not one of your mentees'"
    )
    if refusal is not None:
        return refusal
    if appeal.status != "open":
        return Refusal("conflict", f"the appeal was already {appeal.status}")
    session = record.session(appeal.booking_id)
    if session is None:
        return Refusal("not_found", "no such booking")
    if request.accept:
        return _accepted(record, appeal, session, request, policy)
    return _rejected(record, appeal, session, request)


def _decided(record: Record, appeal: Appeal, request: DecideAppeal) -> Change:
    """The decision written on the appeal and in the history; nothing told yet."""
    at = request.requested_at
    decided = replace(
        appeal,
        status="accepted" if request.accept else "rejected",
        decided_at=at,
        decision_reason=request.reason,
    )
    entry = record.history_entry(
        "appeal_decision",
        at,
        "mentor",
        appeal.booking_id,
        request.reason,
        new_status=decided.status,
        old_status="open",
    )
    return Change(record, outcome=f"appeal {decided.status}", history=(entry,), appeals=(decided,))


def _rejected(record: Record, appeal: Appeal, session: Session, request: DecideAppeal) -> Change:
    """The mark stands; the mentee is told why (appeal.rejected)."""
    assert request.reason is not None  # DecideAppeal asks a rejection for one
    rejection = AppealRejected(
        event_id=request.request_id,
        occurred_at=request.requested_at,
        appeal_id=appeal.appeal_id,
        booking_id=session.booking_id,
        subscription_id=record.subscription_id,
        mentee_id=record.mentee_id,
        mentor_id=record.mentor_id,
        starts_at=session.starts_at,
        contested_status=appeal.contested_status,
        appeal_reason=appeal.reason,
        decided_by=request.mentor_id,
        decided_at=request.requested_at,
        reason=request.reason,
    )
    return replace(_decided(record, appeal, request), events=(rejection,))


def _accepted(
    record: Record, appeal: Appeal, session: Session, request: DecideAppeal, policy: Policy
) -> Change:
    """The session becomes excused and the history is recounted; a reprobation the
    absence was needed for is lifted. appeal.accepted comes first, then what follows."""
    at = request.requested_at
    change = _decided(record, appeal, request)
    excused = Mark("excused", "mentor", at, request.reason or "appeal accepted")
    # The mark may have changed since the appeal; only an absence becomes excused.
    held = session.mark
    absent = held is not None and streak_effect(held.status, policy) == "counts"
    if absent and not mark_stands_against(excused, held):
        event_id = derived_event_id("appeal accepted", appeal.appeal_id)
        change = change.then(record.apply_and_announce_mark(session, excused, policy, event_id))
    lifts = _no_longer_reprobated(change.record, policy)
    if lifts:
        event_id = derived_event_id("appeal lifted", appeal.appeal_id)
        lifted = change.record.lift_reprobation(at, "mentor", "appeal accepted", event_id)
        change = change.then(lifted)
    acceptance = AppealAccepted(
        event_id=request.request_id,
        occurred_at=at,
        appeal_id=appeal.appeal_id,
        booking_id=session.booking_id,
        subscription_id=record.subscription_id,
        mentee_id=record.mentee_id,
        mentor_id=record.mentor_id,
        starts_at=session.starts_at,
        contested_status=appeal.contested_status,
        appeal_reason=appeal.reason,
        decided_by=request.mentor_id,
        decided_at=at,
        reason=request.reason,
        reprobation_lifted=lifts,
    )
    return replace(change, events=(acceptance, *change.events))


def _no_longer_reprobated(record: Record, policy: Policy) -> bool:
    """Whether `record` is reprobated though its settled history no longer calls for it."""
    if not record.is_reprobated or record.ended:
        return False
    return consequences(record.sessions, record.reactivated_at, policy).reprobate is None

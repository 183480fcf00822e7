"""What attendance answers the mentor's reads and requests with: the store's read
models and the domain's refusals, as the request/reply contract's models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from contracts import rpc
from contracts.policy import AbsencesInDays
from contracts.rpc import (
    AppealView,
    BookingAttendance,
    RpcError,
    SubscriberDetail,
    SubscriberSummary,
)
from contracts.sessions import one_per_session
from services.attendance import preview
from services.attendance.appeals import Appeal, appeal_closes_at
from services.attendance.domain import (
    Counted,
    Policy,
    Record,
    Session,
    SubscriberStatus,
    counted_absences,
    reprobation_lifts_at,
    subscriber_status,
)
from services.attendance.store import ExportedSession, HistoryLine, Subscriber
from services.kit.refusals import Refusal


def in_force(subscriber: Subscriber, policy: Policy) -> Policy:
    """As `Record.in_force`, as it stands now: the mentor's latest over the service's,
    the subscription's own over both."""
    return policy.under(subscriber.mentor_policy).under(subscriber.policy)


def summary(subscriber: Subscriber, service_policy: Policy) -> SubscriberSummary:
    """The subscriber as the mentor's list shows it, under the policy in force for it."""
    s = subscriber
    policy = in_force(s, service_policy)
    return SubscriberSummary(
        subscription_id=s.subscription_id,
        mentee_id=s.mentee_id,
        mentee_name=s.mentee_name,
        mentee_email=s.mentee_email,
        absences=s.absences,
        mentor_no_shows=s.mentor_no_shows,
        consecutive_absences=s.consecutive_absences,
        is_reprobated=s.is_reprobated,
        status=subscriber_status(
            policy,
            ended=s.ended,
            is_reprobated=s.is_reprobated,
            consecutive_absences=s.consecutive_absences,
        ),
        upcoming_bookings=s.upcoming_bookings,
        next_booking_at=s.next_booking_at,
        last_attended_at=s.last_attended_at,
        timezone=s.slot_timezone,
        mentor_timezone=s.mentor_timezone,
        warn_after_absences=policy.warn_after,
        reprobate_after_absences=policy.reprobate_after,
        reprobation_review_hours=policy.review_window.total_seconds() / 3600,
        warn_after_absences_in_days=_n_d(policy.warn_after_in_days),
        reprobate_after_absences_in_days=_n_d(policy.reprobate_after_in_days),
        warn_below_attendance_rate=policy.warn_below_rate,
        # The rate's sessions mean nothing while the rate rule is off.
        attendance_rate_sessions=None if policy.warn_below_rate is None else policy.rate_sessions,
        policy_from="subscription" if s.policy else "mentor" if s.mentor_policy else "settings",
        reprobation_ends=str(policy.reprobation_ends),
        reprobation_pending_until=s.reprobation_due_at,
        reprobated_for=s.reprobated_for if s.is_reprobated or s.reprobation_due_at else None,
        # The day fixed when it was applied (after_days), else what the policy expects.
        reprobation_lifts_at=(
            s.reprobation_lifts_at or reprobation_lifts_at(policy, s.reprobated_at, s.cycle_ends_at)
        )
        if s.is_reprobated and not s.ended
        else None,
        open_appeals=s.open_appeals,
        cycle_starts_at=s.cycle_starts_at,
        cycle_ends_at=s.cycle_ends_at,
    )


def _n_d(rule: AbsencesInDays | None) -> str | None:
    """The rule as N:D, null when it is off."""
    return None if rule is None else str(rule)


def status_of(record: Record, service_policy: Policy) -> SubscriberStatus:
    """The subscriber's status as the mentor's list shows it, from their record."""
    return subscriber_status(
        record.in_force(service_policy),
        ended=record.ended,
        is_reprobated=record.is_reprobated,
        consecutive_absences=record.consecutive_absences,
    )


def detail(
    subscriber: Subscriber,
    sessions: Sequence[Session],
    policy: Policy,
    appeals_: Iterable[Appeal] = (),
) -> SubscriberDetail:
    """The summary plus each booking with its mark and who made it, until when it can
    be appealed, and the appeals."""
    appeals_ = list(appeals_)
    in_force_now = in_force(subscriber, policy)
    counted = counted_absences(sessions, subscriber.reactivated_at, in_force_now)
    uncounted = Counted(in_a_row=False, until=None)
    bookings = [
        BookingAttendance(
            booking_id=s.booking_id,
            replaces=[r.booking_id for r in one.replaces],
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            cancelled=s.cancelled,
            attended=s.attended,
            status=s.status,
            marked_by=s.marked_by,
            marked_at=s.marked_at,
            reason=s.reason,
            appealable_until=_unless_refused(appeal_closes_at(s, appeals_, in_force_now)),
            counts_in_a_row=counted.get(s.booking_id, uncounted).in_a_row,
            counts_until=counted.get(s.booking_id, uncounted).until,
        )
        for one in one_per_session(sessions, lambda s: s.starts_at, lambda s: not s.cancelled)
        for s in [one.booking]
    ]
    return SubscriberDetail(
        **summary(subscriber, policy).model_dump(),
        bookings=bookings,
        appeals=appeals(appeals_, sessions),
    )


def _unless_refused(closes: datetime | Refusal) -> datetime | None:
    return None if isinstance(closes, Refusal) else closes


def appeals(found: Iterable[Appeal], sessions: Iterable[Session]) -> list[AppealView]:
    """Appeals as the contract shows them, each with the start of its session."""
    starts = {s.booking_id: s.starts_at for s in sessions}
    return [
        AppealView(
            **{f.name: getattr(a, f.name) for f in fields(a)}, starts_at=starts[a.booking_id]
        )
        for a in found
        if a.booking_id in starts
    ]


def history(lines: Iterable[HistoryLine]) -> list[rpc.HistoryLine]:
    return [
        rpc.HistoryLine(
            **{f.name: getattr(line.entry, f.name) for f in fields(line.entry)},
            session_starts_at=line.session_starts_at,
            makeup=None if line.makeup is None else rpc.HistoryMakeup.model_validate(line.makeup),
        )
        for line in lines
    ]


def exported(sessions: Iterable[ExportedSession]) -> list[rpc.ExportedSession]:
    return [
        rpc.ExportedSession(
            **{f.name: getattr(s, f.name) for f in fields(s) if f.name != "slot_timezone"},
            timezone=s.slot_timezone,
        )
        for s in sessions
    ]


# An admin's preview lists the subscribers the proposal changes, up to this many.
PREVIEW_LISTED = 1000


@dataclass(frozen=True)
class Previewed:
    record: Record
    mentee_name: str
    current: preview.Outcome
    proposed: preview.Outcome

    @property
    def changed(self) -> bool:
        return self.current != self.proposed


def policy_preview(previewed: Sequence[Previewed], every: bool) -> rpc.PolicyPreview:
    """The totals under both policies, and each subscriber (`every`) or those whose
    outcome the proposal changes."""
    listed = previewed if every else [p for p in previewed if p.changed][:PREVIEW_LISTED]
    return rpc.PolicyPreview(
        current=_totals([p.current for p in previewed]),
        proposed=_totals([p.proposed for p in previewed]),
        subscriptions=len(previewed),
        subscribers=[
            rpc.SubscriberPreview(
                subscription_id=p.record.subscription_id,
                mentor_id=p.record.mentor_id,
                mentee_name=p.mentee_name,
                current=_outcome(p.current),
                proposed=_outcome(p.proposed),
                changed=p.changed,
            )
            for p in listed
        ],
    )


def _totals(outcomes: Sequence[preview.Outcome]) -> rpc.PreviewTotals:
    reprobations = [o.reprobation for o in outcomes if o.reprobation is not None]
    return rpc.PreviewTotals(
        mentees_warned=sum(bool(o.warnings) for o in outcomes),
        warnings=sum(len(o.warnings) for o in outcomes),
        mentees_reprobated=len(reprobations),
        cancelled_sessions=sum(r.cancelled_sessions for r in reprobations),
    )


def _outcome(outcome: preview.Outcome) -> rpc.PreviewOutcome:
    r = outcome.reprobation
    return rpc.PreviewOutcome(
        warnings=[
            rpc.PreviewWarning(
                booking_id=w.booking_id, starts_at=w.starts_at, rule=w.rule, detail=w.detail
            )
            for w in outcome.warnings
        ],
        reprobation=None
        if r is None
        else rpc.PreviewReprobation(
            reprobated_at=r.reprobated_at,
            rule=r.rule,
            detail=r.detail,
            missed=[rpc.PreviewSession(booking_id=b, starts_at=at) for b, at in r.missed],
            cancelled_sessions=r.cancelled_sessions,
        ),
    )


def error(refusal: Refusal) -> RpcError:
    return RpcError(code=refusal.code, detail=refusal.detail)

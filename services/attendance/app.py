"""Wiring of the attendance service: which handler answers which message or request."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from faststream import FastStream

import contracts
from contracts import rpc
from contracts.policy import AbsencesInDays
from services.attendance import handlers
from services.attendance.domain import Policy
from services.kit.runtime import CASCADE_GATHER_SECONDS as CASCADE
from services.kit.runtime import Answers, Consumes, ConsumesBatches, ServiceRuntime
from services.kit.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings) -> ServiceRuntime[Policy]:
    policy = Policy(
        warn_after=settings.warn_after_absences,
        reprobate_after=settings.reprobate_after_absences,
        join_opens_before=timedelta(minutes=settings.join_opens_minutes_before),
        late_after=timedelta(minutes=settings.late_after_minutes),
        late_counts_as_absence=settings.late_counts_as_absence,
        track_mentor_joins=settings.track_mentor_joins,
        reprobation_ends=settings.reprobation_ends_policy,
        review_window=timedelta(hours=settings.reprobation_review_hours),
        appeal_window=timedelta(days=settings.appeal_days),
        warn_after_in_days=AbsencesInDays.parse_optional(settings.warn_after_absences_in_days),
        reprobate_after_in_days=AbsencesInDays.parse_optional(
            settings.reprobate_after_absences_in_days
        ),
        warn_below_rate=settings.warn_below_attendance_rate,
        rate_sessions=settings.attendance_rate_sessions,
    )
    runtime = ServiceRuntime("attendance", settings, MIGRATIONS, policy)
    runtime.register(
        consumes=[
            ConsumesBatches(contracts.SubscriptionActivated, handlers.add_subscriptions),
            Consumes(contracts.SubscriptionRenewed, handlers.renew_subscription),
            Consumes(contracts.SubscriptionEnded, handlers.end_subscription),
            ConsumesBatches(contracts.BookingsScheduled, handlers.add_bookings),
            ConsumesBatches(
                contracts.BookingsCancelled, handlers.cancel_bookings, gather_seconds=CASCADE
            ),
            ConsumesBatches(contracts.SessionJoined, handlers.record_joins),
            ConsumesBatches(
                contracts.BookingUnattended, handlers.record_absences, gather_seconds=CASCADE
            ),
            ConsumesBatches(contracts.BookingCancelled, handlers.record_cancellations),
            # Each step of a make-up, a line of the history.
            ConsumesBatches(contracts.MakeupOwed, handlers.record_makeup_steps),
            ConsumesBatches(contracts.MakeupWithdrawn, handlers.record_makeup_steps),
            ConsumesBatches(contracts.MakeupUsed, handlers.record_makeup_steps),
            ConsumesBatches(contracts.MakeupExpired, handlers.record_makeup_steps),
            ConsumesBatches(contracts.MakeupRefunded, handlers.record_makeup_steps),
            Consumes(contracts.SweepTick, handlers.on_tick),
        ],
        answers=[
            Answers(rpc.ListSubscribers, handlers.list_subscribers),
            Answers(rpc.GetSubscriber, handlers.get_subscriber),
            Answers(rpc.GetMenteeStanding, handlers.get_mentee_standing),
            Answers(rpc.MarkAttendance, handlers.mark_attendance),
            Answers(rpc.ClearMark, handlers.clear_mark),
            Answers(rpc.ReactivateMentee, handlers.reactivate),
            Answers(rpc.WaiveReprobation, handlers.waive_reprobation),
            Answers(rpc.AppealAbsence, handlers.appeal_absence),
            Answers(rpc.DecideAppeal, handlers.decide_appeal),
            Answers(rpc.GetHistory, handlers.get_history),
            Answers(rpc.ExportAttendance, handlers.export_attendance),
            Answers(rpc.PreviewPolicy, handlers.preview_policy),
            Answers(rpc.GetMentorPolicy, handlers.get_mentor_policy),
            Answers(rpc.SetMentorPolicy, handlers.set_mentor_policy),
        ],
        publishes=[
            contracts.AttendanceMarked,
            contracts.AttendanceMarkCleared,
            contracts.MenteeWarned,
            contracts.MenteeReprobated,
            contracts.MenteeReactivated,
            contracts.MentorMissed,
            contracts.MenteeReprobationPending,
            contracts.MenteeReprobationWaived,
            contracts.MenteeReprobationWithdrawn,
            contracts.AppealFiled,
            contracts.AppealAccepted,
            contracts.AppealRejected,
            contracts.MentorPolicyChanged,
        ],
    )
    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

"""Wiring of the attendance service: which handler answers which message or request."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from faststream import FastStream

from contracts import (
    AppealAccepted,
    AppealFiled,
    AppealRejected,
    AttendanceMarkCleared,
    AttendanceMarked,
    BookingCancelled,
    BookingsCancelled,
    BookingsScheduled,
    BookingUnattended,
    MenteeReactivated,
    MenteeReprobated,
    MenteeReprobationPending,
    MenteeReprobationWaived,
    MenteeReprobationWithdrawn,
    MenteeWarned,
    MentorMissed,
    SessionJoined,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
    SweepTick,
)
from contracts.rpc import (
    AppealAbsence,
    ClearMark,
    DecideAppeal,
    ExportAttendance,
    GetHistory,
    GetMenteeStanding,
    GetSubscriber,
    ListSubscribers,
    MarkAttendance,
    ReactivateMentee,
    WaiveReprobation,
)
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
    )
    runtime = ServiceRuntime("attendance", settings, MIGRATIONS, policy)
    runtime.register(
        consumes=[
            ConsumesBatches(SubscriptionActivated, handlers.add_subscriptions),
            Consumes(SubscriptionRenewed, handlers.renew_subscription),
            Consumes(SubscriptionEnded, handlers.end_subscription),
            ConsumesBatches(BookingsScheduled, handlers.add_bookings),
            ConsumesBatches(BookingsCancelled, handlers.cancel_bookings, gather_seconds=CASCADE),
            ConsumesBatches(SessionJoined, handlers.record_joins),
            ConsumesBatches(BookingUnattended, handlers.record_absences, gather_seconds=CASCADE),
            ConsumesBatches(BookingCancelled, handlers.record_cancellations),
            Consumes(SweepTick, handlers.on_tick),
        ],
        answers=[
            Answers(ListSubscribers, handlers.list_subscribers),
            Answers(GetSubscriber, handlers.get_subscriber),
            Answers(GetMenteeStanding, handlers.get_mentee_standing),
            Answers(MarkAttendance, handlers.mark_attendance),
            Answers(ClearMark, handlers.clear_mark),
            Answers(ReactivateMentee, handlers.reactivate),
            Answers(WaiveReprobation, handlers.waive_reprobation),
            Answers(AppealAbsence, handlers.appeal_absence),
            Answers(DecideAppeal, handlers.decide_appeal),
            Answers(GetHistory, handlers.get_history),
            Answers(ExportAttendance, handlers.export_attendance),
        ],
        publishes=[
            AttendanceMarked,
            AttendanceMarkCleared,
            MenteeWarned,
            MenteeReprobated,
            MenteeReactivated,
            MentorMissed,
            MenteeReprobationPending,
            MenteeReprobationWaived,
            MenteeReprobationWithdrawn,
            AppealFiled,
            AppealAccepted,
            AppealRejected,
        ],
    )
    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

"""Requests and replies between the gateway and the services that own the data.

Reads and the mentor's commands go to the owning service as RabbitMQ
request/reply (direct reply-to). Each request type names its routing key; only
the owning service binds it. A reply carries either its data or an `error`
that the gateway maps to an HTTP status.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.messages import (
    BookingKind,
    CancellationStatus,
    MakeupRefund,
    MakeupStatus,
    MarkStatus,
    Reason,
    SubscriptionPolicy,
    contradiction,
    status_of,
)
from contracts.policy import PolicyRule

ErrorCode = Literal["not_found", "forbidden", "conflict", "invalid"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RpcError(_Model):
    code: ErrorCode
    detail: str = Field(examples=["subscription is not reprobated"])


class Request(_Model):
    routing_key: ClassVar[str]
    owner: ClassVar[str]


class Reply(_Model):
    error: RpcError | None = None


# --- booking -------------------------------------------------------------------


class MenteeBooking(_Model):
    booking_id: UUID
    subscription_id: UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    status: Literal["scheduled", "attended", "unattended", "cancelled"]
    attended: bool | None = Field(description="null while no attendance is recorded")
    mark: MarkStatus | None = Field(
        default=None,
        description="the attendance mark (present, late, absent, excused, mentor_no_show, "
        "cancelled_in_time, cancelled_late); null while none is recorded",
    )
    replaces: list[UUID] = Field(
        default_factory=list,
        description="the cancelled bookings of the same session that this one stands for "
        "(added): a reprobation cancels the cycle's bookings and a reactivation books the "
        "same sessions again; each session is listed once",
    )
    kind: BookingKind = Field(
        default="slot", description="makeup: a make-up session for one the mentor missed (added)"
    )
    makeup_for: UUID | None = Field(
        default=None, description="for a make-up: the missed booking it makes up for (added)"
    )


class ListMenteeBookings(Request):
    routing_key: ClassVar[str] = "rpc.list_mentee_bookings"
    owner: ClassVar[str] = "booking"

    mentee_id: UUID


class MenteeBookingsReply(Reply):
    bookings: list[MenteeBooking] = Field(default_factory=list)


class CancelBooking(Request):
    """A mentee cancels one of their bookings ahead of its start."""

    routing_key: ClassVar[str] = "rpc.cancel_booking"
    owner: ClassVar[str] = "booking"

    request_id: UUID = Field(description="idempotency key; also the event_id of booking.cancelled")
    mentee_id: UUID
    booking_id: UUID
    requested_at: AwareDatetime


class BookingCancellation(Reply):
    booking_id: UUID | None = None
    starts_at: AwareDatetime | None = None
    status: CancellationStatus | None = Field(
        default=None,
        description="cancelled_in_time: at least CANCEL_NOTICE_HOURS ahead, neutral to the "
        "absence streak; cancelled_late: with less notice, counts as an absence",
    )


class FindBooking(Request):
    """Who owns a booking: lets the gateway answer 404/403 before a join."""

    routing_key: ClassVar[str] = "rpc.find_booking"
    owner: ClassVar[str] = "booking"

    booking_id: UUID


class BookingFound(Reply):
    booking_id: UUID | None = None
    subscription_id: UUID | None = None
    mentee_id: UUID | None = None
    mentor_id: UUID | None = None
    status: str | None = None
    starts_at: AwareDatetime | None = Field(
        default=None, description="when the session starts (for the join window)"
    )
    ends_at: AwareDatetime | None = None
    timezone: str | None = Field(default=None, description="the slot's IANA time zone")


class MakeupBooking(_Model):
    booking_id: UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    status: Literal["scheduled", "attended", "unattended", "cancelled"]


class Makeup(_Model):
    """A make-up session owed for a session the mentor missed (added), and where it stands:
    owed (to be booked by `book_by`), withdrawn (the mark was corrected), booked, used (its
    session took place or was marked) or expired."""

    missed_booking_id: UUID
    subscription_id: UUID
    missed_starts_at: AwareDatetime
    missed_ends_at: AwareDatetime
    status: MakeupStatus
    owed_at: AwareDatetime
    changed_at: AwareDatetime
    book_by: AwareDatetime = Field(
        description="the latest start of the make-up: MAKEUP_WITHIN_DAYS after the missed "
        "session's start"
    )
    booking: MakeupBooking | None = Field(default=None, description="the make-up booked")


class ListMakeups(Request):
    """The make-ups of one subscription, or of every subscription of one mentee or of one
    mentor."""

    routing_key: ClassVar[str] = "rpc.list_makeups"
    owner: ClassVar[str] = "booking"

    subscription_id: UUID | None = None
    mentee_id: UUID | None = None
    mentor_id: UUID | None = None

    @model_validator(mode="after")
    def _one_owner(self) -> ListMakeups:
        given = [self.subscription_id, self.mentee_id, self.mentor_id]
        if sum(g is not None for g in given) != 1:
            raise ValueError("give one of subscription_id, mentee_id or mentor_id")
        return self


class MakeupsReply(Reply):
    makeups: list[Makeup] = Field(default_factory=list)


class ScheduleMakeup(Request):
    """A mentor books the make-up owed for a session they missed: a booking of the slot's
    duration starting by `book_by`, clashing with none of the mentor's other bookings."""

    routing_key: ClassVar[str] = "rpc.schedule_makeup"
    owner: ClassVar[str] = "booking"

    request_id: UUID = Field(description="idempotency key: sent again, the same booking")
    mentor_id: UUID
    subscription_id: UUID
    missed_booking_id: UUID
    starts_at: AwareDatetime
    requested_at: AwareDatetime


class MakeupScheduled(Reply):
    makeup: Makeup | None = None


# --- attendance ------------------------------------------------------------------


class SubscriberSummary(_Model):
    subscription_id: UUID
    mentee_id: UUID
    mentee_name: str
    mentee_email: str
    absences: int = Field(description="absences in the current cycle")
    mentor_no_shows: int = Field(
        default=0, description="sessions of the current cycle the mentor did not come to"
    )
    consecutive_absences: int
    is_reprobated: bool
    status: Literal["active", "warned", "reprobated", "ended"]
    upcoming_bookings: int
    next_booking_at: AwareDatetime | None = None
    last_attended_at: AwareDatetime | None = None
    timezone: str = Field(
        default="UTC", description="the slot's IANA time zone, the mentee's local time"
    )
    mentor_timezone: str | None = Field(
        default=None,
        description="the mentor's own IANA time zone (added), in which the mentor's pages "
        "show times: that of the mentor's most recently activated subscription that has "
        "one (Stripe metadata `mentor_timezone`); null when none has",
        examples=["America/Sao_Paulo"],
    )
    warn_after_absences: int = Field(default=1, description="the policy in force: warned at")
    reprobate_after_absences: int = Field(
        default=2, description="the policy in force: reprobated at this many consecutive"
    )
    reprobation_review_hours: float = Field(
        default=0, description="the policy in force: hours a reprobation waits for review"
    )
    warn_after_absences_in_days: str | None = Field(
        default=None,
        description="the policy in force (added): warned at N absences within D days, as "
        "N:D; null when that rule is off",
        examples=["2:14"],
    )
    reprobate_after_absences_in_days: str | None = Field(
        default=None,
        description="the policy in force (added): reprobated at N absences within D days, "
        "as N:D; null when that rule is off",
        examples=["3:30"],
    )
    warn_below_attendance_rate: float | None = Field(
        default=None,
        description="the policy in force (added): warned when the attendance over the last "
        "attendance_rate_sessions settled sessions falls below this percentage; null when "
        "that rule is off",
        examples=[75],
    )
    attendance_rate_sessions: int | None = Field(
        default=None,
        description="the policy in force (added): how many of the latest settled sessions "
        "the attendance rate is taken over; null when that rule is off",
        examples=[10],
    )
    policy_from: Literal["settings", "mentor", "subscription"] = Field(
        default="settings",
        description="whether the subscription brought its own policy (Stripe metadata, "
        "subscription.activated's `policy`), or the mentor's own applies (`mentor`, added: "
        "PUT /api/mentor/policy), or the service settings",
    )
    reprobation_ends: str = Field(
        default="on_reactivation",
        description="what lifts a reprobation besides the mentor (REPROBATION_ENDS): "
        "on_reactivation, at_renewal or after_days:N",
    )
    reprobated_for: str | None = Field(
        default=None,
        description="while reprobated or a reprobation is pending: the rule that reached "
        "it, in words, e.g. '3 absences within 30 days' (added)",
    )
    reprobation_pending_until: AwareDatetime | None = Field(
        default=None,
        description="while a reprobation waits for the mentor's review "
        "(REPROBATION_REVIEW_HOURS): when the first tick after it applies it",
    )
    reprobation_lifts_at: AwareDatetime | None = Field(
        default=None,
        description="while reprobated: when it lifts on its own (after_days: that day; "
        "at_renewal: the cycle's end, when the renewal is due); null if only the mentor can",
    )
    open_appeals: int = Field(
        default=0, description="the mentee's appeals of absences waiting for the mentor"
    )
    cycle_starts_at: AwareDatetime | None = Field(
        default=None, description="the current cycle's start"
    )
    cycle_ends_at: AwareDatetime | None = Field(default=None, description="the current cycle's end")


class BookingAttendance(_Model):
    booking_id: UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    cancelled: bool
    attended: bool | None = None
    status: MarkStatus | None = Field(default=None, description="the mark; null while unmarked")
    marked_by: Literal["system", "mentor", "mentee"] | None = None
    marked_at: AwareDatetime | None = None
    reason: str | None = Field(default=None, description="the mentor's reason for the mark")
    appealable_until: AwareDatetime | None = Field(
        default=None,
        description="when the mentee's time to appeal this mark ends (APPEAL_DAYS after "
        "it; already past once it has); null when it cannot be appealed at all: not an "
        "absence, or an appeal of it is open or was rejected",
    )
    replaces: list[UUID] = Field(
        default_factory=list,
        description="the cancelled bookings of the same session that this one stands for "
        "(added): a reactivation books again the sessions a reprobation cancelled; each "
        "session is listed once",
    )
    counts_in_a_row: bool = Field(
        default=False,
        description="an absence of the run of absences in a row the history ends in "
        "(added): it counts until the mentee attends a session",
    )
    counts_until: AwareDatetime | None = Field(
        default=None,
        description="under a rule of absences within D days, an absence counts with any "
        "later one whose session starts by then (added): D days after its own start; null "
        "when no such rule is in force or it is not a counted absence",
    )


AppealStatus = Literal["open", "accepted", "rejected"]


class AppealView(_Model):
    """A mentee's appeal of an absence, and the mentor's decision on it."""

    appeal_id: UUID
    booking_id: UUID
    subscription_id: UUID
    starts_at: AwareDatetime = Field(description="the start of the contested session")
    contested_status: MarkStatus = Field(description="the mark contested, e.g. absent")
    reason: str = Field(description="the mentee's words")
    filed_at: AwareDatetime
    status: AppealStatus = Field(
        description="open until the mentor decides; accepted: the session became excused"
    )
    decided_at: AwareDatetime | None = None
    decision_reason: str | None = Field(default=None, description="the mentor's words")


class SubscriberDetail(SubscriberSummary):
    bookings: list[BookingAttendance] = Field(default_factory=list)
    appeals: list[AppealView] = Field(
        default_factory=list, description="the mentee's appeals, open ones first, newest first"
    )


class ListSubscribers(Request):
    routing_key: ClassVar[str] = "rpc.list_subscribers"
    owner: ClassVar[str] = "attendance"

    mentor_id: UUID
    now: AwareDatetime = Field(description="the gateway's clock, for 'upcoming'")


class NearSession(_Model):
    """A live session of one of the mentor's subscribers that starts within a day of
    the request's `now` (added): the page's "Today" takes those of the reader's day."""

    subscription_id: UUID
    booking_id: UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    status: MarkStatus | None = Field(default=None, description="the mark; null while unmarked")


class SubscribersReply(Reply):
    subscribers: list[SubscriberSummary] = Field(default_factory=list)
    near: list[NearSession] = Field(
        default_factory=list,
        description="the subscribers' live sessions starting within a day of `now`, by start "
        "(added)",
    )
    mentor_timezone: str | None = Field(
        default=None,
        description="the mentor's own IANA time zone (added; as each subscriber's "
        "`mentor_timezone`); null when unknown",
    )


class GetMenteeStanding(Request):
    """A mentee's own view of each of their subscriptions: standing, sessions with their
    marks, appeals and the mentor's decisions (added)."""

    routing_key: ClassVar[str] = "rpc.get_mentee_standing"
    owner: ClassVar[str] = "attendance"

    mentee_id: UUID
    now: AwareDatetime = Field(description="the gateway's clock, for 'upcoming'")


class MenteeStandingReply(Reply):
    subscriptions: list[SubscriberDetail] = Field(
        default_factory=list, description="the mentee's subscriptions, ended ones last"
    )


class GetSubscriber(Request):
    routing_key: ClassVar[str] = "rpc.get_subscriber"
    owner: ClassVar[str] = "attendance"

    mentor_id: UUID
    subscription_id: UUID
    now: AwareDatetime


class SubscriberReply(Reply):
    subscriber: SubscriberDetail | None = None


class MarkAttendance(Request):
    """A mentor marks a booking (`marked_by: mentor`) with a status, or, as before
    statuses, attended or absent."""

    routing_key: ClassVar[str] = "rpc.mark_attendance"
    owner: ClassVar[str] = "attendance"

    request_id: UUID = Field(description="idempotency key; also the event_id of the mark")
    mentor_id: UUID
    booking_id: UUID
    attended: bool | None = None
    status: MarkStatus | None = None
    reason: Reason | None = None
    marked_at: AwareDatetime

    @model_validator(mode="after")
    def _one_mark(self) -> MarkAttendance:
        problem = contradiction(self.status, self.attended)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def mark_status(self) -> MarkStatus:
        return self.status or status_of(bool(self.attended))


class ClearMark(Request):
    """A mentor takes back their own mark of a session that has not started yet
    (added); the session is "not marked" again."""

    routing_key: ClassVar[str] = "rpc.clear_mark"
    owner: ClassVar[str] = "attendance"

    request_id: UUID = Field(description="idempotency key; also the event_id of the clearing")
    mentor_id: UUID
    booking_id: UUID
    requested_at: AwareDatetime


class ReactivateMentee(Request):
    routing_key: ClassVar[str] = "rpc.reactivate_mentee"
    owner: ClassVar[str] = "attendance"

    request_id: UUID = Field(description="idempotency key; also the event_id of mentee.reactivated")
    mentor_id: UUID
    subscription_id: UUID
    requested_at: AwareDatetime


class WaiveReprobation(Request):
    """The mentor waives a pending reprobation, with a reason (added)."""

    routing_key: ClassVar[str] = "rpc.waive_reprobation"
    owner: ClassVar[str] = "attendance"

    request_id: UUID = Field(
        description="idempotency key; also the event_id of mentee.reprobation_waived"
    )
    mentor_id: UUID
    subscription_id: UUID
    reason: Reason
    requested_at: AwareDatetime


class AppealAbsence(Request):
    """A mentee contests the absence a booking is marked with, within APPEAL_DAYS of
    the mark (added)."""

    routing_key: ClassVar[str] = "rpc.appeal_absence"
    owner: ClassVar[str] = "attendance"

    request_id: UUID = Field(
        description="idempotency key; also the appeal's id and the event_id of appeal.filed"
    )
    mentee_id: UUID
    booking_id: UUID
    reason: Reason
    requested_at: AwareDatetime


class AppealReply(Reply):
    appeal: AppealView | None = None


class DecideAppeal(Request):
    """The mentor accepts an open appeal (the session becomes excused) or rejects it,
    with a reason (added)."""

    routing_key: ClassVar[str] = "rpc.decide_appeal"
    owner: ClassVar[str] = "attendance"

    request_id: UUID = Field(
        description="idempotency key; also the event_id of appeal.accepted or appeal.rejected"
    )
    mentor_id: UUID
    appeal_id: UUID
    accept: bool
    reason: Reason | None = Field(default=None, description="required to reject")
    requested_at: AwareDatetime

    @model_validator(mode="after")
    def _rejection_says_why(self) -> DecideAppeal:
        if not self.accept and self.reason is None:
            raise ValueError("say why the appeal is rejected: a reason is needed")
        return self


HistoryKind = Literal[
    "mark",
    "warning",
    "reprobation",
    "reactivation",
    "pending",
    "waiver",
    "withdrawal",
    "appeal",
    "appeal_decision",
    "policy",
    "makeup",
]


MakeupStepStatus = Literal["owed", "withdrawn", "booked", "used", "expired", "refunded"]


class HistoryMakeup(_Model):
    """What a make-up line of the history (kind `makeup`) says beyond its step, for a
    reader to put in their own words and time zone (added)."""

    again: bool = Field(
        default=False,
        description="owed: owed again (its make-up was cancelled, or the no-show marked again)",
    )
    booking_id: UUID | None = Field(default=None, description="booked, used: the make-up's booking")
    starts_at: AwareDatetime | None = Field(
        default=None, description="booked, used: when the make-up session starts"
    )
    mark: MarkStatus | None = Field(
        default=None,
        description="used: the make-up session's mark (cancelled_late: the mentee cancelled "
        "it late)",
    )
    book_by: AwareDatetime | None = Field(
        default=None, description="expired: the latest start it could have had"
    )
    refund: MakeupRefund | None = Field(default=None, description="expired: what it gives back")
    amount: int | None = Field(
        default=None, description="refunded: in the currency's smallest unit, e.g. cents"
    )
    currency: str | None = Field(default=None, description="refunded", examples=["eur"])


class HistoryLine(_Model):
    """A mark changed (`old_status` → `new_status`), or a warning, reprobation or
    reactivation (the subscriber's status before → after), or a step of a make-up owed
    for a session the mentor missed (kind `makeup`: `booking_id` and `session_starts_at`
    are the missed session's, `new_status` the step, `makeup` what it says)."""

    kind: HistoryKind
    at: AwareDatetime = Field(description="when it happened (the fact's own time)")
    actor: Literal["system", "mentor", "mentee"]
    actor_id: UUID | None = Field(default=None, description="the mentor's or mentee's id")
    booking_id: UUID | None = None
    session_starts_at: AwareDatetime | None = Field(
        default=None, description="the start of the session it is about"
    )
    old_status: str | None = None
    new_status: str | None = None
    reason: str | None = None
    makeup: HistoryMakeup | None = Field(default=None, description="a make-up line's step")


class GetHistory(Request):
    """A subscription's append-only history, for its mentor."""

    routing_key: ClassVar[str] = "rpc.get_history"
    owner: ClassVar[str] = "attendance"

    mentor_id: UUID
    subscription_id: UUID


class HistoryReply(Reply):
    timezone: str = Field(default="UTC", description="the slot's IANA time zone")
    history: list[HistoryLine] = Field(default_factory=list)


class ExportedSession(_Model):
    mentee_name: str
    mentee_email: str
    timezone: str = Field(description="the slot's IANA time zone")
    booking_id: UUID
    starts_at: AwareDatetime
    cancelled: bool
    status: MarkStatus | None = None
    marked_by: Literal["system", "mentor", "mentee"] | None = None
    marked_at: AwareDatetime | None = None
    reason: str | None = None


class ExportAttendance(Request):
    """Every booking of a mentor's subscriptions starting in [starts_from, starts_before)."""

    routing_key: ClassVar[str] = "rpc.export_attendance"
    owner: ClassVar[str] = "attendance"

    mentor_id: UUID
    starts_from: AwareDatetime
    starts_before: AwareDatetime


class AttendanceExport(Reply):
    sessions: list[ExportedSession] = Field(default_factory=list)


class SubscriberChanged(Reply):
    """Reply to a mentor command: the subscriber as it is after the command."""

    subscriber: SubscriberDetail | None = None
    status_before: Literal["active", "warned", "reprobated", "ended"] | None = Field(
        default=None,
        description="the subscriber's status before the command (added), so that the page "
        "can say what changed",
    )
    published: list[str] = Field(
        default_factory=list,
        description="the routing keys of the events the command set off, in order (added): "
        "empty for a retried request or a command that changed nothing",
    )


class GetMentorPolicy(Request):
    """The mentor's own absence policy, and the settings it falls back to (added)."""

    routing_key: ClassVar[str] = "rpc.get_mentor_policy"
    owner: ClassVar[str] = "attendance"

    mentor_id: UUID


class SetMentorPolicy(Request):
    """The mentor's own absence policy from `requested_at` on, replacing the one they had
    (added); no field set: the settings again."""

    routing_key: ClassVar[str] = "rpc.set_mentor_policy"
    owner: ClassVar[str] = "attendance"

    request_id: UUID = Field(
        description="idempotency key; also the event_id of mentor.policy_changed"
    )
    mentor_id: UUID
    policy: SubscriptionPolicy
    requested_at: AwareDatetime


class MentorPolicyReply(Reply):
    policy: SubscriptionPolicy | None = Field(
        default=None, description="the mentor's own, as set; null: never set"
    )
    since: AwareDatetime | None = Field(default=None, description="when it was set")
    settings: SubscriptionPolicy = Field(
        default_factory=SubscriptionPolicy,
        description="the service's settings, which every field the mentor leaves unset "
        "falls back to",
    )
    subscriptions: int = Field(
        default=0, description="the mentor's subscriptions it applies to (not ended)"
    )
    with_own_policy: int = Field(
        default=0,
        description="of those, how many brought their own policy, whose fields win over it",
    )


class PreviewPolicy(Request):
    """What a proposed policy would have done (added): every subscription of a mentor
    (all mentors' when `mentor_id` is null, for an admin) that has not ended, its
    recorded marks replayed under the policy in force and under the proposal. Writes
    nothing, publishes nothing."""

    routing_key: ClassVar[str] = "rpc.preview_policy"
    owner: ClassVar[str] = "attendance"

    mentor_id: UUID | None
    proposed: SubscriptionPolicy
    starts_from: AwareDatetime | None = Field(
        default=None, description="only sessions starting at or after; null: the cycle's start"
    )
    starts_before: AwareDatetime | None = Field(
        default=None, description="only sessions starting before; null: the cycle's end"
    )


class PreviewSession(_Model):
    booking_id: UUID
    starts_at: AwareDatetime


class PreviewWarning(PreviewSession):
    """A warning about the missed session `booking_id`, and the rule that gave it."""

    rule: PolicyRule
    detail: str = Field(examples=["2 absences within 14 days"])


class PreviewReprobation(_Model):
    reprobated_at: AwareDatetime
    rule: PolicyRule
    detail: str = Field(examples=["3 absences within 30 days"])
    missed: list[PreviewSession]
    cancelled_sessions: int = Field(description="the sessions after it it would cancel")


class PreviewOutcome(_Model):
    warnings: list[PreviewWarning] = Field(default_factory=list)
    reprobation: PreviewReprobation | None = None


class SubscriberPreview(_Model):
    subscription_id: UUID
    mentor_id: UUID
    mentee_name: str
    current: PreviewOutcome = Field(description="under the policy in force")
    proposed: PreviewOutcome
    changed: bool = Field(description="whether the proposal warns or reprobates differently")


class PreviewTotals(_Model):
    mentees_warned: int = 0
    warnings: int = 0
    mentees_reprobated: int = 0
    cancelled_sessions: int = 0


class PolicyPreview(Reply):
    current: PreviewTotals = Field(default_factory=PreviewTotals)
    proposed: PreviewTotals = Field(default_factory=PreviewTotals)
    subscriptions: int = Field(default=0, description="how many were replayed")
    subscribers: list[SubscriberPreview] = Field(
        default_factory=list,
        description="each subscriber (a mentor's preview), or those the proposal changes "
        "(an admin's, at most 1,000)",
    )


# --- notifications: calendar feeds ------------------------------------------------

FeedRole = Literal["mentee", "mentor"]


class OpenCalendarFeed(Request):
    """The token of a person's private calendar feed, made the first time it is asked
    for (added)."""

    routing_key: ClassVar[str] = "rpc.open_calendar_feed"
    owner: ClassVar[str] = "notifications"

    person_id: UUID
    role: FeedRole


class ResetCalendarFeed(Request):
    """A new token for a person's feed: the old URL stops working (added)."""

    routing_key: ClassVar[str] = "rpc.reset_calendar_feed"
    owner: ClassVar[str] = "notifications"

    request_id: UUID = Field(description="idempotency key: a retried reset makes one token")
    person_id: UUID
    role: FeedRole


class CalendarFeedToken(Reply):
    token: str | None = Field(
        default=None, description="random, URL-safe; the feed is /calendar/<token>.ics"
    )


class GetCalendarFeed(Request):
    """The feed a token opens: every upcoming session of its holder, as iCalendar (added)."""

    routing_key: ClassVar[str] = "rpc.get_calendar_feed"
    owner: ClassVar[str] = "notifications"

    token: str
    now: AwareDatetime = Field(description="the gateway's clock: sessions not yet over")


class CalendarFeed(Reply):
    ics: str | None = Field(default=None, description="an iCalendar object (RFC 5545)")

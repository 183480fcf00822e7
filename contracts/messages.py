"""One pydantic model per message (docs/design.md, "The services"; docs/asyncapi),
each with its routing key.

Bodies are JSON. Unknown fields are ignored so that producers can add fields
without breaking consumers; wrong types and naive datetimes are rejected.
A new field is always optional with a default; fields are never renamed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, ClassVar, Literal, get_args
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from contracts.policy import AbsencesInDays, PolicyRule, ReprobationEnds

_EXAMPLE_TIME = "2026-03-02T18:00:00+00:00"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Event(_Model):
    """What every message carries: its identity and when it happened."""

    routing_key: ClassVar[str]

    event_id: UUID = Field(
        default_factory=uuid4,
        description="Unique id of the event, also the AMQP message_id (deduplication key).",
    )
    occurred_at: AwareDatetime = Field(
        description="When the event happened (ISO 8601 with offset).",
        examples=[_EXAMPLE_TIME],
    )

    def body(self) -> bytes:
        """The JSON body as published."""
        return self.model_dump_json().encode()


NAME_MAX_LENGTH = 200
# Control characters (a line break ends an email header), unpaired surrogates
# (not encodable), and the Unicode line and paragraph separators.
_NOT_IN_A_NAME = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _one_line(refusal: str) -> Callable[[str], str]:
    """A validator of one-line texts: none of their characters a control character."""

    def printable(value: str) -> str:
        if any(unicodedata.category(char) in _NOT_IN_A_NAME for char in value):
            raise ValueError(refusal)
        return value

    return printable


_Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_LENGTH),
    AfterValidator(_one_line("a name must not contain line breaks or other control characters")),
]


class Person(_Model):
    id: UUID = Field(description="The person's user id (the JWT `sub`).")
    name: _Name = Field(
        description="Shown in emails and on the dashboard: one line, surrounding "
        f"whitespace stripped, at most {NAME_MAX_LENGTH} characters, no control characters.",
        examples=["Ana Lima"],
    )
    email: EmailStr = Field(examples=["ana@example.com"])


class Mentor(Person):
    """The mentor, who may say in which time zone they read times."""

    # A Person given for the mentor (a producer older than the zone) is read as one
    # without a zone.
    model_config = ConfigDict(from_attributes=True)

    timezone: str | None = Field(
        default=None,
        description="The mentor's own IANA time zone (added; optional), in which their "
        "pages and emails show times; null: unknown, the slot's zone or the reader's is used.",
        examples=["America/Sao_Paulo"],
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return None if value is None else known_zone(value)


_HH_MM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["18:00"])]


class Slot(_Model):
    """The weekly slot of a subscription, in the slot's own time zone."""

    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday.")
    start_time: _HH_MM = Field(description='Local start time "HH:MM".')
    duration_minutes: int = Field(gt=0, le=24 * 60, examples=[60])
    timezone: str = Field(description="IANA time zone name.", examples=["Europe/Lisbon"])

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_zone(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_start_time(self) -> time:
        hours, minutes = self.start_time.split(":")
        return time(int(hours), int(minutes))

    def occurrences(
        self, starts_at: datetime, ends_at: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        """Every (start, end) of this slot with `starts_at <= start < ends_at`, in UTC.

        The start is computed on the local calendar, so an 18:00 Lisbon session
        stays at 18:00 local time across DST changes. A start that falls in a
        spring-forward gap is moved forward by the gap, as clocks do.
        """
        zone = self.zone
        day: date = starts_at.astimezone(zone).date()
        day += timedelta(days=(self.weekday - day.weekday()) % 7)
        last_day = ends_at.astimezone(zone).date()
        duration = timedelta(minutes=self.duration_minutes)
        while day <= last_day:
            local = datetime.combine(day, self.local_start_time, tzinfo=zone)
            start = local.astimezone(UTC)
            if starts_at <= start < ends_at:
                yield start, start + duration
            day += timedelta(days=7)

    def occurrences_after(
        self, after: datetime, ends_at: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        """The occurrences starting strictly after `after` and before `ends_at`.

        Part of the contract (lifecycle step 7): a reactivation books exactly
        these, and notifications announces exactly these without asking
        booking, so both must compute them the same way.
        """
        return ((start, end) for start, end in self.occurrences(after, ends_at) if start > after)


def known_zone(value: str) -> str:
    """`value` when it names an IANA time zone; ValueError otherwise."""
    if value not in _zone_names():
        raise ValueError(f"unknown IANA time zone {value!r}")
    return value


def _zone_names() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


_ZONES: set[str] | None = None


class BookingRef(_Model):
    booking_id: UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime


# --- subscriptions -----------------------------------------------------------


class SubscriptionPolicy(_Model):
    """The absence policy a subscription brings with it (added): each field set here
    overrides the service's setting of the same name for this subscription alone."""

    warn_after_absences: int | None = Field(default=None, ge=1, le=100)
    reprobate_after_absences: int | None = Field(default=None, ge=1, le=100)
    reprobation_review_hours: float | None = Field(default=None, ge=0, le=24 * 366)
    reprobation_ends: str | None = Field(
        default=None, description="on_reactivation, at_renewal or after_days:N"
    )
    warn_after_absences_in_days: str | None = Field(
        default=None, description="N:D, warned at N absences within D days (added)"
    )
    reprobate_after_absences_in_days: str | None = Field(
        default=None, description="N:D, reprobated at N absences within D days (added)"
    )
    warn_below_attendance_rate: float | None = Field(
        default=None,
        gt=0,
        le=100,
        description="Warned when the attendance over the last attendance_rate_sessions "
        "settled sessions falls below this percentage (added)",
    )
    attendance_rate_sessions: int | None = Field(default=None, ge=1, le=100)

    @field_validator("reprobation_ends")
    @classmethod
    def _known_ending(cls, value: str | None) -> str | None:
        return None if value is None else str(ReprobationEnds.parse(value))

    @field_validator("warn_after_absences_in_days", "reprobate_after_absences_in_days")
    @classmethod
    def _in_days(cls, value: str | None) -> str | None:
        return None if value is None else str(AbsencesInDays.parse(value))


class SubscriptionActivated(Event):
    """A paid subscription started (from a Stripe webhook or an operator)."""

    routing_key: ClassVar[str] = "subscription.activated"

    subscription_id: UUID
    stripe_subscription_id: str | None = None
    mentee: Person
    mentor: Mentor = Field(
        description="The mentor, with their own time zone if known (`timezone`, added)."
    )
    slot: Slot
    cycle_starts_at: AwareDatetime
    cycle_ends_at: AwareDatetime
    policy: SubscriptionPolicy | None = Field(
        default=None,
        description="The subscription's own absence policy (added); absent fields, or "
        "none at all, fall back to the service settings.",
    )


class SubscriptionRenewed(Event):
    """A new billing cycle opened."""

    routing_key: ClassVar[str] = "subscription.renewed"

    subscription_id: UUID
    cycle_starts_at: AwareDatetime
    cycle_ends_at: AwareDatetime


class SubscriptionEnded(Event):
    routing_key: ClassVar[str] = "subscription.ended"

    subscription_id: UUID
    ended_at: AwareDatetime


# --- bookings ----------------------------------------------------------------


BookingKind = Literal["slot", "makeup"]


class BookingsScheduled(Event):
    routing_key: ClassVar[str] = "bookings.scheduled"

    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    bookings: list[BookingRef]
    timezone: str | None = Field(
        default=None,
        description="The slot's IANA time zone (added), in which to show the sessions' times; "
        "null from a publisher that predates it.",
        examples=["America/Sao_Paulo"],
    )
    kind: BookingKind = Field(
        default="slot",
        description="slot: sessions of the weekly slot (a cycle, a reactivation); makeup: "
        "one make-up session a mentor booked for a session they missed (added)",
    )
    makeup_for: UUID | None = Field(
        default=None, description="for a make-up: the missed booking it makes up for (added)"
    )


class BookingsCancelled(Event):
    routing_key: ClassVar[str] = "bookings.cancelled"

    subscription_id: UUID
    booking_ids: list[UUID]
    reason: Literal["reprobation", "subscription_ended"]


class BookingCancelled(Event):
    """The mentee cancelled one booking ahead of its start (added). `status` says whether
    they gave enough notice (`CANCEL_NOTICE_HOURS`): in time is neutral to the absence
    streak, late counts as an absence. Not `bookings.cancelled`, whose reasons are
    booking's own."""

    routing_key: ClassVar[str] = "booking.cancelled"

    booking_id: UUID
    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    cancelled_at: AwareDatetime
    status: CancellationStatus


class BookingReminderDue(Event):
    """A session starts within one of the `REMINDER_HOURS_BEFORE` offsets and has not
    been reminded for it (added): found by the sweep tick, once per booking and offset.
    When several offsets fall due at one tick (a late booking, a late tick), only the
    nearest is announced; the others are recorded as passed."""

    routing_key: ClassVar[str] = "booking.reminder_due"

    booking_id: UUID
    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    hours_before: int = Field(ge=1, description="The offset that fell due.")
    due_at: AwareDatetime = Field(description="The `tick_at` of the sweep that found it.")


class BookingUnattended(Event):
    """The sweep found a past booking with no attendance recorded."""

    routing_key: ClassVar[str] = "booking.unattended"

    booking_id: UUID
    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    detected_at: AwareDatetime = Field(description="The `tick_at` of the sweep that found it.")


# --- attendance --------------------------------------------------------------


class SessionJoined(Event):
    routing_key: ClassVar[str] = "session.joined"

    booking_id: UUID
    mentee_id: UUID = Field(description="The booking's mentee (also when the mentor joined).")
    joined_at: AwareDatetime
    role: Literal["mentee", "mentor"] = Field(
        default="mentee",
        description="Who joined (added; optional): a mentor's join marks no attendance; "
        "with TRACK_MENTOR_JOINS, a session the mentor never joined is a mentor no-show.",
    )
    mentor_id: UUID | None = Field(
        default=None, description="The mentor who joined, when `role` is mentor (added)."
    )


CancellationStatus = Literal["cancelled_in_time", "cancelled_late"]
MarkStatus = Literal[
    "present", "late", "absent", "excused", "mentor_no_show", "cancelled_in_time", "cancelled_late"
]
# The statuses a mentor may give a session by hand; the cancellations are the mentee's.
MentorMarkStatus = Literal["present", "late", "absent", "excused", "mentor_no_show"]
MENTOR_MARK_STATUSES: tuple[MarkStatus, ...] = get_args(MentorMarkStatus)
REASON_MAX_LENGTH = 500
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_MAX_LENGTH),
    AfterValidator(_one_line("a reason must be one line, without control characters")),
]


def status_of(attended: bool) -> MarkStatus:
    """The status a mark of a producer older than statuses means."""
    return "present" if attended else "absent"


def contradiction(status: MarkStatus | None, attended: bool | None) -> str | None:
    """What is wrong with a mark given as a status and/or `attended`, if anything."""
    if status is None and attended is None:
        return 'give the mark: "status" (or "attended")'
    if status is not None and attended is not None and (status in ("present", "late")) != attended:
        return f'"attended": {str(attended).lower()} contradicts "status": "{status}"'
    return None


class AttendanceMarked(Event):
    routing_key: ClassVar[str] = "attendance.marked"

    booking_id: UUID
    subscription_id: UUID
    attended: bool = Field(
        description="Whether the mentee was there: true for `present` and `late`, false "
        "for every other status (kept for consumers older than `status`)."
    )
    marked_by: Literal["system", "mentor"]
    marked_at: AwareDatetime
    status: MarkStatus | None = Field(
        default=None,
        description="The mark (added; optional): present, late, absent, excused, "
        "mentor_no_show, cancelled_in_time or cancelled_late. Absent from older producers: "
        "then `attended` true means present, false absent.",
    )
    reason: Reason | None = Field(
        default=None, description="Why the mentor marked it so (added; optional)."
    )

    @property
    def mark_status(self) -> MarkStatus:
        return self.status or status_of(self.attended)

    revision: int | None = Field(
        default=None,
        ge=1,
        description="How many times attendance has marked this booking, this mark included "
        "(added; optional). Attendance decides which mark stands; a consumer keeps the mark "
        "with the highest revision, whatever order the marks arrive in.",
    )


class AttendanceMarkCleared(Event):
    """A mentor took back their own mark of a session that has not started (added):
    the session is unmarked again, as if never marked."""

    routing_key: ClassVar[str] = "attendance.mark_cleared"

    booking_id: UUID
    subscription_id: UUID
    revision: int = Field(
        ge=1,
        description="As attendance.marked's: attendance's count of the changes to this "
        "booking's mark, this one included; a consumer applies the highest.",
    )


class SweepTick(Event):
    routing_key: ClassVar[str] = "sweep.tick"

    tick_at: AwareDatetime = Field(description="The sweep's notion of now.")


class MenteeWarned(Event):
    routing_key: ClassVar[str] = "mentee.warned"

    subscription_id: UUID
    booking_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    consecutive_absences: int = Field(ge=1)
    missed_starts_at: AwareDatetime | None = Field(
        default=None, description="Start of the missed session (added; optional)."
    )
    appeal_until: AwareDatetime | None = Field(
        default=None,
        description="Until when the mentee may appeal that absence (added; APPEAL_DAYS after "
        "it was marked); null when appeals are off.",
    )
    reprobate_after_absences: int | None = Field(
        default=None,
        ge=1,
        description="Consecutive absences that reprobate under the policy in force for the "
        "subscription (added; optional): the warning says how many more it takes.",
    )
    rule: PolicyRule | None = Field(
        default=None,
        description="The rule of the policy that warned (added; optional): consecutive "
        "absences (also when absent), absences within a number of days, or the attendance "
        "rate. `consecutive_absences` is the streak the missed session ended, whichever.",
    )
    rule_detail: str | None = Field(
        default=None,
        description="What the rule counted, in words, e.g. '2 absences within 30 days' (added).",
    )
    reprobate_after_absences_in_days: str | None = Field(
        default=None,
        description="N:D when absences within D days reprobate under the policy in force "
        "(added; optional).",
    )
    counted_starts_at: list[AwareDatetime] = Field(
        default_factory=list,
        description="The starts of the absences the rule counted, this one last (added; "
        "optional): under a rule of absences within D days, each counts until D days after "
        "its start.",
    )
    counted_for_days: int | None = Field(
        default=None,
        ge=1,
        description="Under a rule of absences within D days that warned, D (added; "
        "optional): each of `counted_starts_at` counts towards it until D days after its "
        "start. Null for the other rules.",
    )


class MenteeReprobated(Event):
    routing_key: ClassVar[str] = "mentee.reprobated"

    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    missed_booking_ids: list[UUID]
    reprobated_at: AwareDatetime
    missed_starts_at: list[AwareDatetime] = Field(
        default_factory=list, description="Starts of the missed sessions (added; optional)."
    )
    rule: PolicyRule | None = Field(
        default=None,
        description="The rule of the policy that reprobated (added; optional; absent: "
        "consecutive absences).",
    )
    rule_detail: str | None = Field(
        default=None, description="What the rule counted, in words (added; optional)."
    )


class MenteeReprobationPending(Event):
    """The absences reached the reprobation threshold while `REPROBATION_REVIEW_HOURS`
    > 0 (added): the reprobation waits for the mentor's review until `due_at`. The
    mentor may waive it, or correct a mark, which withdraws it if the streak falls
    below the threshold; the first sweep tick at or after `due_at` applies what is still
    pending (`mentee.reprobated`, with `reprobated_at` = `due_at`)."""

    routing_key: ClassVar[str] = "mentee.reprobation_pending"

    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    missed_booking_ids: list[UUID]
    missed_starts_at: list[AwareDatetime]
    reached_at: AwareDatetime = Field(description="When the absences were all known.")
    due_at: AwareDatetime
    rule: PolicyRule | None = Field(
        default=None,
        description="The rule of the policy that reprobated (added; optional; absent: "
        "consecutive absences).",
    )
    rule_detail: str | None = Field(
        default=None, description="What the rule counted, in words (added; optional)."
    )


class MenteeReprobationWaived(Event):
    """The mentor waived a pending reprobation (added): the absences before `waived_at`
    no longer count towards one."""

    routing_key: ClassVar[str] = "mentee.reprobation_waived"

    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    waived_by: UUID
    waived_at: AwareDatetime
    reason: str


class MenteeReprobationWithdrawn(Event):
    """A correction brought the streak below the threshold while the reprobation was
    pending (added): it will not be applied."""

    routing_key: ClassVar[str] = "mentee.reprobation_withdrawn"

    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    withdrawn_at: AwareDatetime


class MentorMissed(Event):
    """A session the mentor did not come to (added): marked `mentor_no_show`, by the
    sweep (TRACK_MENTOR_JOINS: the mentor never joined) or by the mentor. Never held
    against the mentee, who is sent an apology. Once per booking."""

    routing_key: ClassVar[str] = "mentor.missed"

    booking_id: UUID
    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    starts_at: AwareDatetime
    marked_by: Literal["system", "mentor"]


class MenteeReactivated(Event):
    routing_key: ClassVar[str] = "mentee.reactivated"

    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    reactivated_by: UUID = Field(
        description="The mentor who reactivated; for a lift by `REPROBATION_ENDS` (see "
        "`lifted_by`), the subscription's mentor."
    )
    reactivated_at: AwareDatetime
    lifted_by: Literal["mentor", "renewal", "expiry"] = Field(
        default="mentor",
        description="What lifted the reprobation (added): the mentor, a paid renewal "
        "(`at_renewal`) or the days passing (`after_days:N`).",
    )
    cycle_ends_at: AwareDatetime | None = Field(
        default=None,
        description="The end of the cycle the reactivation books up to, as attendance "
        "knows it (added; optional): a renewal may reach other services later.",
    )


class _AboutAnAppeal(Event):
    appeal_id: UUID
    booking_id: UUID
    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    starts_at: AwareDatetime = Field(description="The start of the contested session.")
    contested_status: MarkStatus = Field(description="The mark contested, e.g. absent.")


class AppealFiled(_AboutAnAppeal):
    """A mentee contests an absence (added): within APPEAL_DAYS of its mark, with a
    reason. One open appeal per booking; its mentor accepts it (`appeal.accepted`) or
    rejects it (`appeal.rejected`)."""

    routing_key: ClassVar[str] = "appeal.filed"

    reason: str = Field(description="The mentee's words.")
    filed_at: AwareDatetime


class _AppealDecided(_AboutAnAppeal):
    appeal_reason: str = Field(description="The mentee's words when appealing.")
    decided_by: UUID
    decided_at: AwareDatetime


class AppealAccepted(_AppealDecided):
    """The mentor accepted an appeal (added): the session is marked excused
    (`attendance.marked`) and the streak recounted: a pending reprobation it breaks is
    withdrawn, an applied one lifted (`mentee.reactivated`, `lifted_by: mentor`)."""

    routing_key: ClassVar[str] = "appeal.accepted"

    reason: str | None = Field(default=None, description="The mentor's words, if any.")
    reprobation_lifted: bool = Field(
        default=False, description="Whether accepting it lifted an applied reprobation."
    )


class MentorPolicyChanged(Event):
    """A mentor set their own absence policy (added): from `changed_at` on it is the
    default of every subscription of theirs, over the settings and under a
    subscription's own. Rules met before it stay judged by the policy then in force."""

    routing_key: ClassVar[str] = "mentor.policy_changed"

    mentor_id: UUID
    policy: SubscriptionPolicy = Field(description="the fields set; none: the settings again")
    previous: SubscriptionPolicy | None = Field(
        default=None, description="the mentor's own policy before it, if they had one"
    )
    changed_at: AwareDatetime
    subscription_ids: list[UUID] = Field(
        default_factory=list, description="the subscriptions it applies to (not ended)"
    )


MakeupStatus = Literal["owed", "withdrawn", "booked", "used", "expired"]
# What an expired make-up gives back (MAKEUP_EXPIRED_REFUND).
MakeupRefund = Literal["none", "stripe_credit"]


class _AboutAMissedSession(Event):
    """An event about the make-up owed for a session the mentor missed."""

    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    missed_booking_id: UUID
    missed_starts_at: AwareDatetime


class MakeupOwed(_AboutAMissedSession):
    """The mentor did not come to a session (its final mark is `mentor_no_show`): the
    subscription is owed one make-up session for it (added). Booking, which owns the
    bookings, records one credit per missed booking. Published again when a make-up
    booked for it is cancelled (a reprobation, the mentee's cancellation in time): it is
    owed again."""

    routing_key: ClassVar[str] = "makeup.owed"

    owed_at: AwareDatetime = Field(description="when the no-show was marked")


class MakeupWithdrawn(_AboutAMissedSession):
    """The session's mark was corrected (the mentor did come): the make-up owed for it is
    withdrawn (added). One already booked or used stays."""

    routing_key: ClassVar[str] = "makeup.withdrawn"

    withdrawn_at: AwareDatetime = Field(description="when the correcting mark was made")


class MakeupUsed(_AboutAMissedSession):
    """The make-up session booked for a missed one took place: it was marked (present,
    late, absent: a make-up missed is an absence like any other session), or the mentee
    cancelled it late (added)."""

    routing_key: ClassVar[str] = "makeup.used"

    booking_id: UUID = Field(description="the make-up session's booking")
    starts_at: AwareDatetime = Field(description="when the make-up session started")
    mark: MarkStatus = Field(description="the make-up session's mark, e.g. present")
    used_at: AwareDatetime


class MakeupExpired(_AboutAMissedSession):
    """The make-up owed for a missed session was not booked by `book_by`
    (MAKEUP_WITHIN_DAYS after the missed session's start): it expired (added)."""

    routing_key: ClassVar[str] = "makeup.expired"

    book_by: AwareDatetime = Field(description="the latest start the make-up could have had")
    expired_at: AwareDatetime = Field(description="the sweep's tick that found it expired")
    refund: MakeupRefund = Field(
        default="none",
        description="stripe_credit: one session's share of the subscription's price is "
        "credited to the mentee's Stripe balance (makeup.refunded follows)",
    )


class MakeupRefunded(_AboutAMissedSession):
    """An expired make-up became a credit on the mentee's Stripe customer balance (added,
    with MAKEUP_EXPIRED_REFUND=stripe_credit): one session's share of the price of the
    subscription's cycle."""

    routing_key: ClassVar[str] = "makeup.refunded"

    amount: int = Field(description="in the currency's smallest unit, e.g. cents", gt=0)
    currency: str = Field(examples=["eur"])
    stripe_balance_transaction_id: str = Field(examples=["cbtxn_1Nq..."])
    refunded_at: AwareDatetime


class AppealRejected(_AppealDecided):
    """The mentor rejected an appeal, with a reason (added): the mark stands."""

    routing_key: ClassVar[str] = "appeal.rejected"

    reason: str = Field(description="The mentor's words.")


MESSAGE_TYPES: tuple[type[Event], ...] = (
    SubscriptionActivated,
    SubscriptionRenewed,
    SubscriptionEnded,
    BookingsScheduled,
    BookingsCancelled,
    BookingCancelled,
    BookingReminderDue,
    SessionJoined,
    AttendanceMarked,
    AttendanceMarkCleared,
    SweepTick,
    BookingUnattended,
    MenteeWarned,
    MenteeReprobated,
    MenteeReprobationPending,
    MenteeReprobationWaived,
    MenteeReprobationWithdrawn,
    MenteeReactivated,
    MentorMissed,
    AppealFiled,
    AppealAccepted,
    AppealRejected,
    MentorPolicyChanged,
    MakeupOwed,
    MakeupUsed,
    MakeupExpired,
    MakeupRefunded,
    MakeupWithdrawn,
)

_BY_ROUTING_KEY = {t.routing_key: t for t in MESSAGE_TYPES}


def message_type_for(routing_key: str) -> type[Event]:
    """The model of a routing key; KeyError for an unknown one."""
    return _BY_ROUTING_KEY[routing_key]

"""What to send to whom, pure: recipients, message ids, dates in the reader's zone (the
slot's, or the mentor's own for the mentor), retries."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts import (
    AppealAccepted,
    AppealFiled,
    AppealRejected,
    BookingCancelled,
    BookingReminderDue,
    BookingsCancelled,
    BookingsScheduled,
    MakeupExpired,
    MakeupRefunded,
    MenteeReactivated,
    MenteeReprobated,
    MenteeReprobationPending,
    MenteeWarned,
    MentorMissed,
    Slot,
    SubscriptionActivated,
)
from contracts.policy import AbsencesInDays, PolicyRule, plural
from services.kit.backoff import backoff
from services.kit.durations import duration_words
from services.kit.money import amount_read
from services.kit.zones import place

Kind = Literal[
    "warned",
    "reprobated",
    "reactivated",
    "cancelled",
    "mentor_missed",
    "reminder",
    "removed",
    "pending",
    "appealed",
    "appeal_decided",
    "scheduled",
    "makeup",
    "makeup_expired",
    "makeup_refunded",
]
LifecycleEvent = (
    MenteeWarned
    | MenteeReprobated
    | MenteeReactivated
    | BookingCancelled
    | MentorMissed
    | BookingReminderDue
    | MenteeReprobationPending
    | AppealFiled
    | AppealAccepted
    | AppealRejected
    | MakeupExpired
    | MakeupRefunded
)
LIFECYCLE_EVENTS = (
    MenteeWarned,
    MenteeReprobated,
    MenteeReactivated,
    BookingCancelled,
    MentorMissed,
    BookingReminderDue,
    MenteeReprobationPending,
    AppealFiled,
    AppealAccepted,
    AppealRejected,
    MakeupExpired,
    MakeupRefunded,
)
# What a booking email is about; `removed` is about the invited sessions that booking
# cancelled (reprobation, subscription end), which the event alone does not carry.
# `scheduled`: the cycle's schedule a mentee is sent when their subscription starts.
# `makeup`: a make-up session booking booked (`makeups` picks them out).
EmailSubject = LifecycleEvent | BookingsCancelled | SubscriptionActivated | BookingsScheduled

Method = Literal["REQUEST", "CANCEL"]


@dataclass(frozen=True)
class Session:
    """One booked session as a calendar sees it."""

    booking_id: UUID
    starts_at: datetime
    ends_at: datetime


_MESSAGE_IDS = uuid.UUID("8e0c7d7b-1f5a-4d0e-b3c9-6a2d5f4e1b08")
MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class Contacts:
    mentee_name: str
    mentee_email: str
    mentor_name: str
    mentor_email: str
    slot: Slot
    cycle_ends_at: datetime
    # The mentor's own IANA zone, from their latest activation that gave one; None: unknown.
    mentor_timezone: str | None = None


@dataclass(frozen=True)
class Reading:
    """The zone a reader reads an email's times in, and how the email names it."""

    zone: ZoneInfo
    name: str


def reading(contacts: Contacts, to_mentor: bool) -> Reading:
    """The mentor reads times in their own zone when it is known, named by its place
    ("Sao Paulo time"); everyone else in the slot's, named as ever (its IANA name)."""
    if to_mentor and contacts.mentor_timezone:
        zone = ZoneInfo(contacts.mentor_timezone)
        return Reading(zone, f"{place(contacts.mentor_timezone)} time")
    return Reading(contacts.slot.zone, contacts.slot.timezone)


@dataclass(frozen=True)
class FeedSession:
    """A session as a calendar feed shows it: when, and whose (names, the slot's zone)."""

    session: Session
    contacts: Contacts


@dataclass(frozen=True)
class Email:
    """One email to one recipient about one event, as queued and as sent."""

    message_id: str
    event_id: UUID
    routing_key: str
    event_body: dict[str, Any]
    recipient: str
    cc: str | None
    subject: str
    text_body: str
    html_body: str
    # The iCalendar invitation (or its withdrawal) attached, for emails about bookings.
    calendar: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    to_mentor: bool
    cc: str | None = None


def recipients(kind: Kind, contacts: Contacts) -> list[Recipient]:
    """Warnings, reprobations, reminders and appeals (filed, accepted or rejected): mentee
    and mentor, each their own email. Reactivation: the mentee, mentor in Cc. A mentee's
    cancellation: the mentor, mentee in Cc. A mentor's no-show: the apology to the mentee,
    mentor in Cc. Sessions removed from the calendar: the mentee, mentor in Cc. A pending
    reprobation: the mentor alone, who reviews it. A new subscription's schedule: the
    mentee alone. A make-up booked, expired or refunded: the mentee, mentor in Cc."""
    mentee = Recipient(contacts.mentee_name, contacts.mentee_email, to_mentor=False)
    mentor = Recipient(contacts.mentor_name, contacts.mentor_email, to_mentor=True)
    if kind == "pending":  # the mentor's to review; the mentee hears of what is decided
        return [mentor]
    if kind == "scheduled":
        return [mentee]
    if kind == "cancelled":
        return [replace(mentor, cc=contacts.mentee_email)]
    if kind in (
        "reactivated",
        "mentor_missed",
        "removed",
        "makeup",
        "makeup_expired",
        "makeup_refunded",
    ):
        return [replace(mentee, cc=contacts.mentor_email)]
    return [mentee, mentor]


# The first class an event is an instance of gives its kind; none: a reactivation.
_KINDS: tuple[tuple[type[EmailSubject], Kind], ...] = (
    (SubscriptionActivated, "scheduled"),
    (BookingsScheduled, "makeup"),
    (BookingReminderDue, "reminder"),
    (BookingsCancelled, "removed"),
    (MenteeReprobationPending, "pending"),
    (MenteeWarned, "warned"),
    (MenteeReprobated, "reprobated"),
    (BookingCancelled, "cancelled"),
    (MentorMissed, "mentor_missed"),
    (AppealFiled, "appealed"),
    (AppealAccepted, "appeal_decided"),
    (AppealRejected, "appeal_decided"),
    (MakeupExpired, "makeup_expired"),
    (MakeupRefunded, "makeup_refunded"),
)


def kind_of(event: EmailSubject) -> Kind:
    return next((kind for cls, kind in _KINDS if isinstance(event, cls)), "reactivated")


def template_values(
    event: EmailSubject,
    contacts: Contacts,
    sessions: Sequence[Session] = (),
    feed_token: str | None = None,
    reader: Reading | None = None,
) -> dict[str, Any]:
    """What an email about `event` says besides the greeting, times as `reader` reads
    them (by default in the slot's zone) (`sessions`: those a `removed` email withdraws,
    or the missed one a make-up makes up for when it is known; `feed_token`: the calendar
    feed a schedule links). An expired make-up says whether money follows, not how much:
    its refund's own email does."""
    reads_in = reader or reading(contacts, to_mentor=False)

    def at(moment: datetime) -> str:
        return time_read(moment, reads_in)

    values: dict[str, Any] = {
        "mentee_name": contacts.mentee_name,
        "mentor_name": contacts.mentor_name,
    }
    if isinstance(event, SubscriptionActivated):
        # From the activation on: a subscription activated mid-cycle lists what is left.
        since = max(event.cycle_starts_at, event.occurred_at)
        values["sessions"] = [
            at(start) for start, _ in contacts.slot.occurrences(since, event.cycle_ends_at)
        ]
        values["feed_token"] = feed_token
    elif isinstance(event, BookingsScheduled):
        booked = booked_of(event)[0]
        values["session_at"] = at(booked.starts_at)
        values["duration"] = duration_words(booked.ends_at - booked.starts_at)
        values["missed_on"] = date_read(sessions[0].starts_at, reads_in) if sessions else None
    elif isinstance(event, BookingsCancelled):
        values["sessions"] = [at(s.starts_at) for s in sessions]
        values["because"] = (
            "you were reprobated for missing too many sessions"
            if event.reason == "reprobation"
            else "the subscription ended"
        )
    elif isinstance(event, BookingReminderDue):
        values["session_at"] = at(event.starts_at)
        values["hours_before"] = event.hours_before
    elif isinstance(event, MenteeWarned):
        values["missed_at"] = (
            at(event.missed_starts_at) if event.missed_starts_at else "your last session"
        )
        values["appeal_until"] = at(event.appeal_until) if event.appeal_until else None
        values["subscription_id"] = str(event.subscription_id)
        values["absences_left"] = absences_left(event)
        values["counted"] = counted(event.rule, event.rule_detail)
        values["counted_until"] = counted_until(event, at)
        values["in_days"] = in_days_cancel(event.reprobate_after_absences_in_days)
    elif isinstance(event, MenteeReprobationPending):
        values["missed_list"] = "; ".join(at(t) for t in event.missed_starts_at)
        values["missed_count"] = len(event.missed_booking_ids)
        values["due_at"] = at(event.due_at)
        values["subscription_id"] = str(event.subscription_id)
        values["counted"] = counted(event.rule, event.rule_detail)
    elif isinstance(event, MenteeReprobated):
        missed = [at(t) for t in event.missed_starts_at]
        values["missed"] = missed
        values["missed_count"] = len(event.missed_booking_ids)
        values["missed_list"] = "; ".join(missed) if missed else "see your bookings"
        values["subscription_id"] = str(event.subscription_id)
        values["counted"] = counted(event.rule, event.rule_detail)
    elif isinstance(event, AppealFiled):
        values["session_at"] = at(event.starts_at)
        values["contested"] = event.contested_status.replace("_", " ")
        values["appeal_reason"] = event.reason
        values["filed_at"] = at(event.filed_at)
        values["subscription_id"] = str(event.subscription_id)
    elif isinstance(event, AppealAccepted | AppealRejected):
        # An accepted appeal that lifted a reprobation also sends the usual reactivation
        # email, which lists the sessions booked again: not repeated here.
        values["session_at"] = at(event.starts_at)
        values["appeal_reason"] = event.appeal_reason
        values["decision_reason"] = event.reason
        values["accepted"] = isinstance(event, AppealAccepted)
        values["reprobation_lifted"] = (
            isinstance(event, AppealAccepted) and event.reprobation_lifted
        )
        values["subscription_id"] = str(event.subscription_id)
    elif isinstance(event, MakeupExpired | MakeupRefunded):
        values["missed_at"] = at(event.missed_starts_at)
        values["missed_on"] = date_read(event.missed_starts_at, reads_in)
        if isinstance(event, MakeupExpired):
            values["book_by"] = at(event.book_by)
            values["refunded"] = event.refund == "stripe_credit"
        else:
            values["amount"] = amount_read(event.amount, event.currency)
            values["reference"] = event.stripe_balance_transaction_id
    elif isinstance(event, MentorMissed | BookingCancelled):
        values["session_at"] = at(event.starts_at)
        values["in_time"] = isinstance(event, BookingCancelled) and (
            event.status == "cancelled_in_time"
        )
    else:
        # Attendance says up to when it books: the renewal that lifted it may not have
        # reached these contacts yet.
        until = event.cycle_ends_at or contacts.cycle_ends_at
        values["sessions"] = [at(t) for t in booked_sessions(contacts, event.reactivated_at, until)]
        values["lifted_by"] = event.lifted_by
    return values


def invitation_of(
    event: EmailSubject, sessions: Sequence[Session] = ()
) -> tuple[Method, list[Session]] | None:
    """The calendar part an email about `event` carries: the invitation to the session a
    reminder is about or to a make-up booked, the withdrawal of a session the mentee
    cancelled or of the invited sessions booking cancelled; none for the others."""
    if isinstance(event, BookingReminderDue):
        return "REQUEST", [Session(event.booking_id, event.starts_at, event.ends_at)]
    if isinstance(event, BookingsScheduled):
        return "REQUEST", booked_of(event)
    if isinstance(event, BookingCancelled):
        return "CANCEL", [Session(event.booking_id, event.starts_at, event.ends_at)]
    if isinstance(event, BookingsCancelled):
        return "CANCEL", list(sessions)
    return None


def booked_of(msg: BookingsScheduled) -> list[Session]:
    return [Session(b.booking_id, b.starts_at, b.ends_at) for b in msg.bookings]


def makeups(msgs: Sequence[BookingsScheduled]) -> list[BookingsScheduled]:
    """The bookings among `msgs` that are emailed: make-ups. A slot's sessions are not
    (the schedule and the reminders say them)."""
    return [m for m in msgs if m.kind == "makeup" and m.bookings]


def makeup_skipped(
    msg: BookingsScheduled, known: Container[UUID], cancelled: Container[UUID]
) -> str | None:
    """Why a make-up is not emailed, None if it is: its contacts are not known (a make-up
    follows a missed session, long after them: only a lost activation leaves them out),
    or its booking is already known cancelled (the invitation would add it to a calendar
    after its withdrawal)."""
    if msg.subscription_id not in known:
        return "contacts not known: no make-up email"
    if any(s.booking_id in cancelled for s in booked_of(msg)):
        return "make-up already cancelled: no email"
    return None


def missed_of(msg: BookingsScheduled, booked: Mapping[UUID, Session]) -> list[Session]:
    """The session a make-up makes up for, when it is among the `booked` known (none
    else: the email is worded without it)."""
    missed = booked.get(msg.makeup_for) if msg.makeup_for else None
    return [missed] if missed else []


def withdrawn_sessions(msg: BookingsCancelled, withdrawn: dict[UUID, Session]) -> list[Session]:
    """The invited sessions among those `msg` cancelled, in start order."""
    return sorted(
        (withdrawn[b] for b in msg.booking_ids if b in withdrawn),
        key=lambda s: (s.starts_at, s.booking_id),
    )


def email_key(event: EmailSubject) -> UUID:
    """What makes an email one: its event, except a schedule, which is its subscription's
    (the first activation's, as for the contacts: another activation message of the same
    subscription sends no second schedule), a make-up's, which is its booking's (a
    replay of the booking under another event id sends no second email), an expired
    make-up's, its missed booking's (it expires once), and a refund's, its Stripe balance
    transaction's (one email per credit made, however often it is announced)."""
    if isinstance(event, SubscriptionActivated):
        return uuid.uuid5(_MESSAGE_IDS, f"schedule|{event.subscription_id}")
    if isinstance(event, BookingsScheduled):
        return uuid.uuid5(_MESSAGE_IDS, f"makeup|{booked_of(event)[0].booking_id}")
    if isinstance(event, MakeupExpired):
        return uuid.uuid5(_MESSAGE_IDS, f"makeup_expired|{event.missed_booking_id}")
    if isinstance(event, MakeupRefunded):
        return uuid.uuid5(_MESSAGE_IDS, f"makeup_refunded|{event.stripe_balance_transaction_id}")
    return event.event_id


def message_id(event_id: UUID, recipient: str) -> str:
    """Deterministic per (event, recipient): a re-sent email carries the same Message-ID,
    so a receiving server that saw it already can drop the copy."""
    return f"<{uuid.uuid5(_MESSAGE_IDS, f'{event_id}|{recipient.lower()}')}@mentorship-attendance>"


def time_read(moment: datetime, reader: Reading) -> str:
    """e.g. 'Monday 2 March 2026 at 18:00 (Europe/Lisbon)'."""
    local = moment.astimezone(reader.zone)
    return f"{date_read(moment, reader)} at {local:%H:%M} ({reader.name})"


def date_read(moment: datetime, reader: Reading) -> str:
    """e.g. 'Monday 2 March 2026': the day in the reader's zone."""
    local = moment.astimezone(reader.zone)
    return f"{local:%A} {local.day} {local:%B %Y}"


def booked_sessions(
    contacts: Contacts, reactivated_at: datetime, until: datetime | None = None
) -> list[datetime]:
    """The sessions a reactivation books (the contract's rule, as booking applies it),
    up to `until` (the cycle's end the contacts know, by default)."""
    ends_at = until or contacts.cycle_ends_at
    return [start for start, _ in contacts.slot.occurrences_after(reactivated_at, ends_at)]


def retry_delay_seconds(attempts: int, jitter: float) -> float:
    """Exponential backoff with jitter: 1-2 s, 2-4 s, 4-8 s … at most 10 minutes.

    `jitter` in [0, 1) spreads retries so a recovering server is not hit at once.
    """
    return backoff(attempts, base=1.0, cap=600.0, jitter=jitter)


def is_permanent(code: int | None) -> bool:
    """5xx SMTP replies are permanent; 4xx and connection trouble are worth retrying."""
    return code is not None and 500 <= code < 600


def absences_left(warning: MenteeWarned) -> str:
    """What it takes now to be reprobated, in words ("one more consecutive absence
    cancels"), by the policy the warning was given under; one more, as the default policy
    has it, for a warning that does not say."""
    reprobate_after = warning.reprobate_after_absences or warning.consecutive_absences + 1
    left = max(reprobate_after - warning.consecutive_absences, 1)
    if left == 1:
        return "one more consecutive absence cancels"
    words = {2: "two", 3: "three", 4: "four", 5: "five"}.get(left, str(left))
    return f"{words} more consecutive absences cancel"


@dataclass(frozen=True)
class Counted:
    """What a rule other than consecutive absences counted, as a sentence without its
    full stop: to the mentee, and to the mentor after the mentee's name."""

    to_mentee: str
    to_mentor: str


def counted(rule: PolicyRule | None, detail: str | None) -> Counted | None:
    """None for consecutive absences (or an event from before the rules), which the
    emails word as they always have."""
    if rule in (None, "consecutive") or not detail:
        return None
    if rule == "attendance_rate":  # "attended 2 of the last 4 sessions (50%, below 75%)"
        return Counted(f"You {detail}", detail)
    return Counted(f"You now have {detail}", f"now has {detail}")


@dataclass(frozen=True)
class CountedUntil:
    """The absences a rule of absences within D days counted, each as read with when it
    stops counting towards that rule (D days after its session); the rule and D in words
    ("2 absences within 14 days", "14 days")."""

    absences: list[tuple[str, str]]
    rule: str
    days: str


def counted_until(warning: MenteeWarned, at: Callable[[datetime], str]) -> CountedUntil | None:
    """None unless a rule of absences within days warned and says its D (the other rules
    word their emails as before)."""
    days, rule = warning.counted_for_days, warning.rule_detail
    if warning.rule != "absences_in_days" or days is None or not rule:
        return None
    window = timedelta(days=days)
    return CountedUntil(
        [(at(start), at(start + window)) for start in warning.counted_starts_at],
        rule,
        plural(days, "day"),
    )


@dataclass(frozen=True)
class InDaysCancel:
    """The rule of absences within days that reprobates, as a warning words it:
    "3 absences within 30 days cancel", and how old an absence is once it stops counting
    ("30 days")."""

    cancel: str
    days: str


def in_days_cancel(rule: str | None) -> InDaysCancel | None:
    """From a warning's `reprobate_after_absences_in_days` (`N:D`; None: the rule is off).
    How many more it takes is not known here: the event does not carry the count within
    that window, so the warning says the rule."""
    if rule is None:
        return None
    in_days = AbsencesInDays.parse(rule)
    verb = "cancels" if in_days.absences == 1 else "cancel"
    return InDaysCancel(f"{in_days.words()} {verb}", plural(in_days.days, "day"))

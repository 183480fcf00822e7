"""Booking's rules, pure (no SQL, no broker, no clock): which sessions a subscription
gets, when they are cancelled, which of attendance's marks a booking keeps, and the
events that say so."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from contracts import (
    AttendanceMarkCleared,
    AttendanceMarked,
    BookingCancelled,
    BookingRef,
    BookingReminderDue,
    BookingsCancelled,
    BookingsScheduled,
    BookingUnattended,
    Event,
    MarkStatus,
    MenteeReactivated,
    MenteeReprobated,
    Slot,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
)
from contracts.rpc import CancelBooking
from services.kit.ids import derived_id
from services.kit.refusals import Refusal

MarkedBy = Literal["system", "mentor", "mentee"]
SubscriptionStatus = Literal["active", "reprobated", "ended"]
BookingStatus = Literal["scheduled", "attended", "unattended", "cancelled"]
CancelReason = Literal["reprobation", "subscription_ended"]

_BOOKING_IDS = uuid.UUID("6f1c2a8e-3b0d-4c55-9a51-0d7f0b5e2a10")
_EVENTS = uuid.UUID("0b7f3c52-2d4e-4f8a-bb0e-91c3a7d6e412")


def _event_id(*parts: object) -> UUID:
    """Derived from the fact, so that a replay writes the same event."""
    return derived_id(_EVENTS, *parts)


@dataclass(frozen=True)
class Policy:
    """How long after a session ends the sweep waits before calling it unattended, how
    long before its start a mentee's cancellation is in time, how many hours before
    its start a session is reminded (none: no reminders), and how long a make-up owed
    may wait."""

    sweep_grace: timedelta = timedelta(minutes=15)
    cancel_notice: timedelta = timedelta(hours=24)
    reminder_hours: tuple[int, ...] = (24,)
    # How long after a missed session's start its make-up may start.
    makeup_within: timedelta = timedelta(days=14)


@dataclass(frozen=True)
class PlannedBooking:
    booking_id: UUID
    starts_at: datetime
    ends_at: datetime


def slot_occurrences(
    subscription_id: UUID,
    slot: Slot,
    starts_after_or_at: datetime,
    ends_before: datetime,
    *,
    generation: str = "",
) -> list[PlannedBooking]:
    """One booking per weekly slot occurrence in [starts_after_or_at, ends_before)."""
    return _planned(subscription_id, slot.occurrences(starts_after_or_at, ends_before), generation)


def occurrences_after(
    subscription_id: UUID, slot: Slot, after: datetime, ends_before: datetime, generation: str
) -> list[PlannedBooking]:
    """The occurrences strictly after `after` (reactivation regenerates these)."""
    return _planned(subscription_id, slot.occurrences_after(after, ends_before), generation)


def _planned(
    subscription_id: UUID, occurrences: Iterable[tuple[datetime, datetime]], generation: str
) -> list[PlannedBooking]:
    """Ids are derived from the subscription, the start and the generation that
    created them (a cycle or a reactivation), so that replaying a message
    produces the same ids and a regenerated session never reuses the id of
    the booking that was cancelled in its place."""
    return [
        PlannedBooking(
            booking_id=uuid.uuid5(
                _BOOKING_IDS, f"{subscription_id}|{start.isoformat()}|{generation}"
            ),
            starts_at=start,
            ends_at=end,
        )
        for start, end in occurrences
    ]


@dataclass(frozen=True)
class Cancellation:
    """Cancel every still-scheduled booking that starts strictly after `after`."""

    after: datetime
    reason: CancelReason


@dataclass(frozen=True)
class Change:
    """What one fact does to a subscription: its new state, the sessions to book and
    what to cancel.

    Which bookings are really inserted or cancelled is known only once the store's
    set-based statements have run (a slot that already has a live booking, or a
    replay, inserts nothing); `events` and `outcome` take what the store returned.
    """

    subscription: Subscription
    occurred_at: datetime
    # What happened, in words; `{booked}` and `{cancelled}` are filled by `outcome`.
    summary: str
    to_book: tuple[PlannedBooking, ...] = ()
    generation: str = ""
    cancel: Cancellation | None = None

    def events(self, booked: Sequence[PlannedBooking], cancelled: Sequence[UUID]) -> list[Event]:
        """bookings.scheduled for what was inserted, bookings.cancelled for what was
        cancelled; none for nothing. Their ids are functions of the fact."""
        events: list[Event] = []
        if booked:
            events.append(self._scheduled(booked))
        if cancelled and self.cancel is not None:
            events.append(self._cancelled(self.cancel, cancelled))
        return events

    def outcome(self, booked: int = 0, cancelled: int = 0) -> str:
        return self.summary.format(booked=booked, cancelled=cancelled)

    def _scheduled(self, booked: Sequence[PlannedBooking]) -> BookingsScheduled:
        event_id = _event_id("scheduled", self.subscription.subscription_id, self.generation)
        return scheduled(self.subscription, booked, event_id, self.occurred_at)

    def _cancelled(self, cancel: Cancellation, cancelled: Sequence[UUID]) -> BookingsCancelled:
        subscription_id = self.subscription.subscription_id
        return BookingsCancelled(
            event_id=_event_id(
                "cancelled", subscription_id, cancel.reason, cancel.after.isoformat()
            ),
            occurred_at=self.occurred_at,
            subscription_id=subscription_id,
            booking_ids=list(cancelled),
            reason=cancel.reason,
        )


def scheduled(
    subscription: Subscription,
    booked: Sequence[PlannedBooking],
    event_id: UUID,
    occurred_at: datetime,
    makeup_for: UUID | None = None,
) -> BookingsScheduled:
    """bookings.scheduled for the subscription's bookings `booked`: the weekly slot's, or
    the make-up for the missed booking `makeup_for`."""
    s = subscription
    return BookingsScheduled(
        event_id=event_id,
        occurred_at=occurred_at,
        subscription_id=s.subscription_id,
        mentee_id=s.mentee_id,
        mentor_id=s.mentor_id,
        bookings=[
            BookingRef(booking_id=b.booking_id, starts_at=b.starts_at, ends_at=b.ends_at)
            for b in booked
        ],
        timezone=s.slot.timezone,
        kind="slot" if makeup_for is None else "makeup",
        makeup_for=makeup_for,
    )


@dataclass(frozen=True)
class Subscription:
    """One subscription's booking lifecycle: its cycle, its weekly slot, and whether
    its mentee may be booked (active), may not until reactivated (reprobated), or
    never again (ended)."""

    subscription_id: UUID
    stripe_subscription_id: str | None
    mentee_id: UUID
    mentor_id: UUID
    slot: Slot
    cycle_starts_at: datetime
    cycle_ends_at: datetime
    status: SubscriptionStatus = "active"
    reprobated_at: datetime | None = None
    ended_at: datetime | None = None

    @classmethod
    def activate(cls, msg: SubscriptionActivated) -> Change:
        """A new subscription, booked for every slot occurrence of its cycle."""
        subscription = cls(
            subscription_id=msg.subscription_id,
            stripe_subscription_id=msg.stripe_subscription_id,
            mentee_id=msg.mentee.id,
            mentor_id=msg.mentor.id,
            slot=msg.slot,
            cycle_starts_at=msg.cycle_starts_at,
            cycle_ends_at=msg.cycle_ends_at,
        )
        return subscription._book_cycle(msg, "scheduled {booked} bookings")

    def renew(self, msg: SubscriptionRenewed) -> Change:
        """Open the new cycle; book it unless the mentee is reprobated. An ended
        subscription, or a cycle already covered (a late or repeated renewal), stays."""
        if self.status == "ended":
            return Change(self, msg.occurred_at, "subscription ended, renewal ignored")
        if msg.cycle_ends_at <= self.cycle_ends_at:
            return Change(self, msg.occurred_at, "cycle already covered")
        renewed = replace(
            self, cycle_starts_at=msg.cycle_starts_at, cycle_ends_at=msg.cycle_ends_at
        )
        if self.status == "reprobated":
            return Change(
                renewed,
                msg.occurred_at,
                "cycle extended; reprobated, so no bookings until reactivation",
            )
        return renewed._book_cycle(msg, "scheduled {booked} bookings for the new cycle")

    def end(self, msg: SubscriptionEnded) -> Change:
        """Ended for good: every booking after `ended_at` is cancelled, later renewals
        and reactivations book nothing."""
        return Change(
            replace(self, status="ended", ended_at=msg.ended_at),
            msg.occurred_at,
            "ended; cancelled {cancelled} bookings",
            cancel=Cancellation(msg.ended_at, "subscription_ended"),
        )

    def reprobate(self, msg: MenteeReprobated) -> Change:
        """Cancel every booking after `reprobated_at`. Only the bookings: the paid
        (Stripe) subscription is never cancelled or paused, payment continues."""
        reprobated = (
            self
            if self.status == "ended"
            else replace(self, status="reprobated", reprobated_at=msg.reprobated_at)
        )
        return Change(
            reprobated,
            msg.reprobated_at,
            "reprobated; cancelled {cancelled} bookings",
            cancel=Cancellation(msg.reprobated_at, "reprobation"),
        )

    def reactivate(self, msg: MenteeReactivated) -> Change:
        """Active again, booked for every slot occurrence after `reactivated_at` up to
        the cycle's end (new ids: the cancelled bookings stay cancelled)."""
        if self.status == "ended":
            return Change(self, msg.reactivated_at, "subscription ended, nothing to regenerate")
        generation = f"reactivation:{msg.event_id}"
        planned = occurrences_after(
            self.subscription_id, self.slot, msg.reactivated_at, self.cycle_ends_at, generation
        )
        return Change(
            replace(self, status="active", reprobated_at=None),
            msg.reactivated_at,
            "reactivated; scheduled {booked} bookings",
            tuple(planned),
            generation,
        )

    def _book_cycle(self, msg: SubscriptionActivated | SubscriptionRenewed, summary: str) -> Change:
        # The generation is the cycle's start as the message wrote it: booking and
        # event ids stay the same on every replay of the message.
        generation = f"cycle:{msg.cycle_starts_at.isoformat()}"
        planned = slot_occurrences(
            self.subscription_id,
            self.slot,
            msg.cycle_starts_at,
            msg.cycle_ends_at,
            generation=generation,
        )
        return Change(self, msg.occurred_at, summary, tuple(planned), generation)


@dataclass(frozen=True)
class MarkChange:
    """The booking after an attendance mark, and whether the mark was applied."""

    booking: Booking
    applied: bool
    outcome: str


@dataclass(frozen=True)
class Booking:
    """One booking's status and the attendance mark it holds.

    Which mark wins (a mentor's over the system's) is attendance's rule, not this
    one's: attendance numbers the marks it makes for a booking (`revision`), and a
    booking keeps the one with the highest revision, whatever order they arrive in.
    The absence the sweep records itself has no revision: any mark of attendance's
    replaces it.
    """

    booking_id: UUID
    status: BookingStatus
    attended: bool | None = None
    mark_status: MarkStatus | None = None
    marked_by: MarkedBy | None = None
    marked_at: datetime | None = None
    mark_revision: int | None = None
    # The missed booking this one makes up for (a make-up booking), else None.
    makeup_for: UUID | None = None

    def record(self, msg: AttendanceMarked | AttendanceMarkCleared) -> MarkChange:
        if self._holds_a_later_mark_than(msg):
            return MarkChange(
                self, False, f"kept mark revision {self.mark_revision} over {msg.revision}"
            )
        if isinstance(msg, AttendanceMarkCleared):
            cleared = replace(
                self,
                # Unmarked again: the sweep and the reminders see it as scheduled.
                status=self.status if self.status == "cancelled" else "scheduled",
                attended=None,
                mark_status=None,
                marked_by=None,
                marked_at=None,
                mark_revision=msg.revision,
            )
            return MarkChange(cleared, True, "mark cleared")
        marked = replace(
            self,
            # A cancelled booking stays cancelled; it still records the mark.
            status=self.status if self.status == "cancelled" else _status_of(msg.attended),
            attended=msg.attended,
            mark_status=msg.mark_status,
            marked_by=msg.marked_by,
            marked_at=msg.marked_at,
            mark_revision=msg.revision,
        )
        return MarkChange(marked, True, f"marked {msg.mark_status}")

    def _holds_a_later_mark_than(self, msg: AttendanceMarked | AttendanceMarkCleared) -> bool:
        # A mark without a revision comes from a producer older than revisions (or
        # was recorded from one): it cannot be ordered, so it is applied as it
        # arrives, as booking always did.
        if msg.revision is None or self.mark_revision is None:
            return False
        return self.mark_revision >= msg.revision


def _status_of(attended: bool) -> BookingStatus:
    return "attended" if attended else "unattended"


@dataclass(frozen=True)
class BookedSession:
    """A booking with whose it is and when it takes place: what every event about one
    booking (unattended, reminder due, cancelled by the mentee) carries."""

    booking_id: UUID
    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class SweptBooking(BookedSession):
    """A booking the sweep has just marked unattended."""


def sweep_due_before(tick_at: datetime, grace: timedelta) -> datetime:
    """A booking is due for the sweep when `ends_at + grace <= tick_at`."""
    return tick_at - grace


def unattended(swept: Iterable[SweptBooking], tick_at: datetime) -> list[BookingUnattended]:
    """booking.unattended for each swept booking, in the order given; a function of
    the tick, so a replayed tick writes the same events."""
    return [
        BookingUnattended(
            event_id=_event_id("unattended", b.booking_id),
            occurred_at=tick_at,
            booking_id=b.booking_id,
            subscription_id=b.subscription_id,
            mentee_id=b.mentee_id,
            mentor_id=b.mentor_id,
            starts_at=b.starts_at,
            ends_at=b.ends_at,
            detected_at=tick_at,
        )
        for b in swept
    ]


# --- reminders ----------------------------------------------------------------------


@dataclass(frozen=True)
class DueReminder(BookedSession):
    """A booking's offset that the sweep has just recorded as due (once per booking and
    offset: the store's unique key)."""

    hours_before: int


def reminders(due: Iterable[DueReminder], tick_at: datetime) -> list[BookingReminderDue]:
    """booking.reminder_due per booking, for the nearest of the offsets that fell due at
    this tick: a session booked two hours ahead, with reminders at 24 and 1 hours, gets
    one reminder now (the 24-hour one passes unsent with it) and the 1-hour one later.
    Ids are functions of the booking and offset, so a replayed tick writes the same."""
    nearest: dict[UUID, DueReminder] = {}
    for r in due:
        if r.booking_id not in nearest or r.hours_before < nearest[r.booking_id].hours_before:
            nearest[r.booking_id] = r
    return [
        BookingReminderDue(
            event_id=_event_id("reminder", r.booking_id, r.hours_before),
            occurred_at=tick_at,
            booking_id=r.booking_id,
            subscription_id=r.subscription_id,
            mentee_id=r.mentee_id,
            mentor_id=r.mentor_id,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            hours_before=r.hours_before,
            due_at=tick_at,
        )
        for r in sorted(nearest.values(), key=lambda r: (r.starts_at, r.booking_id))
    ]


# --- a mentee's cancellation ---------------------------------------------------------


@dataclass(frozen=True)
class CancellableBooking(BookedSession):
    """A booking a mentee asks to cancel, with its status."""

    status: BookingStatus


def cancel_by_mentee(
    booking: CancellableBooking, request: CancelBooking, policy: Policy
) -> BookingCancelled | Refusal:
    """Only the booking's mentee cancels it, and only before it starts: at least
    `cancel_notice` ahead it is cancelled in time, later it is cancelled late."""
    if booking.mentee_id != request.mentee_id:
        return Refusal("forbidden", "this booking is not yours")
    if booking.status == "cancelled":
        return Refusal("conflict", "the booking is already cancelled")
    if booking.status != "scheduled" or booking.starts_at <= request.requested_at:
        return Refusal("conflict", "the session has already started")
    in_time = booking.starts_at - request.requested_at >= policy.cancel_notice
    return BookingCancelled(
        event_id=request.request_id,
        occurred_at=request.requested_at,
        booking_id=booking.booking_id,
        subscription_id=booking.subscription_id,
        mentee_id=booking.mentee_id,
        mentor_id=booking.mentor_id,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        cancelled_at=request.requested_at,
        status="cancelled_in_time" if in_time else "cancelled_late",
    )

"""Make-up sessions owed for a mentor's no-show, pure: a booking whose mark is
`mentor_no_show` owes its subscription one make-up; a correction of the mark (the
mentor did come) withdraws it, unless it is already booked or used. The mentor books it
(`schedule`) within a few days of the missed session; its session marked, it is used.

The credit follows the booking's mark, which is the one with attendance's highest
revision whatever order the marks arrive in (`domain.Booking.record`): so the credit a
booking ends with does not depend on the arrival order either, and a mark applied again
changes nothing. One credit per missed booking: its id is the missed booking's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts import (
    BookingsScheduled,
    Event,
    MakeupExpired,
    MakeupOwed,
    MakeupRefund,
    MakeupRefunded,
    MakeupStatus,
    MakeupUsed,
    MakeupWithdrawn,
    MarkStatus,
)
from contracts.rpc import ScheduleMakeup
from services.booking.domain import (
    BookedSession,
    Booking,
    PlannedBooking,
    Subscription,
    scheduled,
)
from services.kit.ids import derived_id
from services.kit.refusals import Refusal

_MAKEUP_EVENTS = uuid.UUID("2a6f7c1e-5b3d-4e8f-9c0a-7d1e2f3a4b5c")


@dataclass(frozen=True)
class Makeup:
    """The make-up owed for one missed booking, and where it stands."""

    missed_booking_id: UUID
    subscription_id: UUID
    status: MakeupStatus
    owed_at: datetime
    changed_at: datetime
    # The make-up booked for it, while booked or once used.
    booking_id: UUID | None = None


def after_mark(
    session: BookedSession, booking: Booking, credit: Makeup | None
) -> tuple[Makeup | None, Event | None]:
    """The credit after `booking` took the mark it now holds (None: unchanged), and the
    event that says so. Owed while the mark is the mentor's no-show; withdrawn when it no
    longer is, if it was only owed; owed again if the no-show comes back."""
    at = booking.marked_at
    if booking.mark_status == "mentor_no_show" and at is not None:
        if credit is not None and credit.status != "withdrawn":
            return None, None
        owed = Makeup(session.booking_id, session.subscription_id, "owed", at, at)
        return owed, _owed(session, booking.mark_revision, at)
    if credit is None or credit.status != "owed":
        return None, None
    withdrawn_at = at or credit.changed_at
    withdrawn = replace(credit, status="withdrawn", changed_at=withdrawn_at)
    return withdrawn, _withdrawn(session, booking.mark_revision, withdrawn_at)


def _owed(session: BookedSession, revision: int | None, at: datetime) -> MakeupOwed:
    return MakeupOwed(
        # Per mark that owes it: the same mark applied again derives the same event.
        event_id=derived_id(_MAKEUP_EVENTS, "owed", session.booking_id, revision, at),
        occurred_at=at,
        subscription_id=session.subscription_id,
        mentee_id=session.mentee_id,
        mentor_id=session.mentor_id,
        missed_booking_id=session.booking_id,
        missed_starts_at=session.starts_at,
        owed_at=at,
    )


def _withdrawn(session: BookedSession, revision: int | None, at: datetime) -> MakeupWithdrawn:
    return MakeupWithdrawn(
        event_id=derived_id(_MAKEUP_EVENTS, "withdrawn", session.booking_id, revision, at),
        occurred_at=at,
        subscription_id=session.subscription_id,
        mentee_id=session.mentee_id,
        mentor_id=session.mentor_id,
        missed_booking_id=session.booking_id,
        missed_starts_at=session.starts_at,
        withdrawn_at=at,
    )


# --- booking the make-up -------------------------------------------------------------


@dataclass(frozen=True)
class Clash:
    """One of the mentor's live bookings that the make-up's time would overlap."""

    starts_at: datetime
    ends_at: datetime
    timezone: str


@dataclass(frozen=True)
class Scheduled:
    """The make-up booked: its booking, the credit now booked, and the event (None when
    the same request was already carried out)."""

    booking: PlannedBooking
    credit: Makeup
    event: BookingsScheduled | None


def book_by(missed: BookedSession, within: timedelta) -> datetime:
    """The latest start of the make-up for `missed`."""
    return missed.starts_at + within


def makeup_booking_id(request_id: UUID) -> UUID:
    """Derived from the mentor's request: the same request sent again books nothing more."""
    return derived_id(_MAKEUP_EVENTS, "booking", request_id)


def schedule(
    request: ScheduleMakeup,
    subscription: Subscription,
    missed: BookedSession,
    credit: Makeup | None,
    within: timedelta,
    clashes: Sequence[Clash],
) -> Scheduled | Refusal:
    """Book the make-up owed for `missed` at `request.starts_at`, for as long as the missed
    session lasted: only the subscription's mentor, only a credit that is owed, only while
    the mentee may be booked (a reprobated one may not), only ahead and by `book_by`, and
    only at a time none of the mentor's other sessions (`clashes`) overlaps."""
    booking_id = makeup_booking_id(request.request_id)
    # In UTC, as every booking's times: the mentor's offset says nothing about the session.
    starts_at = request.starts_at.astimezone(UTC)
    planned = PlannedBooking(booking_id, starts_at, starts_at + (missed.ends_at - missed.starts_at))
    if subscription.mentor_id != request.mentor_id:
        return Refusal("forbidden", "this mentee is not one of your subscribers")
    if credit is None:
        return Refusal("not_found", "no make-up is owed for this session")
    if credit.status == "booked" and credit.booking_id == booking_id:
        return Scheduled(planned, credit, None)  # this request, delivered again
    if credit.status != "owed":
        return Refusal("conflict", _NOT_OWED[credit.status])
    if subscription.status == "reprobated":
        return Refusal(
            "conflict", "the mentee is reprobated: reactivate them before booking a make-up"
        )
    refused = _refused_time(request, missed, within, clashes)
    if refused is not None:
        return refused
    booked = replace(
        credit, status="booked", booking_id=booking_id, changed_at=request.requested_at
    )
    event_id = derived_id(_MAKEUP_EVENTS, "scheduled", booking_id)
    event = scheduled(subscription, [planned], event_id, request.requested_at, missed.booking_id)
    return Scheduled(planned, booked, event)


_NOT_OWED: dict[MakeupStatus, str] = {
    "booked": "this make-up is already booked",
    "used": "this make-up has already taken place",
    "withdrawn": "no make-up is owed: the session's mark was corrected (you attended)",
    "expired": "this make-up expired without being booked",
}


def _refused_time(
    request: ScheduleMakeup, missed: BookedSession, within: timedelta, clashes: Sequence[Clash]
) -> Refusal | None:
    if request.starts_at <= request.requested_at:
        return Refusal("invalid", "a make-up must start in the future")
    latest = book_by(missed, within)
    if request.starts_at > latest:
        days = within.days
        return Refusal(
            "invalid",
            f"a make-up must start within {days} days of the missed session: "
            f"by {latest.isoformat(timespec='minutes')}",
        )
    if clashes:
        first = min(clashes, key=lambda c: c.starts_at)
        zone = ZoneInfo(first.timezone)
        starts, ends = first.starts_at.astimezone(zone), first.ends_at.astimezone(zone)
        return Refusal(
            "conflict",
            f"clashes with another of your sessions, {starts:%a %d %b %Y, %H:%M} to {ends:%H:%M} "
            f"({first.timezone})",
        )
    return None


def after_makeup_mark(
    missed: BookedSession, makeup: BookedSession, booking: Booking, credit: Makeup
) -> tuple[Makeup | None, Event | None]:
    """The credit booked as `makeup` after `booking` (that make-up's booking) took its
    mark (None: unchanged): used once its session is marked, whatever the mark (an
    absence counts as one, a mentor's no-show owes a make-up of its own); booked again,
    quietly, if the mark is cleared."""
    if booking.mark_status is not None and credit.status == "booked":
        at = booking.marked_at or credit.changed_at
        used = replace(credit, status="used", changed_at=at)
        return used, _used(missed, makeup, booking.mark_status, at)
    if booking.mark_status is None and credit.status == "used":
        return replace(credit, status="booked"), None
    return None, None


def after_cancellation(
    missed: BookedSession, makeup: BookedSession, credit: Makeup, at: datetime, *, late: bool
) -> tuple[Makeup | None, Event | None]:
    """The credit whose make-up booking was cancelled at `at` (None: unchanged): owed
    again, for the mentor to book another (a reprobation, a mentee's cancellation in
    time), or used when the mentee cancelled late (it counts against them)."""
    if credit.status != "booked":
        return None, None
    if late:
        used = replace(credit, status="used", changed_at=at)
        return used, _used(missed, makeup, "cancelled_late", at)
    again = replace(credit, status="owed", booking_id=None, changed_at=at)
    event = _owed(missed, None, at)
    # Per cancelled make-up: owed again after each one, once.
    event_id = derived_id(_MAKEUP_EVENTS, "owed again", missed.booking_id, makeup.booking_id)
    return again, event.model_copy(update={"event_id": event_id})


def _used(
    missed: BookedSession, makeup: BookedSession, mark: MarkStatus, at: datetime
) -> MakeupUsed:
    return MakeupUsed(
        event_id=derived_id(_MAKEUP_EVENTS, "used", missed.booking_id, makeup.booking_id),
        occurred_at=at,
        subscription_id=missed.subscription_id,
        mentee_id=missed.mentee_id,
        mentor_id=missed.mentor_id,
        missed_booking_id=missed.booking_id,
        missed_starts_at=missed.starts_at,
        booking_id=makeup.booking_id,
        starts_at=makeup.starts_at,
        mark=mark,
        used_at=at,
    )


# --- expiry and refund ---------------------------------------------------------------


def expired(
    found: Iterable[BookedSession], tick_at: datetime, within: timedelta, refund: MakeupRefund
) -> list[MakeupExpired]:
    """makeup.expired for each missed session whose make-up the sweep found unbooked past
    its `book_by`; a function of the missed booking, so a replayed tick writes the same."""
    return [
        MakeupExpired(
            event_id=derived_id(_MAKEUP_EVENTS, "expired", s.booking_id),
            occurred_at=tick_at,
            subscription_id=s.subscription_id,
            mentee_id=s.mentee_id,
            mentor_id=s.mentor_id,
            missed_booking_id=s.booking_id,
            missed_starts_at=s.starts_at,
            book_by=book_by(s, within),
            expired_at=tick_at,
            refund=refund,
        )
        for s in found
    ]


def session_share(price_per_cycle: int, subscription: Subscription) -> int:
    """One session's share of the price of a cycle, in the currency's smallest unit: the
    price over the weekly slot's sessions in the subscription's cycle, rounded down (never
    more than was paid for it)."""
    s = subscription
    sessions = sum(1 for _ in s.slot.occurrences(s.cycle_starts_at, s.cycle_ends_at))
    return price_per_cycle // max(sessions, 1)


@dataclass(frozen=True)
class Credited:
    """What Stripe credited to the mentee's customer balance."""

    amount: int
    currency: str
    stripe_balance_transaction_id: str


def refunded(missed: BookedSession, credited: Credited, at: datetime) -> MakeupRefunded:
    return MakeupRefunded(
        event_id=derived_id(_MAKEUP_EVENTS, "refunded", missed.booking_id),
        occurred_at=at,
        subscription_id=missed.subscription_id,
        mentee_id=missed.mentee_id,
        mentor_id=missed.mentor_id,
        missed_booking_id=missed.booking_id,
        missed_starts_at=missed.starts_at,
        amount=credited.amount,
        currency=credited.currency,
        stripe_balance_transaction_id=credited.stripe_balance_transaction_id,
        refunded_at=at,
    )

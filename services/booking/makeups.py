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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts import (
    BookingsScheduled,
    Event,
    MakeupOwed,
    MakeupStatus,
    MakeupWithdrawn,
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
    planned = PlannedBooking(
        booking_id, request.starts_at, request.starts_at + (missed.ends_at - missed.starts_at)
    )
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
    "owed": "",
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


def after_makeup_mark(booking: Booking, credit: Makeup | None) -> Makeup | None:
    """The credit booked as `booking` after that booking's mark (None: unchanged): used
    once its session is marked, whatever the mark (an absence counts as one, a mentor's
    no-show owes a make-up of its own); booked again if the mark is cleared."""
    if credit is None or credit.booking_id != booking.booking_id:
        return None
    if booking.mark_status is not None and credit.status == "booked":
        return replace(credit, status="used", changed_at=booking.marked_at or credit.changed_at)
    if booking.mark_status is None and credit.status == "used":
        return replace(credit, status="booked")
    return None


def after_cancellation(credit: Makeup, at: datetime, *, counts: bool) -> Makeup | None:
    """The credit whose make-up booking was cancelled at `at` (None: unchanged): owed
    again, for the mentor to book another (a reprobation, a mentee's cancellation in
    time), or used when the cancellation counts against the mentee (a late one)."""
    if credit.status != "booked":
        return None
    if counts:
        return replace(credit, status="used", changed_at=at)
    return replace(credit, status="owed", booking_id=None, changed_at=at)

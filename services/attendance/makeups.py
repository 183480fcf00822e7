"""The make-ups owed for sessions the mentor missed, in the subscriber's history, pure.
Booking owns the make-ups and says each step (`makeup.*`, and `bookings.scheduled` of
kind makeup for the one booked): attendance writes one line per step, at the step's own
time, about the missed session (`booking_id`, so `session_starts_at`, are its).

A step's line is keyed by (missed booking, step, time): the same step announced again,
under whichever event id, is the same line, written once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

from contracts import (
    BookingsScheduled,
    MakeupExpired,
    MakeupOwed,
    MakeupRefunded,
    MakeupUsed,
    MakeupWithdrawn,
)
from contracts.rpc import HistoryMakeup, MakeupStepStatus
from services.attendance.domain import HistoryEntry
from services.kit.money import amount_read

MakeupEvent = MakeupOwed | MakeupWithdrawn | MakeupUsed | MakeupExpired | MakeupRefunded
# A step's line: (missed booking, step, time).
StepKey = tuple[UUID, str, datetime]


@dataclass(frozen=True)
class Step:
    """A make-up's line of the history, and what it says beyond its step."""

    entry: HistoryEntry
    makeup: HistoryMakeup

    @property
    def key(self) -> StepKey:
        assert self.entry.booking_id is not None and self.entry.new_status is not None
        return (self.entry.booking_id, self.entry.new_status, self.entry.at)


def steps(events: Sequence[MakeupEvent], earlier: Collection[StepKey]) -> list[Step]:
    """The line of each of booking's `makeup.*` events, in order; `earlier` holds the
    keys of the make-up lines already written for their missed sessions, so that one
    owed after an earlier owed says it is owed again (when they arrive in that order)."""
    seen = set(earlier)
    found = []
    for event in events:
        step = _step(event, seen)
        seen.add(step.key)
        found.append(step)
    return found


def booked(msg: BookingsScheduled) -> Step:
    """The mentor booked the make-up (`bookings.scheduled`, kind makeup: one booking)."""
    assert msg.kind == "makeup" and msg.makeup_for is not None
    [booking] = msg.bookings
    entry = HistoryEntry(
        msg.subscription_id,
        "makeup",
        msg.occurred_at,
        "mentor",
        msg.mentor_id,
        msg.makeup_for,
        new_status="booked",
        reason=f"make-up on {_utc(booking.starts_at)}",
    )
    return Step(entry, HistoryMakeup(booking_id=booking.booking_id, starts_at=booking.starts_at))


def _step(event: MakeupEvent, seen: Collection[StepKey]) -> Step:
    line = HistoryEntry(
        event.subscription_id, "makeup", event.occurred_at, "system", None, event.missed_booking_id
    )
    match event:
        case MakeupOwed():
            again = any(
                (b, s) == (event.missed_booking_id, "owed") and at < event.owed_at
                for b, s, at in seen
            )
            reason = "owed again" if again else None
            return Step(_as(line, "owed", event.owed_at, reason), HistoryMakeup(again=again))
        case MakeupWithdrawn():
            reason = "the no-show mark was corrected"
            return Step(_as(line, "withdrawn", event.withdrawn_at, reason), HistoryMakeup())
        case MakeupUsed():
            held = f"make-up of {_utc(event.starts_at)}: {event.mark.replace('_', ' ')}"
            detail = HistoryMakeup(
                booking_id=event.booking_id, starts_at=event.starts_at, mark=event.mark
            )
            return Step(_as(line, "used", event.used_at, held), detail)
        case MakeupExpired():
            reason = f"not booked by {_utc(event.book_by)}"
            if event.refund == "stripe_credit":
                reason += "; one session's share is credited to the mentee's Stripe balance"
            detail = HistoryMakeup(book_by=event.book_by, refund=event.refund)
            return Step(_as(line, "expired", event.expired_at, reason), detail)
        case MakeupRefunded():
            amount = amount_read(event.amount, event.currency)
            credited = f"{amount} credited to the mentee's Stripe balance"
            detail = HistoryMakeup(amount=event.amount, currency=event.currency)
            return Step(_as(line, "refunded", event.refunded_at, credited), detail)


def _as(
    line: HistoryEntry, step: MakeupStepStatus, at: datetime, reason: str | None
) -> HistoryEntry:
    return replace(line, new_status=step, at=at, reason=reason)


def _utc(moment: datetime) -> str:
    """A moment in the stored words: in UTC (the pages say it in their reader's zone)."""
    return f"{moment.astimezone(UTC):%a %d %b %Y, %H:%M} UTC"

"""Who owns each booking, as the gateway last heard it: what a join's checks need (the
booking's mentee and mentor, whether it is cancelled, when it starts and ends, and the
slot's zone to say so), without asking booking for every join.

Filled from `bookings.scheduled` and from booking's answers to the checks it still
makes (a booking scheduled before this gateway started); `bookings.cancelled` and
`booking.cancelled` mark bookings cancelled. Ownership never changes, so a booking
found here is its mentee's for good. Cancellation may reach the gateway a moment
after booking made it: a join then is accepted (202) and attendance, which holds the
booking cancelled, marks nothing, as it does for a join that races a cancellation
anyway. Bounded: beyond `capacity`, the bookings heard of first are forgotten, and
asked about again if joined.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from contracts import BookingsScheduled
from contracts.rpc import BookingFound


@dataclass(frozen=True, slots=True)
class _Owner:
    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    # None when booking's answer predates them: the join window is then not checked.
    starts_at: datetime | None
    ends_at: datetime | None
    timezone: str | None
    cancelled: bool = False


class BookingDirectory:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._owners: dict[UUID, _Owner] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._owners)

    def found(self, booking_id: UUID) -> BookingFound | None:
        """What booking would answer `FindBooking` with, if this booking is known."""
        owner = self._owners.get(booking_id)
        if owner is None:
            self.misses += 1
            return None
        self.hits += 1
        return BookingFound(
            booking_id=booking_id,
            subscription_id=owner.subscription_id,
            mentee_id=owner.mentee_id,
            mentor_id=owner.mentor_id,
            # Attended or not is attendance's to say; a join needs only "cancelled".
            status="cancelled" if owner.cancelled else "scheduled",
            starts_at=owner.starts_at,
            ends_at=owner.ends_at,
            timezone=owner.timezone,
        )

    def scheduled(self, msg: BookingsScheduled) -> None:
        for booking in msg.bookings:
            if booking.booking_id not in self._owners:  # a repeat leaves a cancellation
                owner = _Owner(
                    msg.subscription_id,
                    msg.mentee_id,
                    msg.mentor_id,
                    booking.starts_at,
                    booking.ends_at,
                    msg.timezone,
                )
                self._keep(booking.booking_id, owner)

    def answered(self, reply: BookingFound) -> None:
        """Keep what booking answered about a booking it knows."""
        if (
            reply.booking_id is None
            or reply.subscription_id is None
            or reply.mentee_id is None
            or reply.mentor_id is None
        ):
            return
        known = self._owners.get(reply.booking_id)
        owner = _Owner(
            reply.subscription_id,
            reply.mentee_id,
            reply.mentor_id,
            reply.starts_at,
            reply.ends_at,
            reply.timezone,
            cancelled=reply.status == "cancelled",
        )
        # A cancellation heard of stays: the answer may have been given before it.
        self._keep(reply.booking_id, owner if known is None or not known.cancelled else known)

    def cancelled(self, booking_ids: Iterable[UUID]) -> None:
        for booking_id in booking_ids:
            owner = self._owners.get(booking_id)
            if owner is not None and not owner.cancelled:
                self._owners[booking_id] = replace(owner, cancelled=True)

    def forget_all(self) -> None:
        """After a lost connection: cancellations may have been missed meanwhile."""
        self._owners.clear()

    def _keep(self, booking_id: UUID, owner: _Owner) -> None:
        if self.capacity <= 0:
            return
        if booking_id not in self._owners and len(self._owners) >= self.capacity:
            del self._owners[next(iter(self._owners))]  # the one heard of first
        self._owners[booking_id] = owner

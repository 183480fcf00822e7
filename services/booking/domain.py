"""Booking's rules, pure: which sessions a subscription gets, and whose mark wins."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from contracts import Slot

MarkedBy = Literal["system", "mentor"]

_BOOKING_IDS = uuid.UUID("6f1c2a8e-3b0d-4c55-9a51-0d7f0b5e2a10")


@dataclass(frozen=True)
class Policy:
    """How long after a session ends the sweep waits before calling it unattended."""

    sweep_grace: timedelta = timedelta(minutes=15)


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


def mark_overrides(
    new_by: MarkedBy, new_at: datetime, old_by: MarkedBy | None, old_at: datetime | None
) -> bool:
    """Whether a new attendance mark replaces the one a booking holds.

    A mentor's mark overrides the system's; the system never overrides a
    mentor. Between marks of the same kind, the later one wins.
    """
    if old_by is None or old_at is None:
        return True
    if new_by != old_by:
        return new_by == "mentor"
    return new_at >= old_at


def sweep_due_before(tick_at: datetime, grace: timedelta) -> datetime:
    """A booking is due for the sweep when `ends_at + grace <= tick_at`."""
    return tick_at - grace

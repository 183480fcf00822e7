"""Make-up sessions owed for a mentor's no-show, pure: a booking whose mark is
`mentor_no_show` owes its subscription one make-up; a correction of the mark (the
mentor did come) withdraws it, unless it is already booked or used.

The credit follows the booking's mark, which is the one with attendance's highest
revision whatever order the marks arrive in (`domain.Booking.record`): so the credit a
booking ends with does not depend on the arrival order either, and a mark applied again
changes nothing. One credit per missed booking: its id is the missed booking's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from uuid import UUID

from contracts import Event, MakeupOwed, MakeupWithdrawn
from services.booking.domain import BookedSession, Booking
from services.kit.ids import derived_id

MakeupStatus = Literal["owed", "withdrawn", "booked", "used", "expired"]

_MAKEUP_EVENTS = uuid.UUID("2a6f7c1e-5b3d-4e8f-9c0a-7d1e2f3a4b5c")


@dataclass(frozen=True)
class Makeup:
    """The make-up owed for one missed booking, and where it stands."""

    missed_booking_id: UUID
    subscription_id: UUID
    status: MakeupStatus
    owed_at: datetime
    changed_at: datetime


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

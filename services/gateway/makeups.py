"""Make-up sessions owed for sessions the mentor missed (booking owns them): asked of
booking for the mentor's subscriber page, the mentee's page and the API, booked by the
mentor, and said in words in the zone the reader reads the page in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import partial
from uuid import UUID

from fastapi import HTTPException, status
from pydantic import AwareDatetime, BaseModel, Field

from contracts.messages import known_zone
from contracts.rpc import (
    GetSubscriber,
    HistoryLine,
    ListMakeups,
    Makeup,
    MakeupScheduled,
    MakeupsReply,
    ScheduleMakeup,
    SubscriberReply,
)
from services.gateway.outcomes import status_words
from services.gateway.owners import Owners, OwnerUnavailable
from services.gateway.times import when, zone_of
from services.kit.durations import duration_words
from services.kit.money import amount_read

# What the counts call each status counted: a make-up used is a make-up session held.
COUNTED_WORDS = {"owed": "owed", "booked": "booked", "used": "held", "expired": "expired"}
# The datetime-local field's format (to the minute, as the page offers it).
FIELD_FORMAT = "%Y-%m-%dT%H:%M"


async def listed(owners: Owners, request: ListMakeups) -> list[Makeup] | None:
    """The make-ups booking lists, or None when booking does not answer: the rest of a
    page still shows, saying that these cannot be shown now."""
    try:
        return (await owners.ask(request, MakeupsReply)).makeups
    except OwnerUnavailable:
        return None


async def of_subscriber(
    owners: Owners, mentor_id: UUID, subscription_id: UUID, now: datetime
) -> list[Makeup]:
    """A mentor's subscriber's make-ups. Booking lists them for whoever asks, so the
    subscription is checked to be the mentor's by attendance, as for the subscriber
    itself (403, 404): both are asked at once, and the list is shown only if it is."""
    own = GetSubscriber(mentor_id=mentor_id, subscription_id=subscription_id, now=now)
    _, reply = await asyncio.gather(
        owners.ask(own, SubscriberReply),
        owners.ask(ListMakeups(subscription_id=subscription_id), MakeupsReply),
    )
    return reply.makeups


async def booked(owners: Owners, command: ScheduleMakeup) -> Makeup:
    """The make-up as booking booked it; its refusals as HTTP errors (`Owners.ask`)."""
    makeup = (await owners.ask(command, MakeupScheduled)).makeup
    if makeup is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "empty reply from booking")
    return makeup


def booked_sessions(makeups: list[Makeup] | None) -> dict[UUID, Makeup]:
    """Each make-up by the booking it booked: a sessions table labels those rows."""
    return {m.booking.booking_id: m for m in makeups or [] if m.booking is not None}


class MakeupCounts(BaseModel):
    """How many make-ups stand where; one withdrawn (the mentor did come after all) is
    owed to nobody and not counted."""

    owed: int = Field(default=0, description="owed, to be booked by their book_by")
    booked: int = Field(default=0, description="booked, their session still to come")
    used: int = Field(default=0, description="held: their session took place or was marked")
    expired: int = Field(default=0, description="owed but not booked by their book_by")
    first_book_by: AwareDatetime | None = Field(
        default=None, description="the earliest book_by of those owed; null when none is owed"
    )

    def __bool__(self) -> bool:
        return any((self.owed, self.booked, self.used, self.expired))


def counted(makeups: Iterable[Makeup]) -> MakeupCounts:
    """The make-ups counted by where they stand."""
    found = list(makeups)
    owed = [m.book_by for m in found if m.status == "owed"]
    return MakeupCounts(
        owed=len(owed),
        booked=sum(m.status == "booked" for m in found),
        used=sum(m.status == "used" for m in found),
        expired=sum(m.status == "expired" for m in found),
        first_book_by=min(owed, default=None),
    )


def counted_by_subscription(makeups: Iterable[Makeup]) -> dict[UUID, MakeupCounts]:
    """Each subscription's make-ups counted, for those that have any counted."""
    by: dict[UUID, list[Makeup]] = {}
    for m in makeups:
        by.setdefault(m.subscription_id, []).append(m)
    counts = {subscription: counted(found) for subscription, found in by.items()}
    return {subscription: c for subscription, c in counts.items() if c}


def counts_words(counts: MakeupCounts, zone: str | None = None, *, owed: str = "owed") -> str:
    """The counts in words, those that are not 0: "1 owed, 1 booked, 2 held"; the owed
    ones called `owed`, with the first one's book-by day when `zone` is given ("1 owed
    (book by Tue 15 Dec)")."""
    parts = []
    for status_, word in COUNTED_WORDS.items():
        number = getattr(counts, status_)
        if not number:
            continue
        said = f"{number} {owed if status_ == 'owed' else word}"
        if status_ == "owed" and zone is not None and counts.first_book_by is not None:
            by = f"{counts.first_book_by.astimezone(zone_of(zone)):%a %d %b}"
            said += f" (book by {by})" if number == 1 else f" (the first by {by})"
        parts.append(said)
    return ", ".join(parts)


def start_of(field: str, zone: str) -> datetime:
    """The start typed in a page's datetime-local field, read in the page's `zone`;
    ValueError when it is not a time (or the zone is not one)."""
    local = datetime.strptime(field.strip(), FIELD_FORMAT)
    return local.replace(tzinfo=zone_of(known_zone(zone)))


def typed_words(field: str) -> str:
    """What a datetime-local field holds, as the pages write times; "—" for no time."""
    try:
        typed = datetime.strptime(field.strip(), FIELD_FORMAT)
    except ValueError:
        return "—"
    return when(typed.replace(tzinfo=UTC), named=False)  # the wall time typed, as it is


def field_value(moment: datetime, zone: str) -> str:
    """A moment as a datetime-local field holds it, in `zone`."""
    return f"{moment.astimezone(zone_of(zone)):{FIELD_FORMAT}}"


def makeup_length(makeup: Makeup) -> str:
    """How long the make-up is, the missed session's length: 1 hour, 45 minutes."""
    return duration_words(makeup.missed_ends_at - makeup.missed_starts_at)


def makeup_words(makeup: Makeup, zone: str) -> str:
    """Where a make-up stands, for the mentor who owes it."""
    m = makeup
    at = when(m.booking.starts_at, zone, named=False) if m.booking else ""
    return {
        "owed": f"owed — book by {when(m.book_by, zone, named=False)}",
        "booked": f"booked for {at}" if at else "booked",
        "used": f"used (the make-up of {at})" if at else "used",
        "withdrawn": "withdrawn (you did attend)",
        "expired": f"expired (it was not booked by {when(m.book_by, zone, named=False)})",
    }[m.status]


def step_words(line: HistoryLine, zone: str) -> str:
    """A make-up's line of the history (kind makeup), for the mentor who owed it, its
    times in `zone`."""
    m, at = line.makeup, partial(when, zone=zone, named=False)
    missed = at(line.session_starts_at) if line.session_starts_at else "a session you missed"
    match line.new_status, m:
        case "owed", _:
            again = " again" if m is not None and m.again else ""
            return f"make-up owed{again} for the session of {missed}"
        case "withdrawn", _:
            return f"make-up withdrawn: you did attend the session of {missed}"
        case "booked", m if m is not None and m.starts_at is not None:
            return f"you booked the make-up for {at(m.starts_at)}"
        case "used", m if m is not None and m.mark == "cancelled_late":
            return "make-up used: the mentee cancelled it late"
        case "used", m if m is not None and m.mark is not None:
            return f"make-up held: {status_words(m.mark)}"
        case "expired", m if m is not None and m.book_by is not None:
            return f"make-up expired: not booked by {at(m.book_by)}"
        case "refunded", m if m is not None and m.amount and m.currency:
            return f"{amount_read(m.amount, m.currency)} credited to the mentee's balance"
    return f"make-up {line.new_status}"


def owed_words(makeup: Makeup, zone: str) -> str:
    """What a make-up means to the mentee, in their slot's `zone`; empty for one
    withdrawn (the mentor did come after all: nothing is owed)."""
    m = makeup
    missed = f"Your mentor missed the session of {when(m.missed_starts_at, zone, named=False)}"
    at = when(m.booking.starts_at, zone, named=False) if m.booking else ""
    by = when(m.book_by, zone, named=False)
    return {
        "owed": f"{missed}: a make-up session is owed, to be booked by {by}.",
        "booked": f"{missed}: the make-up session is booked for {at}."
        if at
        else f"{missed}: the make-up session is booked.",
        "used": f"{missed}: it was made up on {at}." if at else f"{missed}: it was made up.",
        "expired": f"{missed}: a make-up was owed, but it was not booked by {by}.",
        "withdrawn": "",
    }[m.status]

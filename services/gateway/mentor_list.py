"""The mentor's list in the order of what needs them (pure): open appeals first, then
reprobations waiting for review, reprobated mentees, warned ones, and the rest; what
each status means; and today's sessions with who has joined."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args
from uuid import UUID

from contracts.rpc import NearSession, SubscriberSummary
from services.gateway.times import zone_of

Need = Literal["appeal", "pending", "reprobated", "warned", "active", "ended"]
NEEDS: tuple[Need, ...] = get_args(Need)

# Each status in a word, and in a line: what it means and what the mentor can do.
MEANINGS: dict[Need, tuple[str, str]] = {
    "appeal": ("Appealing", "They contest an absence: accept or reject it on their page."),
    "pending": (
        "Reprobation pending",
        "They reached the reprobation threshold: their remaining sessions are cancelled "
        "when your review time ends, unless you waive it or correct a mark.",
    ),
    "reprobated": (
        "Reprobated",
        "Too many absences in a row: the rest of the cycle is cancelled while they keep "
        "paying. Reactivate them to book it again.",
    ),
    "warned": (
        "Warned",
        "They missed sessions in a row and were emailed a warning: more absences in a row "
        "reprobate them; attending a session clears it.",
    ),
    "active": ("Good standing", "Nothing to do."),
    "ended": ("Ended", "The subscription has ended."),
}


def need_of(s: SubscriberSummary) -> Need:
    """What a subscriber needs from the mentor first."""
    if s.open_appeals:
        return "appeal"
    if s.reprobation_pending_until is not None:
        return "pending"
    return s.status


def needs_first(subscribers: Iterable[SubscriberSummary]) -> list[SubscriberSummary]:
    """Who needs the mentor first, then by name."""
    return sorted(subscribers, key=lambda s: (NEEDS.index(need_of(s)), s.mentee_name.casefold()))


def counts(subscribers: Sequence[SubscriberSummary]) -> dict[Need, int]:
    """How many subscribers are in each need, every need named (0 included)."""
    found = [need_of(s) for s in subscribers]
    return {need: found.count(need) for need in NEEDS}


def only(subscribers: Sequence[SubscriberSummary], need: Need | None) -> list[SubscriberSummary]:
    return [s for s in subscribers if need is None or need_of(s) == need]


@dataclass(frozen=True)
class Today:
    """One of today's sessions, with its mentee and whether they have joined."""

    subscription_id: UUID
    mentee_name: str
    starts_at: datetime
    ends_at: datetime
    state: str


_STATES = {
    "present": "joined",
    "late": "joined late",
    "absent": "absent",
    "excused": "excused",
    "mentor_no_show": "you missed it",
    "cancelled_in_time": "cancelled",
    "cancelled_late": "cancelled late",
}


def todays(
    near: Iterable[NearSession],
    subscribers: Iterable[SubscriberSummary],
    now: datetime,
    zone: str,
) -> list[Today]:
    """The sessions starting on the reader's day (in `zone`), by start then name, each
    with whether its mentee has joined."""
    names = {s.subscription_id: s.mentee_name for s in subscribers}
    day = now.astimezone(zone_of(zone)).date()
    found = [
        Today(n.subscription_id, names[n.subscription_id], n.starts_at, n.ends_at, _state(n, now))
        for n in near
        if n.subscription_id in names and n.starts_at.astimezone(zone_of(zone)).date() == day
    ]
    return sorted(found, key=lambda t: (t.starts_at, t.mentee_name.casefold()))


def _state(n: NearSession, now: datetime) -> str:
    if n.status is not None:
        return _STATES.get(n.status, n.status.replace("_", " "))
    if now < n.starts_at:
        return "upcoming"
    if now < n.ends_at:
        return "now: not joined yet"
    return "not joined: the sweep marks it soon"

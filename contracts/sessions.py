"""Sessions as people count them: one per start, whatever bookings it has had.

A reprobation cancels the rest of the cycle's bookings and a reactivation books the
same starts again, so one session may have several bookings: the live one, and
cancelled ones before it. Attendance (the mentor's and the mentee's pages) and
booking (the mentee's API) show each session once by the same rule.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

B = TypeVar("B")


@dataclass(frozen=True)
class OneSession(Generic[B]):
    """The booking that stands for a session, and the other bookings it replaces."""

    booking: B
    replaces: list[B] = field(default_factory=list)


def one_per_session(
    bookings: Iterable[B], session_of: Callable[[B], Hashable], live: Callable[[B], bool]
) -> list[OneSession[B]]:
    """Each session once, in the order of its first booking: its live booking if it
    has one (else its last booking), with the session's other bookings behind it."""
    by_session: dict[Hashable, list[B]] = {}
    for booking in bookings:
        by_session.setdefault(session_of(booking), []).append(booking)
    sessions = []
    for found in by_session.values():
        standing = next((b for b in reversed(found) if live(b)), found[-1])
        sessions.append(OneSession(standing, [b for b in found if b is not standing]))
    return sessions

"""The absence policy, pure: the join window, the streak, and what a streak calls for.

The consecutive count follows session order, never message arrival order: it
is recomputed from every marked session of the subscription each time a mark
changes. Sessions not marked yet (past but not swept, or future) are skipped,
so an absence that arrives late slots into its place and the recount finds
the same streak as if it had arrived in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

MarkedBy = Literal["system", "mentor"]


def join_window_contains(
    starts_at: datetime, ends_at: datetime, joined_at: datetime, opens_before: timedelta
) -> bool:
    """A join marks presence when `joined_at` is in [starts_at - opens_before, ends_at)."""
    return starts_at - opens_before <= joined_at < ends_at


def mark_stands_against(new_by: MarkedBy, old_by: MarkedBy | None) -> bool:
    """Whether an existing mark keeps a new mark of `new_by` from replacing it.

    A mentor's mark replaces anything; the system never replaces a mentor's.
    """
    return old_by == "mentor" and new_by == "system"


@dataclass(frozen=True)
class Session:
    booking_id: UUID
    starts_at: datetime
    attended: bool | None  # None: not marked yet
    cancelled: bool = False


@dataclass(frozen=True)
class Streak:
    """The absences since the last attended session (or the last reactivation)."""

    anchor: datetime | None
    absences: tuple[Session, ...]

    @property
    def count(self) -> int:
        return len(self.absences)

    @property
    def key(self) -> str:
        """Identifies the streak, so each threshold is acted on once per streak."""
        return self.anchor.isoformat() if self.anchor else "start"


def current_streak(sessions: Iterable[Session], reactivated_at: datetime | None) -> Streak:
    counted = [s for s in sessions if not s.cancelled and s.attended is not None]
    attended = [s.starts_at for s in counted if s.attended]
    anchors = [*attended, *([reactivated_at] if reactivated_at else [])]
    anchor = max(anchors) if anchors else None
    absences = sorted(
        (s for s in counted if s.attended is False and (anchor is None or s.starts_at > anchor)),
        key=lambda s: s.starts_at,
    )
    return Streak(anchor=anchor, absences=tuple(absences))


@dataclass(frozen=True)
class Policy:
    warn_after: int = 1
    reprobate_after: int = 2
    join_opens_before: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Decision:
    warn: bool
    reprobate: bool


def decide(
    policy: Policy,
    streak: Streak,
    *,
    after_absence: bool,
    warned_for: str | None,
    is_reprobated: bool,
) -> Decision:
    """What the streak calls for. Only a new absence acts on thresholds: a mark
    that turns an absence into attendance shortens the streak (and can stop a
    pending reprobation) but never warns or reprobates by itself."""
    if not after_absence:
        return Decision(warn=False, reprobate=False)
    return Decision(
        warn=streak.count == policy.warn_after and warned_for != streak.key,
        reprobate=streak.count >= policy.reprobate_after and not is_reprobated,
    )


SubscriberStatus = Literal["active", "warned", "reprobated", "ended"]


def subscriber_status(
    policy: Policy, *, ended: bool, is_reprobated: bool, consecutive_absences: int
) -> SubscriberStatus:
    if is_reprobated:
        return "reprobated"
    if ended:
        return "ended"
    if consecutive_absences >= policy.warn_after:
        return "warned"
    return "active"

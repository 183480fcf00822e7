"""Attendance's rules, pure (no SQL, no broker, no clock): the join window, whose
mark stands, the absence streak and what it calls for, held by `Record`, one
subscription's attendance, which applies one fact at a time and says what follows.

The consecutive count follows session order, never message arrival order: it
is recomputed from every marked session of the subscription each time a mark
changes. Sessions not marked yet (past but not swept, or future) are skipped,
so an absence that arrives late slots into its place and the recount finds
the same streak as if it had arrived in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from contracts import (
    AttendanceMarked,
    BookingUnattended,
    Event,
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    SessionJoined,
    SubscriptionEnded,
    SubscriptionRenewed,
)
from contracts.rpc import MarkAttendance, ReactivateMentee
from services.kit.ids import derived_id

MarkedBy = Literal["system", "mentor"]
StreakKey = str

_EVENTS = uuid.UUID("5d1e0f7a-8c8b-4f7e-9a7c-3f2b1e6d4c90")


def _event_id(*parts: object) -> UUID:
    """Derived from the fact, so that a replay writes the same event."""
    return derived_id(_EVENTS, *parts)


@dataclass(frozen=True)
class Policy:
    warn_after: int = 1
    reprobate_after: int = 2
    join_opens_before: timedelta = timedelta(minutes=15)


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
class Mark:
    """An attendance mark: attended or absent, by whom, when."""

    attended: bool
    by: MarkedBy
    at: datetime


@dataclass(frozen=True)
class Session:
    """One booking of the subscription, as attendance knows it, with the mark it holds."""

    booking_id: UUID
    starts_at: datetime
    ends_at: datetime
    cancelled: bool = False
    attended: bool | None = None  # None: not marked yet
    marked_by: MarkedBy | None = None
    marked_at: datetime | None = None
    # How many marks attendance has applied to it: attendance.marked's `revision`.
    revision: int = 0

    def marked(self, mark: Mark) -> Session:
        return replace(
            self,
            attended=mark.attended,
            marked_by=mark.by,
            marked_at=mark.at,
            revision=self.revision + 1,
        )


@dataclass(frozen=True)
class Streak:
    """The absences since the last attended session (or the last reactivation)."""

    anchor: datetime | None
    absences: tuple[Session, ...]

    @property
    def count(self) -> int:
        return len(self.absences)

    @property
    def key(self) -> StreakKey:
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
class Decision:
    warn: bool
    reprobate: bool


def decide(
    policy: Policy,
    streak: Streak,
    *,
    after_absence: bool,
    warned_for: StreakKey | None,
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


RefusalCode = Literal["not_found", "forbidden", "conflict"]


@dataclass(frozen=True)
class Refusal:
    """A mentor's request that is not carried out, and why (the reply's error)."""

    code: RefusalCode
    detail: str


NOT_YOUR_SUBSCRIBER = "this mentee is not your subscriber"


def only_their_mentor(
    mentor_id: UUID, asked_by: UUID, detail: str = NOT_YOUR_SUBSCRIBER
) -> Refusal | None:
    """Only a subscription's own mentor reads it, marks its sessions or reactivates it."""
    return None if asked_by == mentor_id else Refusal("forbidden", detail)


@dataclass(frozen=True)
class Change:
    """What one fact does to a record: the record after it, the events it causes (in
    the order they are written), and what happened in words, for the log."""

    record: Record
    events: tuple[Event, ...] = ()
    outcome: str = ""


@dataclass(frozen=True)
class Record:
    """One subscription's attendance: its sessions with their marks, its absence
    streak's state, and whether its mentee is reprobated.

    Each method applies one fact and returns the `Change` it makes (a mentor's
    request may be refused instead); the record itself never changes.
    """

    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    cycle_starts_at: datetime
    cycle_ends_at: datetime
    ended: bool = False
    is_reprobated: bool = False
    # The `detected_at` (or the mentor's `marked_at`) of the absence that tipped the count.
    reprobated_at: datetime | None = None
    # The last reactivation: absences before it no longer count.
    reactivated_at: datetime | None = None
    # The streak a warning was sent for, so it is sent once.
    warned_for: StreakKey | None = None
    # Kept with every recount, for the mentor's reads.
    consecutive_absences: int = 0
    sessions: tuple[Session, ...] = ()  # by starts_at

    def session(self, booking_id: UUID) -> Session | None:
        return next((s for s in self.sessions if s.booking_id == booking_id), None)

    # --- the subscription's cycle ----------------------------------------------------

    def renew(self, msg: SubscriptionRenewed) -> Change:
        if msg.cycle_ends_at <= self.cycle_ends_at:
            return Change(self, outcome="cycle already covered")
        renewed = replace(
            self, cycle_starts_at=msg.cycle_starts_at, cycle_ends_at=msg.cycle_ends_at
        )
        return Change(renewed, outcome="cycle renewed")

    def end(self, msg: SubscriptionEnded) -> Change:
        return Change(replace(self, ended=True), outcome="subscription ended")

    # --- marks -----------------------------------------------------------------------

    def record_join(self, msg: SessionJoined, policy: Policy) -> Change:
        """A join inside the booking's window marks the mentee present, unless the
        booking already holds a mark that stands."""
        session = self.session(msg.booking_id)
        if session is None:
            return Change(self, outcome="not marked: unknown booking")
        if msg.mentee_id != self.mentee_id:
            return Change(self, outcome="not marked: the booking belongs to another mentee")
        if session.cancelled:
            return Change(self, outcome="not marked: the booking is cancelled")
        if not join_window_contains(
            session.starts_at, session.ends_at, msg.joined_at, policy.join_opens_before
        ):
            return Change(self, outcome="not marked: joined outside the session's window")
        if session.attended:
            return Change(self, outcome="already marked present")
        if mark_stands_against("system", session.marked_by):
            return Change(self, outcome="not marked: the mentor's mark stands")
        mark = Mark(True, "system", msg.joined_at)
        return self._announced(session, mark, policy, _event_id("joined", msg.event_id))

    def record_absence(self, msg: BookingUnattended, policy: Policy) -> Change:
        """The sweep found no attendance: unless the booking holds a mark, an absence.
        Booking reported it, so the absence is not announced back."""
        # The schedule copy may lag behind: the report carries all the session needs.
        session = self.session(msg.booking_id) or Session(
            msg.booking_id, msg.starts_at, msg.ends_at
        )
        if session.attended is not None:
            return Change(self, outcome="attendance already marked: the mark stands")
        if session.cancelled:
            return Change(self, outcome="booking cancelled: no absence")
        change = self._marked(session, Mark(False, "system", msg.detected_at), policy)
        return replace(change, outcome=f"absence recorded; {change.outcome}")

    def mark(self, request: MarkAttendance, policy: Policy) -> Change | Refusal:
        """A mentor's mark: overrides any mark and recounts the streak; an absence acts
        on the thresholds as the sweep's does."""
        refusal = only_their_mentor(
            self.mentor_id, request.mentor_id, "this booking is not one of your mentees'"
        )
        if refusal is not None:
            return refusal
        session = self.session(request.booking_id)
        if session is None:
            return Refusal("not_found", "no such booking")
        if session.cancelled:
            return Refusal("conflict", "the booking is cancelled")
        mark = Mark(request.attended, "mentor", request.marked_at)
        return self._announced(session, mark, policy, request.request_id)

    def _marked(self, session: Session, mark: Mark, policy: Policy) -> Change:
        """Hold the mark, recount the streak, and act on the thresholds."""
        record = self._holding(session.marked(mark))
        streak = current_streak(record.sessions, record.reactivated_at)
        decision = decide(
            policy,
            streak,
            after_absence=not mark.attended,
            warned_for=self.warned_for,
            is_reprobated=self.is_reprobated,
        )
        record = replace(record, consecutive_absences=streak.count)
        events: list[Event] = []
        if decision.warn:
            record = replace(record, warned_for=streak.key)
            events.append(self._warned(session, streak, mark.at))
        if decision.reprobate:
            record = replace(record, is_reprobated=True, reprobated_at=mark.at)
            events.append(self._reprobated(streak, mark.at))
        acted = [n for n, d in (("warned", decision.warn), ("reprobated", decision.reprobate)) if d]
        outcome = f"{streak.count} consecutive absences" + (
            f", {' and '.join(acted)}" if acted else ""
        )
        return Change(record, tuple(events), outcome)

    def _announced(self, session: Session, mark: Mark, policy: Policy, event_id: UUID) -> Change:
        """A mark booking does not know yet: attendance.marked, then what the mark causes."""
        change = self._marked(session, mark, policy)
        announcement = AttendanceMarked(
            event_id=event_id,
            occurred_at=mark.at,
            booking_id=session.booking_id,
            subscription_id=self.subscription_id,
            attended=mark.attended,
            marked_by=mark.by,
            marked_at=mark.at,
            revision=session.marked(mark).revision,
        )
        outcome = "marked present" if mark.attended else "marked absent"
        return Change(change.record, (announcement, *change.events), outcome)

    def _holding(self, session: Session) -> Record:
        """The record with `session` in place of the one with its booking id, or added
        in start order."""
        if self.session(session.booking_id) is None:
            sessions = sorted([*self.sessions, session], key=lambda s: s.starts_at)
        else:
            sessions = [session if s.booking_id == session.booking_id else s for s in self.sessions]
        return replace(self, sessions=tuple(sessions))

    def _warned(self, trigger: Session, streak: Streak, at: datetime) -> MenteeWarned:
        return MenteeWarned(
            event_id=_event_id("warned", self.subscription_id, streak.key),
            occurred_at=at,
            subscription_id=self.subscription_id,
            booking_id=trigger.booking_id,
            mentee_id=self.mentee_id,
            mentor_id=self.mentor_id,
            consecutive_absences=streak.count,
            missed_starts_at=trigger.starts_at,
        )

    def _reprobated(self, streak: Streak, at: datetime) -> MenteeReprobated:
        return MenteeReprobated(
            # One reprobation per reactivation period: a replay derives the same id.
            event_id=_event_id("reprobated", self.subscription_id, self.reactivated_at),
            occurred_at=at,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee_id,
            mentor_id=self.mentor_id,
            missed_booking_ids=[s.booking_id for s in streak.absences],
            missed_starts_at=[s.starts_at for s in streak.absences],
            reprobated_at=at,
        )

    # --- reactivation ----------------------------------------------------------------

    def reactivate(self, request: ReactivateMentee) -> Change | Refusal:
        """Lift a reprobation: the streak starts over, and booking regenerates the cycle."""
        refusal = only_their_mentor(self.mentor_id, request.mentor_id)
        if refusal is not None:
            return refusal
        if not self.is_reprobated:
            return Refusal("conflict", "the mentee is not reprobated")
        reactivated = replace(
            self,
            is_reprobated=False,
            reprobated_at=None,
            reactivated_at=request.requested_at,
            warned_for=None,
            consecutive_absences=0,
        )
        event = MenteeReactivated(
            event_id=request.request_id,
            occurred_at=request.requested_at,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee_id,
            mentor_id=self.mentor_id,
            reactivated_by=request.mentor_id,
            reactivated_at=request.requested_at,
        )
        return Change(reactivated, (event,), "reactivated")


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

"""Attendance's rules, pure (no SQL, no broker, no clock): the join window, what a
mark's status does to the absence streak, whose mark stands, and what the history of
marks calls for, held by `Record`, one subscription's attendance, which applies one
fact at a time and says what follows.

Consequences are a function of the session history, never of the order in which
facts arrive: after every mark the history is walked again in session order, and
only as far as it is settled (up to the first live session with no mark yet, which
a join, a mentor or the sweep will mark). So an absence that arrives early waits
for the sessions before it, and one that arrives late slots into its place: the
warnings and the reprobation are those that delivery in session order gives.

Appeals of absences, which build on the record, are in `appeals`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, get_args
from uuid import UUID

from contracts import (
    AttendanceMarkCleared,
    AttendanceMarked,
    BookingCancelled,
    BookingUnattended,
    Event,
    MarkStatus,
    MenteeReactivated,
    MenteeReprobated,
    MenteeReprobationPending,
    MenteeReprobationWaived,
    MenteeReprobationWithdrawn,
    MenteeWarned,
    MentorMissed,
    MentorPolicyChanged,
    SessionJoined,
    SubscriptionEnded,
    SubscriptionPolicy,
    SubscriptionRenewed,
)
from contracts.messages import MENTOR_MARK_STATUSES, CancellationStatus
from contracts.policy import (
    ON_REACTIVATION,
    AbsencesInDays,
    JoinWindow,
    PolicyRule,
    ReprobationEnds,
    plural,
    policy_parts,
)
from contracts.rpc import (
    AppealAbsence,
    ClearMark,
    DecideAppeal,
    HistoryKind,
    MarkAttendance,
    ReactivateMentee,
    SetMentorPolicy,
    WaiveReprobation,
)
from services.kit.ids import derived_id
from services.kit.refusals import Refusal

if TYPE_CHECKING:  # appeals build on the record: at run time, imported where used
    from services.attendance import appeals

MarkedBy = Literal["system", "mentor", "mentee"]
StreakKey = str
Effect = Literal["counts", "resets", "neutral"]

STATUSES: tuple[MarkStatus, ...] = get_args(MarkStatus)
ATTENDED: frozenset[MarkStatus] = frozenset({"present", "late"})
# A cancelled session takes part in the history only when cancelling was its mark.
CANCELLATIONS: frozenset[MarkStatus] = frozenset(get_args(CancellationStatus))

_EVENTS = uuid.UUID("5d1e0f7a-8c8b-4f7e-9a7c-3f2b1e6d4c90")


def derived_event_id(*parts: object) -> UUID:
    """Derived from the fact, so that a replay writes the same event."""
    return derived_id(_EVENTS, *parts)


@dataclass(frozen=True)
class Policy:
    warn_after: int = 1
    reprobate_after: int = 2
    join_opens_before: timedelta = timedelta(minutes=15)
    # A join later than this after the start marks `late`.
    late_after: timedelta = timedelta(minutes=10)
    late_counts_as_absence: bool = False
    # A session the mentor never joined is the mentor's no-show, not the mentee's absence.
    track_mentor_joins: bool = False
    # What lifts a reprobation besides the mentor.
    reprobation_ends: ReprobationEnds = ON_REACTIVATION
    # How long a reached reprobation waits for the mentor's review; none: applied at once.
    review_window: timedelta = timedelta()
    # How long after an absence is marked the mentee may appeal it.
    appeal_window: timedelta = timedelta(days=7)
    # Beside the consecutive thresholds, each off unless set: N absences within D days
    # warn or reprobate; an attendance rate below a percentage over the last
    # `rate_sessions` settled sessions warns.
    warn_after_in_days: AbsencesInDays | None = None
    reprobate_after_in_days: AbsencesInDays | None = None
    warn_below_rate: float | None = None
    rate_sessions: int = 10
    # When this policy came into force (a mentor's edit; None: always was), and those in
    # force before it, each until the next's `since`: a rule met while one was in force
    # is judged by it (`consequences`).
    since: datetime | None = None
    earlier: tuple[PolicyVersion, ...] = ()

    def under(self, own: SubscriptionPolicy | None) -> Policy:
        """This policy with what a subscription brought of its own in place."""
        if own is None:
            return self
        return replace(
            self,
            warn_after=own.warn_after_absences or self.warn_after,
            reprobate_after=own.reprobate_after_absences or self.reprobate_after,
            review_window=self.review_window
            if own.reprobation_review_hours is None
            else timedelta(hours=own.reprobation_review_hours),
            reprobation_ends=self.reprobation_ends
            if own.reprobation_ends is None
            else ReprobationEnds.parse(own.reprobation_ends),
            warn_after_in_days=AbsencesInDays.parse_optional(own.warn_after_absences_in_days)
            or self.warn_after_in_days,
            reprobate_after_in_days=AbsencesInDays.parse_optional(
                own.reprobate_after_absences_in_days
            )
            or self.reprobate_after_in_days,
            warn_below_rate=own.warn_below_attendance_rate or self.warn_below_rate,
            rate_sessions=own.attendance_rate_sessions or self.rate_sessions,
        )


@dataclass(frozen=True)
class PolicyVersion:
    """A policy in force from `since` (None: from the start) until the next version."""

    since: datetime | None
    policy: Policy


def as_fields(policy: Policy) -> SubscriptionPolicy:
    """The policy as the fields a mentor or a subscription sets (the settings, say)."""
    return SubscriptionPolicy(
        warn_after_absences=policy.warn_after,
        reprobate_after_absences=policy.reprobate_after,
        reprobation_review_hours=policy.review_window.total_seconds() / 3600,
        reprobation_ends=str(policy.reprobation_ends),
        warn_after_absences_in_days=str(policy.warn_after_in_days or "") or None,
        reprobate_after_absences_in_days=str(policy.reprobate_after_in_days or "") or None,
        warn_below_attendance_rate=policy.warn_below_rate,
        attendance_rate_sessions=policy.rate_sessions if policy.warn_below_rate else None,
    )


@dataclass(frozen=True)
class MentorPolicyEdit:
    """A mentor setting their own policy: from when, the line it adds to the history of
    each subscription it applies to, and its announcement."""

    since: datetime
    history: tuple[HistoryEntry, ...]
    event: MentorPolicyChanged

    @classmethod
    def of(
        cls,
        request: SetMentorPolicy,
        previous: tuple[datetime, SubscriptionPolicy] | None,
        subscription_ids: list[UUID],
    ) -> MentorPolicyEdit:
        # Versions stay in order even if one gateway's clock is behind another's.
        since = request.requested_at
        if previous is not None and since <= previous[0]:
            since = previous[0] + timedelta(milliseconds=1)
        words = f"from now on: {policy_words(request.policy)}"
        history = tuple(
            HistoryEntry(s, "policy", since, "mentor", request.mentor_id, reason=words)
            for s in subscription_ids
        )
        event = MentorPolicyChanged(
            event_id=request.request_id,
            occurred_at=since,
            mentor_id=request.mentor_id,
            policy=request.policy,
            previous=None if previous is None else previous[1],
            changed_at=since,
            subscription_ids=subscription_ids,
        )
        return cls(since, history, event)


def policy_words(own: SubscriptionPolicy) -> str:
    """What a mentor's (or a subscription's) policy sets, in words; the rest is the
    settings'."""
    return "; ".join(policy_parts(own)) or "the settings"


def reprobation_lifts_at(
    policy: Policy, reprobated_at: datetime | None, cycle_ends_at: datetime
) -> datetime | None:
    """When a reprobation applied at `reprobated_at` lifts on its own: `after_days`
    after it; `at_renewal`, at the renewal expected when the cycle ends; never by itself
    `on_reactivation` (nor when there is no reprobation)."""
    ends = policy.reprobation_ends
    if reprobated_at is None or ends.kind == "on_reactivation":
        return None
    if ends.kind == "after_days":
        return reprobated_at + timedelta(days=ends.days)
    return cycle_ends_at


def streak_effect(status: MarkStatus, policy: Policy) -> Effect:
    """What a session with this mark does to the absence streak.

    Being there resets it; missing it, or cancelling too late, counts; a session
    the mentee could not be blamed for (excused, the mentor did not come,
    cancelled with notice) is neutral: the streak goes on across it unchanged.
    """
    if status == "late":
        return "counts" if policy.late_counts_as_absence else "resets"
    if status == "present":
        return "resets"
    if status in ("absent", "cancelled_late"):
        return "counts"
    return "neutral"


def counting_statuses(policy: Policy) -> frozenset[MarkStatus]:
    """The statuses that count as absences under `policy`."""
    return frozenset(s for s in STATUSES if streak_effect(s, policy) == "counts")


def join_window_contains(
    starts_at: datetime, ends_at: datetime, joined_at: datetime, opens_before: timedelta
) -> bool:
    """A join marks presence when `joined_at` is in [starts_at - opens_before, ends_at)."""
    return JoinWindow.of(starts_at, ends_at, opens_before).contains(joined_at)


def join_status(starts_at: datetime, joined_at: datetime, policy: Policy) -> MarkStatus:
    """A join inside the window is `late` once `late_after` has passed since the start."""
    return "late" if joined_at > starts_at + policy.late_after else "present"


# The one mark a mentor may give a session before it starts: the others say what
# happened in it, which nobody knows yet.
MARKED_AHEAD: frozenset[MarkStatus] = frozenset({"excused"})


def too_early_to_mark(status: MarkStatus, starts_at: datetime, at: datetime) -> str | None:
    """Why a session that starts at `starts_at` cannot be marked `status` at `at`, if
    it cannot: present, late, absent and mentor no-show only once it has started."""
    if at >= starts_at or status in MARKED_AHEAD:
        return None
    return (
        f"the session has not started yet, so it cannot be marked {status.replace('_', ' ')} "
        "(only excused can be given ahead)"
    )


@dataclass(frozen=True)
class Mark:
    """An attendance mark: its status, by whom, when, and the mentor's reason."""

    status: MarkStatus
    by: MarkedBy
    at: datetime
    reason: str | None = None

    @property
    def attended(self) -> bool:
        return self.status in ATTENDED


def mark_stands_against(new: Mark, old: Mark | None) -> bool:
    """Whether the mark a session holds keeps `new` from replacing it.

    A mentor's mark stands against the system's, and against an older one of the
    mentor's. Of the system's marks, a join's stands against an absence report and
    against a later join (the first join says whether the mentee was late), so the
    mark a session ends with does not depend on the order the facts arrive in.
    """
    if old is None:
        return False
    if old.by == "mentor":
        return new.by == "system" or new.at < old.at
    if new.by == "mentor":
        return False
    if old.attended:
        return not new.attended or new.at >= old.at
    return not new.attended  # the same absence reported again


@dataclass(frozen=True)
class Session:
    """One booking of the subscription, as attendance knows it, with the mark it holds."""

    booking_id: UUID
    starts_at: datetime
    ends_at: datetime
    cancelled: bool = False
    status: MarkStatus | None = None  # None: not marked yet
    marked_by: MarkedBy | None = None
    marked_at: datetime | None = None
    reason: str | None = None
    # How many marks attendance has applied to it: attendance.marked's `revision`.
    revision: int = 0
    # The mentor's first join inside the window, if any.
    mentor_joined_at: datetime | None = None

    @property
    def attended(self) -> bool | None:
        """The mark as attended or not (`attendance.marked`'s `attended`); None: unmarked."""
        return None if self.status is None else self.status in ATTENDED

    @property
    def mark(self) -> Mark | None:
        if self.status is None or self.marked_by is None or self.marked_at is None:
            return None
        return Mark(self.status, self.marked_by, self.marked_at, self.reason)

    def cleared(self) -> Session:
        """Unmarked again, as if never marked; the revision still counts the change."""
        return replace(
            self,
            status=None,
            marked_by=None,
            marked_at=None,
            reason=None,
            revision=self.revision + 1,
        )

    def marked(self, mark: Mark) -> Session:
        return replace(
            self,
            status=mark.status,
            marked_by=mark.by,
            marked_at=mark.at,
            reason=mark.reason,
            revision=self.revision + 1,
        )


Settled = tuple[tuple[Session, Effect], ...]


def settled_history(
    sessions: Iterable[Session], reactivated_at: datetime | None, policy: Policy
) -> Settled:
    """The settled history, in session order, each session with what it does to the
    absence count.

    It starts after the last reactivation and is settled up to the first live session
    without a mark: what comes after it is kept, but decides nothing yet. Cancelled
    sessions are no part of it, unless cancelling was their mark.
    """
    settled: list[tuple[Session, Effect]] = []
    for s in sorted(sessions, key=lambda s: (s.starts_at, s.booking_id)):
        if reactivated_at is not None and s.starts_at <= reactivated_at:
            continue
        if s.cancelled and s.status not in CANCELLATIONS:
            continue
        if s.status is None:
            break
        settled.append((s, streak_effect(s.status, policy)))
    return tuple(settled)


@dataclass(frozen=True)
class Streak:
    """Absences in session order with nothing but neutral sessions between them, since
    the last reset (an attended session, or the last reactivation)."""

    anchor: datetime | None
    absences: tuple[Session, ...] = ()

    @property
    def count(self) -> int:
        return len(self.absences)

    @property
    def key(self) -> StreakKey:
        """Identifies the streak, so each threshold is acted on once per streak."""
        return self.anchor.isoformat() if self.anchor else "start"


def settled_streaks(
    sessions: Iterable[Session], reactivated_at: datetime | None, policy: Policy
) -> tuple[Streak, ...]:
    """Every streak of the settled history, in session order; the last is the one the
    history ends in (possibly empty)."""
    return _streaks(settled_history(sessions, reactivated_at, policy), reactivated_at)


def _streaks(settled: Settled, reactivated_at: datetime | None) -> tuple[Streak, ...]:
    streaks = [Streak(reactivated_at)]
    for s, effect in settled:
        if effect == "counts":
            streaks[-1] = replace(streaks[-1], absences=(*streaks[-1].absences, s))
        elif effect == "resets":
            streaks.append(Streak(s.starts_at))
    return tuple(streaks)


RULES: tuple[PolicyRule, ...] = ("consecutive", "absences_in_days", "attendance_rate")


@dataclass(frozen=True)
class Reached:
    """A rule of the policy met at one session of the settled history (`at`): the
    sessions it counted, in session order, the absences among them, and a key that
    identifies it, so that a warning is given once."""

    rule: PolicyRule
    key: StreakKey
    at: Session
    counted: tuple[Session, ...]
    missed: tuple[Session, ...]  # the absences among `counted`
    detail: str  # what the rule counted, in words
    # The absences in a row its last absence ended (set by `consequences`).
    in_a_row: int = 0
    # A rule of absences within D days: D, how long each absence it counted counts.
    days: int | None = None

    @property
    def last_missed(self) -> Session:
        """The absence it was reached with (the last one it counted)."""
        return self.missed[-1]

    @property
    def known_at(self) -> datetime:
        """When all it counted was marked: when the rule was met, whatever order the
        marks arrived in."""
        return max(s.marked_at for s in self.counted if s.marked_at is not None)

    @property
    def order(self) -> tuple[datetime, UUID, int]:
        return (self.at.starts_at, self.at.booking_id, RULES.index(self.rule))


def _consecutive(streaks: Iterable[Streak], after: int) -> list[Reached]:
    """Each streak that reached `after` absences in a row, at its `after`-th."""
    return [
        Reached(
            "consecutive",
            streak.key,
            streak.absences[after - 1],
            streak.absences[:after],
            streak.absences[:after],
            f"{plural(after, 'absence')} in a row",
        )
        for streak in streaks
        if streak.count >= after
    ]


def _in_days(settled: Settled, rule: AbsencesInDays | None) -> list[Reached]:
    """Each absence that brought the absences within `rule.days` (counting back from
    its own session, that day included) to `rule.absences`: the count rises by one
    absence at a time, so it is met there and only there; once the oldest drop out of
    the window the count falls without a word, and meeting it again is new."""
    if rule is None:
        return []
    absences = [s for s, effect in settled if effect == "counts"]
    reached = []
    for i, s in enumerate(absences):
        since = s.starts_at - timedelta(days=rule.days)
        inside = tuple(a for a in absences[: i + 1] if a.starts_at >= since)
        if len(inside) == rule.absences:
            reached.append(
                Reached(
                    "absences_in_days",
                    f"in_days {s.booking_id}",
                    s,
                    inside,
                    inside,
                    rule.words(),
                    days=rule.days,
                )
            )
    return reached


def _rate(settled: Settled, below: float | None, sessions: int) -> list[Reached]:
    """Each session at which the attendance over the last `sessions` sessions that
    count either way (attended or missed) fell below `below` percent, judged once that
    many are settled: a fall, not every session spent below it."""
    if below is None:
        return []
    judged = [(s, effect) for s, effect in settled if effect != "neutral"]
    reached, was_below = [], False
    for end in range(sessions, len(judged) + 1):
        window = judged[end - sessions : end]
        attended = sum(effect == "resets" for _, effect in window)
        rate = 100 * attended / sessions
        if rate < below and not was_below:
            at = window[-1][0]
            detail = (
                f"attended {attended} of the last {plural(sessions, 'session')} "
                f"({rate:.0f}%, below {below:g}%)"
            )
            reached.append(
                Reached(
                    "attendance_rate",
                    f"rate {at.booking_id}",
                    at,
                    tuple(s for s, _ in window),
                    tuple(s for s, effect in window if effect == "counts"),
                    detail,
                )
            )
        was_below = rate < below
    return reached


@dataclass(frozen=True)
class Consequences:
    """What a settled history calls for: a warning for each rule met at a session (one
    per session: the first rule in `RULES` order), and the first reprobation threshold
    met, if any (the history after it calls for nothing more); and the streak it ends
    in."""

    warn: tuple[Reached, ...] = ()
    reprobate: Reached | None = None
    consecutive_absences: int = 0


def consequences(
    sessions: Iterable[Session], reactivated_at: datetime | None, policy: Policy
) -> Consequences:
    """Under a policy with `earlier` versions (a mentor edited theirs), each rule met is
    judged by the version in force when it was met (`Reached.known_at`): an edit is never
    retroactive, and a fact recorded late is judged as if it had arrived in time."""
    sessions = tuple(sessions)
    reprobations: list[Reached] = []
    warnings: list[Reached] = []
    for version, since, until in _spans(policy):
        settled = settled_history(sessions, reactivated_at, version)
        streaks = _streaks(settled, reactivated_at)
        met = _met_between(since, until)
        reprobations += filter(
            met,
            [
                *_consecutive(streaks, version.reprobate_after),
                *_in_days(settled, version.reprobate_after_in_days),
            ],
        )
        warnings += filter(
            met,
            [
                *_consecutive(streaks, version.warn_after),
                *_in_days(settled, version.warn_after_in_days),
                *_rate(settled, version.warn_below_rate, version.rate_sessions),
            ],
        )
    settled = settled_history(sessions, reactivated_at, policy)
    streaks = _streaks(settled, reactivated_at)
    reprobations.sort(key=lambda r: r.order)
    reprobate = reprobations[0] if reprobations else None
    in_a_row = {s.booking_id: i + 1 for streak in streaks for i, s in enumerate(streak.absences)}
    warn: dict[UUID, Reached] = {}
    for reached in sorted(warnings, key=lambda r: r.order):
        if reprobate is None or reached.order[:2] <= reprobate.order[:2]:
            count = in_a_row.get(reached.last_missed.booking_id, 1)
            warn.setdefault(reached.at.booking_id, replace(reached, in_a_row=count))
    return Consequences(tuple(warn.values()), reprobate, streaks[-1].count)


def _spans(policy: Policy) -> list[tuple[Policy, datetime | None, datetime | None]]:
    """Each version of `policy` with when it came into force and when the next did
    (None: from the start, or still in force)."""
    versions = [*policy.earlier, PolicyVersion(policy.since, policy)]
    return [
        (v.policy, v.since, versions[i + 1].since if i + 1 < len(versions) else None)
        for i, v in enumerate(versions)
    ]


def _met_between(since: datetime | None, until: datetime | None) -> Callable[[Reached], bool]:
    def met(reached: Reached) -> bool:
        at = reached.known_at
        return (since is None or at >= since) and (until is None or at < until)

    return met


@dataclass(frozen=True)
class Counted:
    """How an absence counts against the mentee now: as one of the absences in a row the
    history ends in (until they attend a session), and, under a rule of absences within
    D days, until D days after its session (the widest such rule's D)."""

    in_a_row: bool
    until: datetime | None


def counted_absences(
    sessions: Iterable[Session], reactivated_at: datetime | None, policy: Policy
) -> dict[UUID, Counted]:
    """The settled absences that count under `policy`, by booking: every one of the
    streak the history ends in, and with a window rule every one (the reader compares
    `until` with their own clock: an absence counts with a later one whose session starts
    by then)."""
    settled = settled_history(sessions, reactivated_at, policy)
    streak = {s.booking_id for s in _streaks(settled, reactivated_at)[-1].absences}
    windows = [r.days for r in (policy.warn_after_in_days, policy.reprobate_after_in_days) if r]
    days = max(windows, default=None)
    return {
        s.booking_id: Counted(
            s.booking_id in streak, s.starts_at + timedelta(days=days) if days else None
        )
        for s, effect in settled
        if effect == "counts" and (s.booking_id in streak or days)
    }


NOT_YOUR_SUBSCRIBER = "this mentee is not your subscriber"


def only_their_mentor(
    mentor_id: UUID, asked_by: UUID, detail: str = NOT_YOUR_SUBSCRIBER
) -> Refusal | None:
    """Only a subscription's own mentor reads it, marks its sessions or reactivates it."""
    return None if asked_by == mentor_id else Refusal("forbidden", detail)


Actor = Literal["system", "mentor", "mentee"]


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a subscription's append-only history: a mark changed (from
    `old_status` to `new_status`), or a warning, reprobation or reactivation (the
    subscriber's status before and after), who did it, when, and why."""

    subscription_id: UUID
    kind: HistoryKind
    at: datetime
    actor: Actor
    actor_id: UUID | None = None
    booking_id: UUID | None = None
    old_status: str | None = None
    new_status: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Change:
    """What one fact does to a record: the record after it, the events it causes (in
    the order they are written), the lines it adds to the history, the appeals it files
    or decides, and what happened in words, for the log."""

    record: Record
    events: tuple[Event, ...] = ()
    outcome: str = ""
    history: tuple[HistoryEntry, ...] = ()
    appeals: tuple[appeals.Appeal, ...] = ()

    def then(self, after: Change) -> Change:
        """This change followed by `after`, a change of this one's record."""
        return Change(
            after.record,
            self.events + after.events,
            f"{self.outcome}; {after.outcome}" if self.outcome else after.outcome,
            self.history + after.history,
            self.appeals + after.appeals,
        )


@dataclass(frozen=True)
class Record:
    """One subscription's attendance: its sessions with their marks, its absence
    streak's state, and whether its mentee is reprobated.

    Each public method applies one fact and returns the `Change` it makes (a mentor's
    request may be refused instead); the record itself never changes. Appeals use three
    of its steps too: `apply_and_announce_mark`, `lift_reprobation`, `history_entry`.
    """

    subscription_id: UUID
    mentee_id: UUID
    mentor_id: UUID
    cycle_starts_at: datetime
    cycle_ends_at: datetime
    ended: bool = False
    is_reprobated: bool = False
    # When the absences that tipped the count were all known (`Reached.known_at`).
    reprobated_at: datetime | None = None
    # The last reactivation (or waiver): absences before it no longer count.
    reactivated_at: datetime | None = None
    # While a reached reprobation waits for the mentor's review: when it is applied.
    reprobation_due_at: datetime | None = None
    # While reprobated under after_days:N: when a tick lifts it.
    reprobation_lifts_at: datetime | None = None
    # The subscription's own policy, over the service's (`Policy.under`).
    policy: SubscriptionPolicy | None = None
    # The mentor's own policy as it stood from each of their edits, oldest first: over
    # the service's, under the subscription's own.
    mentor_policies: tuple[tuple[datetime, SubscriptionPolicy], ...] = ()
    # The warnings given (`Reached.key`: a streak, or the session another rule was met
    # at), so that each is given once.
    warned_streaks: frozenset[StreakKey] = field(default_factory=frozenset)
    # Kept with every recount, for the mentor's reads.
    consecutive_absences: int = 0
    sessions: tuple[Session, ...] = ()  # by starts_at

    def session(self, booking_id: UUID) -> Session | None:
        return next((s for s in self.sessions if s.booking_id == booking_id), None)

    def in_force(self, policy: Policy) -> Policy:
        """The service's policy with the mentor's own over it and this subscription's own
        over both; with the mentor's earlier versions, each until their next edit."""
        own = policy.under(self.policy)
        if not self.mentor_policies:
            return own
        versions = [PolicyVersion(None, own)] + [
            PolicyVersion(since, policy.under(mentors).under(self.policy))
            for since, mentors in self.mentor_policies
        ]
        latest = versions[-1]
        return replace(latest.policy, since=latest.since, earlier=tuple(versions[:-1]))

    # --- the subscription's cycle ----------------------------------------------------

    def renew(self, msg: SubscriptionRenewed, policy: Policy) -> Change:
        """A new cycle; with `at_renewal`, it lifts a reprobation applied before it
        began, from the cycle's start (a reprobation within the new cycle stands)."""
        policy = self.in_force(policy)
        if msg.cycle_ends_at <= self.cycle_ends_at:
            return Change(self, outcome="cycle already covered")
        renewed = replace(
            self, cycle_starts_at=msg.cycle_starts_at, cycle_ends_at=msg.cycle_ends_at
        )
        if (
            policy.reprobation_ends.kind == "at_renewal"
            and renewed.is_reprobated
            and not renewed.ended
            and renewed.reprobated_at is not None
            and renewed.reprobated_at < msg.cycle_starts_at
        ):
            lifted = renewed.lift_reprobation(
                msg.cycle_starts_at, "renewal", f"lifted by the renewal of {msg.cycle_starts_at}"
            )
            return replace(lifted, outcome="cycle renewed; reprobation lifted")
        return Change(renewed, outcome="cycle renewed")

    def end(self, msg: SubscriptionEnded) -> Change:
        return Change(replace(self, ended=True), outcome="subscription ended")

    # --- marks -----------------------------------------------------------------------

    def record_join(self, msg: SessionJoined, policy: Policy) -> Change:
        """A join inside the booking's window marks the mentee present, or late after
        `late_after`, unless the booking holds a mark that stands."""
        policy = self.in_force(policy)
        if msg.role == "mentor":
            return self.record_mentor_join(msg, policy)
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
        mark = Mark(join_status(session.starts_at, msg.joined_at, policy), "system", msg.joined_at)
        if mark_stands_against(mark, session.mark):
            if session.marked_by == "mentor":
                return Change(self, outcome="not marked: the mentor's mark stands")
            return Change(self, outcome=f"already marked {session.status}")
        event_id = derived_event_id("joined", msg.event_id)
        return self.apply_and_announce_mark(session, mark, policy, event_id)

    def record_mentor_join(self, msg: SessionJoined, policy: Policy) -> Change:
        """The mentor's first join inside the window is kept: with `track_mentor_joins`
        it is what tells an absent mentee from an absent mentor. A join that arrives
        after the sweep took the mentor for absent turns that into the mentee's absence."""
        session = self.session(msg.booking_id)
        if session is None:
            return Change(self, outcome="not recorded: unknown booking")
        if msg.mentor_id is not None and msg.mentor_id != self.mentor_id:
            return Change(self, outcome="not recorded: the booking is another mentor's")
        if not join_window_contains(
            session.starts_at, session.ends_at, msg.joined_at, policy.join_opens_before
        ):
            return Change(self, outcome="not recorded: joined outside the session's window")
        if session.mentor_joined_at is not None and session.mentor_joined_at <= msg.joined_at:
            return Change(self, outcome="the mentor's join is already recorded")
        joined = replace(session, mentor_joined_at=msg.joined_at)
        swept = session.mark
        if swept is not None and swept.status == "mentor_no_show" and swept.by == "system":
            mark = Mark("absent", "system", swept.at)
            event_id = derived_event_id("mentor joined", msg.event_id)
            return self.apply_and_announce_mark(joined, mark, policy, event_id)
        return Change(self._with_session(joined), outcome="the mentor's join recorded")

    def record_absence(self, msg: BookingUnattended, policy: Policy) -> Change:
        """The sweep found no attendance: unless the booking holds a mark, an absence, or
        with `track_mentor_joins`, if the mentor never joined, the mentor's no-show.
        Booking reported it, and records an absence itself, so an absence is not
        announced back; a no-show is."""
        policy = self.in_force(policy)
        # The schedule copy may lag behind: the report carries all the session needs.
        session = self.session(msg.booking_id) or Session(
            msg.booking_id, msg.starts_at, msg.ends_at
        )
        if session.status is not None:
            return Change(self, outcome="attendance already marked: the mark stands")
        if session.cancelled:
            return Change(self, outcome="booking cancelled: no absence")
        if policy.track_mentor_joins and session.mentor_joined_at is None:
            mark = Mark("mentor_no_show", "system", msg.detected_at)
            event_id = derived_event_id("no-show", msg.event_id)
            return self.apply_and_announce_mark(session, mark, policy, event_id)
        change = self.apply_mark(session, Mark("absent", "system", msg.detected_at), policy)
        return replace(change, outcome=f"absence recorded; {change.outcome}")

    def record_cancellation(self, msg: BookingCancelled, policy: Policy) -> Change:
        """The mentee cancelled ahead (booking decided in time or late): the session is
        cancelled and holds the cancellation as its mark, whatever it held before.
        Booking announced it, so it is not announced back."""
        policy = self.in_force(policy)
        session = self.session(msg.booking_id) or Session(
            msg.booking_id, msg.starts_at, msg.ends_at
        )
        if session.cancelled and session.status == msg.status:
            return Change(self, outcome="cancellation already recorded")
        mark = Mark(msg.status, "mentee", msg.cancelled_at)
        change = self.apply_mark(replace(session, cancelled=True), mark, policy)
        return replace(change, outcome=f"{msg.status}; {change.outcome}")

    def mark(self, request: MarkAttendance, policy: Policy) -> Change | Refusal:
        """A mentor's mark: stands against the system's and the mentor's older ones,
        and the history is recounted."""
        policy = self.in_force(policy)
        refusal = only_their_mentor(
            self.mentor_id, request.mentor_id, "this booking is not one of your mentees'"
        )
        if refusal is not None:
            return refusal
        status = request.mark_status
        if status not in MENTOR_MARK_STATUSES:
            return Refusal("invalid", f"a mentor may not mark a session {status}")
        session = self.session(request.booking_id)
        if session is None:
            return Refusal("not_found", "no such booking")
        if session.cancelled:
            return Refusal("conflict", "the booking is cancelled")
        early = too_early_to_mark(status, session.starts_at, request.marked_at)
        if early is not None:
            return Refusal("conflict", early)
        mark = Mark(status, "mentor", request.marked_at, request.reason)
        if mark_stands_against(mark, session.mark):
            return Change(self, outcome="not marked: a later mark of the mentor's stands")
        return self.apply_and_announce_mark(session, mark, policy, request.request_id)

    def clear(self, request: ClearMark, policy: Policy) -> Change | Refusal:
        """A mentor takes back their own mark of a session that has not started: it is
        unmarked again, and the history is recounted."""
        refusal = only_their_mentor(
            self.mentor_id, request.mentor_id, "this booking is not one of your mentees'"
        )
        if refusal is not None:
            return refusal
        session = self.session(request.booking_id)
        if session is None:
            return Refusal("not_found", "no such booking")
        if session.status is None:
            return Change(self, outcome="not marked already")
        if session.marked_by != "mentor":
            return Refusal("conflict", "only a mark of yours can be cleared")
        if request.requested_at >= session.starts_at:
            return Refusal(
                "conflict", "the session has started: give it the mark that is true instead"
            )
        cleared = session.cleared()
        entry = self.history_entry(
            "mark", request.requested_at, "mentor", session.booking_id, old_status=session.status
        )
        change = self._recount_with(cleared, entry, self.in_force(policy))
        announcement = AttendanceMarkCleared(
            event_id=request.request_id,
            occurred_at=request.requested_at,
            booking_id=session.booking_id,
            subscription_id=self.subscription_id,
            revision=cleared.revision,
        )
        return replace(change, events=(announcement, *change.events), outcome="mark cleared")

    # --- what a mark calls for -------------------------------------------------------

    def apply_and_announce_mark(
        self, session: Session, mark: Mark, policy: Policy, event_id: UUID
    ) -> Change:
        """A mark booking does not know yet: attendance.marked, then what the mark causes."""
        change = self.apply_mark(session, mark, policy)
        announcement = AttendanceMarked(
            event_id=event_id,
            occurred_at=mark.at,
            booking_id=session.booking_id,
            subscription_id=self.subscription_id,
            attended=mark.attended,
            status=mark.status,
            marked_by=mark.by,
            marked_at=mark.at,
            reason=mark.reason,
            revision=session.marked(mark).revision,
        )
        return replace(
            change, events=(announcement, *change.events), outcome=f"marked {mark.status}"
        )

    def apply_mark(self, session: Session, mark: Mark, policy: Policy) -> Change:
        """Hold the mark, then recount (unannounced: booking knows it already)."""
        entry = self.history_entry(
            "mark",
            mark.at,
            mark.by,
            session.booking_id,
            mark.reason,
            new_status=mark.status,
            old_status=session.status,
        )
        missed: tuple[Event, ...] = ()
        if mark.status == "mentor_no_show" and session.status != "mentor_no_show":
            missed = (self._mentor_missed(session, mark),)
        return self._recount_with(session.marked(mark), entry, policy, missed)

    def _recount_with(
        self, session: Session, entry: HistoryEntry, policy: Policy, also: tuple[Event, ...] = ()
    ) -> Change:
        """Hold `session` as it now is (`entry` says how it changed), walk the settled
        history again, and act on what it calls for and has not been acted on (`also`:
        events of the change itself, written after its warnings)."""
        record = self._with_session(session)
        called_for = consequences(record.sessions, record.reactivated_at, policy)
        record = replace(record, consecutive_absences=called_for.consecutive_absences)
        acts: list[Change] = []
        # A reprobated mentee has no sessions left to warn about.
        for reached in () if record.is_reprobated else called_for.warn:
            if reached.key not in record.warned_streaks:
                acts.append(record._warn(reached, policy))
                record = acts[-1].record
        acts.append(Change(record, also))
        reprobation = record._settle_reprobation(called_for.reprobate, policy, entry.at)
        if reprobation is not None:
            acts.append(reprobation)
        change = Change(record, history=(entry,))
        for act in acts:
            change = change.then(act)
        acted = " and ".join(act.outcome for act in acts if act.outcome)
        outcome = f"{change.record.consecutive_absences} consecutive absences"
        return replace(change, outcome=f"{outcome}, {acted}" if acted else outcome)

    def _settle_reprobation(
        self, reached: Reached | None, policy: Policy, at: datetime
    ) -> Change | None:
        """What the reprobation threshold met (None: none is) calls for: a new
        reprobation applied, or held for the mentor's review; a pending one withdrawn once
        a correction undid what met it (as of `at`). None: nothing."""
        if reached is not None and not self.is_reprobated and self.reprobation_due_at is None:
            reached_at = reached.known_at
            if policy.review_window:
                return self._hold_for_review(reached, policy, reached_at)
            return self._reprobate(reached, policy, reached_at)
        if reached is None and self.reprobation_due_at is not None:
            return self._withdraw_pending(at)
        return None

    def _with_session(self, session: Session) -> Record:
        """The record with `session` in place of the one with its booking id, or added
        in start order."""
        if self.session(session.booking_id) is None:
            sessions = sorted([*self.sessions, session], key=lambda s: s.starts_at)
        else:
            sessions = [session if s.booking_id == session.booking_id else s for s in self.sessions]
        return replace(self, sessions=tuple(sessions))

    def _warn(self, reached: Reached, policy: Policy) -> Change:
        """Warn about the absence a rule was met with, once (per streak, or per session
        for the other rules): in session order, so that a warning about an older absence
        names that session."""
        from services.attendance import appeals

        trigger = reached.last_missed
        known_at = reached.known_at
        # Appeals already filed do not matter here: the email says until when one may be.
        closes = appeals.appeal_closes_at(trigger, (), policy)
        appeal_until = closes if isinstance(closes, datetime) and closes > known_at else None
        warning = MenteeWarned(
            event_id=derived_event_id("warned", self.subscription_id, reached.key),
            occurred_at=known_at,
            subscription_id=self.subscription_id,
            booking_id=trigger.booking_id,
            mentee_id=self.mentee_id,
            mentor_id=self.mentor_id,
            consecutive_absences=reached.in_a_row,
            missed_starts_at=trigger.starts_at,
            appeal_until=appeal_until,
            reprobate_after_absences=policy.reprobate_after,
            rule=reached.rule,
            rule_detail=reached.detail,
            reprobate_after_absences_in_days=str(policy.reprobate_after_in_days)
            if policy.reprobate_after_in_days
            else None,
            counted_starts_at=[s.starts_at for s in reached.missed],
            counted_for_days=reached.days,
        )
        warned = replace(self, warned_streaks=self.warned_streaks | {reached.key})
        entry = self.history_entry(
            "warning", known_at, booking_id=trigger.booking_id, reason=reached.detail
        )
        return Change(warned, (warning,), "warned", (entry,))

    def _mentor_missed(self, session: Session, mark: Mark) -> MentorMissed:
        return MentorMissed(
            # One apology per booking, however often the mark changes.
            event_id=derived_event_id("mentor missed", session.booking_id),
            occurred_at=mark.at,
            booking_id=session.booking_id,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee_id,
            mentor_id=self.mentor_id,
            starts_at=session.starts_at,
            marked_by="mentor" if mark.by == "mentor" else "system",
        )

    def _reprobate(self, reached: Reached, policy: Policy, at: datetime) -> Change:
        """Reprobated as of `at`; under after_days:N, with the day it lifts fixed now."""
        missed = reached.missed
        reprobation = MenteeReprobated(
            # One reprobation per reactivation period: a replay derives the same id.
            event_id=derived_event_id("reprobated", self.subscription_id, self.reactivated_at),
            occurred_at=at,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee_id,
            mentor_id=self.mentor_id,
            missed_booking_ids=[s.booking_id for s in missed],
            missed_starts_at=[s.starts_at for s in missed],
            reprobated_at=at,
            rule=reached.rule,
            rule_detail=reached.detail,
        )
        lifts_at = (
            reprobation_lifts_at(policy, at, self.cycle_ends_at)
            if policy.reprobation_ends.kind == "after_days"
            else None
        )
        reprobated = replace(
            self,
            is_reprobated=True,
            reprobated_at=at,
            reprobation_due_at=None,
            reprobation_lifts_at=lifts_at,
        )
        entry = self.history_entry(
            "reprobation", at, new_status="reprobated", reason=reached.detail
        )
        return Change(reprobated, (reprobation,), "reprobated", (entry,))

    def _hold_for_review(self, reached: Reached, policy: Policy, reached_at: datetime) -> Change:
        """A reprobation reached at `reached_at` waits for the mentor's review: the tick
        applies it once the review window has passed (`apply_pending`)."""
        due = reached_at + policy.review_window
        missed = reached.missed
        pending = MenteeReprobationPending(
            # Per reaching: a threshold reached again after a withdrawal is new (the time
            # is in it twice, as it always was, so that a replay derives the same id).
            event_id=derived_event_id(
                "pending", self.subscription_id, self.reactivated_at, reached_at, reached_at
            ),
            occurred_at=reached_at,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee_id,
            mentor_id=self.mentor_id,
            missed_booking_ids=[s.booking_id for s in missed],
            missed_starts_at=[s.starts_at for s in missed],
            reached_at=reached_at,
            due_at=due,
            rule=reached.rule,
            rule_detail=reached.detail,
        )
        entry = self.history_entry(
            "pending", reached_at, new_status="pending", reason=reached.detail
        )
        held = replace(self, reprobation_due_at=due)
        return Change(held, (pending,), "reprobation pending", (entry,))

    def _withdraw_pending(self, at: datetime) -> Change:
        """A correction broke the streak a pending reprobation was reached with."""
        withdrawal = MenteeReprobationWithdrawn(
            event_id=derived_event_id(
                "withdrawn", self.subscription_id, self.reprobation_due_at, at
            ),
            occurred_at=at,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee_id,
            mentor_id=self.mentor_id,
            withdrawn_at=at,
        )
        entry = self.history_entry("withdrawal", at, new_status="active")
        withdrawn = replace(self, reprobation_due_at=None)
        return Change(withdrawn, (withdrawal,), "pending reprobation withdrawn", (entry,))

    # --- the review window -----------------------------------------------------------

    def apply_pending(self, tick_at: datetime, policy: Policy) -> Change:
        """The first tick at or after `due_at` applies the pending reprobation, as of
        `due_at` (not of the tick), so a replayed or late tick applies the same."""
        policy = self.in_force(policy)
        due = self.reprobation_due_at
        if due is None or due > tick_at or self.is_reprobated:
            return Change(self, outcome="no pending reprobation due")
        reached = consequences(self.sessions, self.reactivated_at, policy).reprobate
        if reached is None:  # a correction got there first; it withdrew it already
            return Change(replace(self, reprobation_due_at=None), outcome="nothing pending")
        return replace(self._reprobate(reached, policy, due), outcome="pending reprobation applied")

    def waive(self, request: WaiveReprobation) -> Change | Refusal:
        """The mentor waives the pending reprobation: the streak starts over from now,
        nothing is cancelled."""
        refusal = only_their_mentor(self.mentor_id, request.mentor_id)
        if refusal is not None:
            return refusal
        if self.is_reprobated:
            return Refusal("conflict", "the reprobation is already applied: reactivate instead")
        if self.reprobation_due_at is None:
            return Refusal("conflict", "no reprobation is pending")
        at = request.requested_at
        waived = replace(self, reprobation_due_at=None, reactivated_at=at, consecutive_absences=0)
        event = MenteeReprobationWaived(
            event_id=request.request_id,
            occurred_at=at,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee_id,
            mentor_id=self.mentor_id,
            waived_by=request.mentor_id,
            waived_at=at,
            reason=request.reason,
        )
        entry = self.history_entry(
            "waiver", at, "mentor", reason=request.reason, new_status="active", old_status="pending"
        )
        return Change(waived, (event,), "pending reprobation waived", (entry,))

    # --- appeals (services/attendance/appeals.py) ------------------------------------

    def appeal(
        self, request: AppealAbsence, earlier: Iterable[appeals.Appeal], policy: Policy
    ) -> Change | Refusal:
        """The mentee contests the absence a session is marked with (`appeals.file`)."""
        from services.attendance import appeals

        return appeals.file(self, request, earlier, self.in_force(policy))

    def decide_appeal(
        self, appeal: appeals.Appeal, request: DecideAppeal, policy: Policy
    ) -> Change | Refusal:
        """The mentor accepts or rejects an open appeal (`appeals.decide`)."""
        from services.attendance import appeals

        return appeals.decide(self, appeal, request, self.in_force(policy))

    # --- reactivation ----------------------------------------------------------------

    def reactivate(self, request: ReactivateMentee) -> Change | Refusal:
        """Lift a reprobation: the streak starts over, and booking regenerates the cycle."""
        refusal = only_their_mentor(self.mentor_id, request.mentor_id)
        if refusal is not None:
            return refusal
        if not self.is_reprobated:
            return Refusal("conflict", "the mentee is not reprobated")
        return self.lift_reprobation(request.requested_at, "mentor", event_id=request.request_id)

    def lift_expired(self, tick_at: datetime, policy: Policy) -> Change:
        """With `after_days:N`, the first tick N days after the reprobation lifts it, as
        of those N days (not of the tick), so a replayed or late tick lifts the same.
        The day fixed when it was applied holds, whatever the policy says since."""
        policy = self.in_force(policy)
        due = self.reprobation_lifts_at
        if due is None and policy.reprobation_ends.kind == "after_days":
            due = reprobation_lifts_at(policy, self.reprobated_at, self.cycle_ends_at)
        if not self.is_reprobated or self.ended or due is None or due > tick_at:
            return Change(self, outcome="no reprobation to lift")
        days = (due - self.reprobated_at).days if self.reprobated_at else 0
        change = self.lift_reprobation(due, "expiry", f"lifted {days} days after the reprobation")
        return replace(change, outcome=f"reprobation lifted after {days} days")

    def lift_reprobation(
        self,
        at: datetime,
        by: Literal["mentor", "renewal", "expiry"],
        reason: str | None = None,
        event_id: UUID | None = None,
    ) -> Change:
        """Active again from `at`: absences before it no longer count, and booking books
        the sessions after it until the cycle ends."""
        reactivated = replace(
            self,
            is_reprobated=False,
            reprobated_at=None,
            reprobation_lifts_at=None,
            reactivated_at=at,
            consecutive_absences=0,
        )
        event = MenteeReactivated(
            # A lift by policy: one per reprobation, whichever replay or tick applies it.
            event_id=event_id
            or derived_event_id("lifted", self.subscription_id, self.reprobated_at),
            occurred_at=at,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee_id,
            mentor_id=self.mentor_id,
            reactivated_by=self.mentor_id,
            reactivated_at=at,
            lifted_by=by,
            cycle_ends_at=self.cycle_ends_at,
        )
        actor: Actor = "mentor" if by == "mentor" else "system"
        entry = self.history_entry(
            "reactivation", at, actor, reason=reason, new_status="active", old_status="reprobated"
        )
        return Change(reactivated, (event,), "reactivated", (entry,))

    # --- history ---------------------------------------------------------------------

    def history_entry(
        self,
        kind: HistoryKind,
        at: datetime,
        actor: Actor = "system",
        booking_id: UUID | None = None,
        reason: str | None = None,
        new_status: str | None = None,
        old_status: str | None = None,
    ) -> HistoryEntry:
        """A line of history; a mentor's is theirs, the mentee's is the mentee's."""
        actor_id = {"mentor": self.mentor_id, "mentee": self.mentee_id}.get(actor)
        return HistoryEntry(
            self.subscription_id,
            kind,
            at,
            actor,
            actor_id,
            booking_id,
            old_status=old_status,
            new_status=new_status,
            reason=reason,
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

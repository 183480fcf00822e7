"""What a policy would have done: the recorded marks of a subscription replayed, in
session order, through the same rules that decide live (`Record`), under the policy in
force and under a proposed one. Pure: nothing is written or published.

The replay starts from the subscription's sessions with their final marks and nothing
decided: no warning given, no reprobation, no reactivation. So a reactivation that
happened live is not replayed (a reprobated mentee stays reprobated in the replay), and
a warning sent live for an absence corrected since is not in it. Review windows are left
out: a reprobation reached is reported when it was reached, not when a review would have
applied it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from contracts import MenteeReprobated, MenteeWarned, SubscriptionPolicy
from contracts.policy import PolicyRule
from services.attendance.domain import CANCELLATIONS, Policy, Record, Session


@dataclass(frozen=True)
class Warning:
    booking_id: UUID  # the missed session it names
    starts_at: datetime
    rule: PolicyRule
    detail: str


@dataclass(frozen=True)
class Reprobation:
    reprobated_at: datetime
    rule: PolicyRule
    detail: str
    missed: tuple[tuple[UUID, datetime], ...]  # (booking_id, starts_at) of each absence
    cancelled_sessions: int  # the sessions after it, up to the range's end


@dataclass(frozen=True)
class Outcome:
    warnings: tuple[Warning, ...] = ()
    reprobation: Reprobation | None = None


def proposing(policy: Policy, proposal: SubscriptionPolicy) -> Policy:
    """The service's policy with a proposed one in place of the settings it names (a
    subscription's own policy still wins over both, as it does live)."""
    return policy.under(proposal)


def compare(
    record: Record,
    policy: Policy,
    proposed: Policy,
    span: tuple[datetime, datetime],
    *,
    instead_of_mentors: bool,
) -> tuple[Outcome, Outcome]:
    """The outcome under the policy in force and under the proposal. A mentor's proposal
    takes the place of their own policy over all the history (`instead_of_mentors`); an
    admin's, of the settings, under each mentor's own as it stood."""
    as_proposed = replace(record, mentor_policies=()) if instead_of_mentors else record
    return replay(record, policy, *span), replay(as_proposed, proposed, *span)


def replay(
    record: Record, policy: Policy, starts_from: datetime, starts_before: datetime
) -> Outcome:
    """What the marks of the sessions starting in [starts_from, starts_before) call for
    under `policy` (with the subscription's own in place)."""
    policy = replace(record.in_force(policy), review_window=timedelta())
    sessions = tuple(s for s in record.sessions if starts_from <= s.starts_at < starts_before)
    blank = replace(
        record,
        is_reprobated=False,
        reprobated_at=None,
        reactivated_at=None,
        reprobation_due_at=None,
        reprobation_lifts_at=None,
        warned_streaks=frozenset(),
        consecutive_absences=0,
        sessions=tuple(s.cleared() for s in sessions),
    )
    warnings: list[Warning] = []
    reprobation: Reprobation | None = None
    for session in sorted(sessions, key=lambda s: (s.starts_at, s.booking_id)):
        mark = session.mark
        if mark is None:
            continue
        replayed = blank.session(session.booking_id)
        assert replayed is not None  # the blank record holds every session of the range
        change = blank.apply_mark(replayed, mark, policy)
        blank = change.record
        for event in change.events:
            if isinstance(event, MenteeWarned):
                warnings.append(_warning(event))
            elif isinstance(event, MenteeReprobated):
                reprobation = _reprobation(event, sessions)
    return Outcome(tuple(warnings), reprobation)


def _warning(event: MenteeWarned) -> Warning:
    return Warning(
        event.booking_id,
        event.missed_starts_at or event.occurred_at,
        event.rule or "consecutive",
        event.rule_detail or "",
    )


def _reprobation(event: MenteeReprobated, sessions: tuple[Session, ...]) -> Reprobation:
    """The reprobation, and how many sessions after it it cancels: a session booked
    again after a reactivation (two bookings) once, one the mentee cancelled never."""
    later = {
        s.starts_at
        for s in sessions
        if s.starts_at > event.reprobated_at and s.status not in CANCELLATIONS
    }
    return Reprobation(
        event.reprobated_at,
        event.rule or "consecutive",
        event.rule_detail or "",
        tuple(zip(event.missed_booking_ids, event.missed_starts_at, strict=True)),
        len(later),
    )

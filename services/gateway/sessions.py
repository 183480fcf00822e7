"""What a mentee may do with each of their sessions now, and their standing in words:
the rules the mentee's page offers by and a join is refused by. No I/O and no clock:
`now` and the settings come in as arguments.

The windows are the owning services' rules, read from the same settings:
`JOIN_OPENS_MINUTES_BEFORE` (attendance marks a join inside it), `CANCEL_NOTICE_HOURS`
(booking calls a cancellation with that much notice in time), and the appeal window,
which attendance computes for each mark (`appealable_until`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from contracts.policy import AbsencesInDays, JoinWindow
from contracts.rpc import BookingAttendance, SubscriberDetail, SubscriberSummary
from services.gateway.times import when
from services.kit.settings import Settings


@dataclass(frozen=True)
class Rules:
    join_opens_before: timedelta
    cancel_notice: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        return cls(
            join_opens_before=timedelta(minutes=settings.join_opens_minutes_before),
            cancel_notice=timedelta(hours=settings.cancel_notice_hours),
        )


def join_refusal(
    starts_at: datetime, ends_at: datetime, zone: str | None, now: datetime, rules: Rules
) -> str | None:
    """Why a join at `now` would mark nothing, in the slot's zone; None inside the window."""
    window = JoinWindow.of(starts_at, ends_at, rules.join_opens_before)
    if now < window.opens:
        return f"this session opens for joining at {when(window.opens, zone)}"
    if now >= window.closes:
        return f"this session ended at {when(window.closes, zone)}"
    return None


@dataclass(frozen=True)
class Offer:
    """What the mentee's page offers for one session at a moment."""

    join: bool
    join_opens_at: datetime | None  # while the window is still to open
    joins_until: datetime | None  # while it is open
    cancel: bool
    cancel_counts: bool  # cancelling now is late: it counts as an absence
    cancel_in_time_until: datetime
    appeal_until: datetime | None  # while the mark can still be appealed


def offer(session: BookingAttendance, now: datetime, rules: Rules) -> Offer:
    window = JoinWindow.of(session.starts_at, session.ends_at, rules.join_opens_before)
    live = not session.cancelled
    # A marked session keeps its mark whatever a join says (a mentor's mark stands).
    joinable = live and session.status is None
    in_time_until = session.starts_at - rules.cancel_notice
    appealable = session.appealable_until is not None and now <= session.appealable_until
    return Offer(
        join=joinable and window.contains(now),
        join_opens_at=window.opens if joinable and now < window.opens else None,
        joins_until=window.closes if joinable and window.contains(now) else None,
        cancel=live and session.status is None and now < session.starts_at,
        cancel_counts=now > in_time_until,
        cancel_in_time_until=in_time_until,
        appeal_until=session.appealable_until if appealable else None,
    )


MARK_WORDS = {
    "present": "present",
    "late": "late",
    "absent": "absent",
    "excused": "excused",
    "mentor_no_show": "your mentor did not come (not held against you)",
    "cancelled_in_time": "cancelled in time (does not count)",
    "cancelled_late": "cancelled late (counts as an absence)",
}


def mark_words(session: BookingAttendance, now: datetime) -> str:
    """A session's mark as its mentee reads it; an unmarked one by where it stands."""
    if session.status is not None:
        return MARK_WORDS.get(session.status, session.status.replace("_", " "))
    if session.cancelled:
        return "cancelled"
    if now < session.starts_at:
        return "upcoming"
    if now < session.ends_at:
        return "now"
    return "not marked yet"


def _absences(n: int) -> str:
    return "one absence" if n == 1 else f"{n} absences"


@dataclass(frozen=True)
class Counts:
    """An absence that counts against the mentee now, and until when, in words."""

    booking_id: UUID
    starts_at: datetime
    words: str  # "counts in a row until you attend a session, and towards …"


def widest_window(subscription: SubscriberSummary) -> AbsencesInDays | None:
    """The rule of absences within days in force with the most days (the reprobation's
    when both have as many): attendance counts an absence until that many days after
    its session."""
    s = subscription
    rules = [
        AbsencesInDays.parse(r)
        for r in (s.warn_after_absences_in_days, s.reprobate_after_absences_in_days)
        if r
    ]
    return max(reversed(rules), key=lambda r: r.days, default=None)


def counts_words(
    session: BookingAttendance, window: AbsencesInDays | None, now: datetime, zone: str
) -> str | None:
    """How an absence counts against the mentee at `now`; None once it no longer does
    (or never did)."""
    ways = []
    if session.counts_in_a_row:
        ways.append("in a row until you attend a session")
    until = session.counts_until
    if until is not None and now <= until:
        towards = f"towards {window.words()} " if window else ""
        ways.append(f"{towards}until {when(until, zone, named=False)}")
    return f"counts {', and '.join(ways)}" if ways else None


def counted_now(subscription: SubscriberDetail, now: datetime) -> tuple[Counts, ...]:
    """The mentee's absences that count at `now`, in session order."""
    window = widest_window(subscription)
    counted = (
        (b, counts_words(b, window, now, subscription.timezone))
        for b in sorted(subscription.bookings, key=lambda b: b.starts_at)
    )
    return tuple(Counts(b.booking_id, b.starts_at, words) for b, words in counted if words)


@dataclass(frozen=True)
class Standing:
    """Where the mentee stands in one subscription: a headline, what it means, and
    the absences that count against them now (while they still can attend)."""

    kind: str  # active, warned, pending, reprobated or ended (the page's style)
    headline: str
    details: tuple[str, ...]
    counted: tuple[Counts, ...] = ()


def _limit_reached(s: SubscriberSummary, window: AbsencesInDays | None, in_a_row: int) -> str:
    """The count that reached the reprobation threshold, as attendance recorded it; from
    an attendance that does not say: `in_a_row` absences in a row, unless the run falls
    short of the threshold and a window rule is in force (which then met it)."""
    if s.reprobated_for:
        return s.reprobated_for
    if window is None or s.consecutive_absences >= s.reprobate_after_absences:
        return f"{_absences(in_a_row)} in a row"
    return window.words()


def standing(subscription: SubscriberDetail, now: datetime) -> Standing:
    """The mentee's standing in words, under the policy in force for the subscription."""
    s = subscription
    zone = s.timezone
    in_a_row = s.reprobate_after_absences
    window = AbsencesInDays.parse_optional(s.reprobate_after_absences_in_days)
    appeals: tuple[str, ...] = ()
    if s.open_appeals:
        appeals = (
            f"{'One appeal waits' if s.open_appeals == 1 else f'{s.open_appeals} appeals wait'}"
            " for your mentor's decision.",
        )
    if s.is_reprobated:
        if s.reprobation_lifts_at is None:
            lifts = "Only your mentor can lift it: ask them to reactivate you."
        elif s.reprobation_ends == "at_renewal":
            lifts = (
                f"It lifts at your next renewal, due {when(s.reprobation_lifts_at, zone)}, "
                "or sooner if your mentor reactivates you."
            )
        else:
            lifts = (
                f"It lifts on {when(s.reprobation_lifts_at, zone)}, or sooner if your "
                "mentor reactivates you."
            )
        return Standing(
            "reprobated",
            "Your remaining sessions this cycle are cancelled",
            (
                f"After {_limit_reached(s, window, in_a_row)} the rest of this cycle was "
                "cancelled; your subscription and its payments continue.",
                lifts,
                *appeals,
            ),
        )
    if s.status == "ended":
        return Standing(
            "ended", "Your subscription has ended", ("Nothing more is booked.", *appeals)
        )
    if s.reprobation_pending_until is not None:
        reached = _limit_reached(s, window, s.consecutive_absences)
        return Standing(
            "pending",
            f"Your remaining sessions will be cancelled on "
            f"{when(s.reprobation_pending_until, zone)}",
            (
                f"{reached.capitalize()} reached the limit. Your mentor reviews it "
                "until then and may waive it; if an absence was not your fault, appeal it "
                "below.",
                *appeals,
            ),
        )
    counted = counted_now(s, now)
    if s.status == "warned":
        left = max(in_a_row - s.consecutive_absences, 1)
        more = "One more absence" if left == 1 else f"{left} more absences"
        cancels = (
            f"{more} in a row cancels the rest of this cycle; attending your next session "
            "clears the warning."
        )
        if window:
            cancels = (
                f"{more} in a row cancels the rest of this cycle, and so do "
                f"{window.words()}; attending your next session clears the warning, but "
                f"not the absences within {window.days} days."
            )
        verb = "counts" if s.consecutive_absences == 1 else "count"
        return Standing(
            "warned",
            "You have been warned",
            (
                f"{_absences(s.consecutive_absences).capitalize()} in a row {verb} against "
                f"you. {cancels}",
                *appeals,
            ),
            counted,
        )
    also = f", and so would {window.words()}" if window else ""
    return Standing(
        "active",
        "You are in good standing",
        (
            f"{_absences(s.absences).capitalize()} this cycle. {_absences(in_a_row).capitalize()}"
            f" in a row would cancel the rest of the cycle{also}.",
            *appeals,
        ),
        counted,
    )

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

from contracts.policy import JoinWindow
from contracts.rpc import BookingAttendance, SubscriberDetail
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
class Standing:
    """Where the mentee stands in one subscription: a headline and what it means."""

    kind: str  # active, warned, pending, reprobated or ended (the page's style)
    headline: str
    details: tuple[str, ...]


def standing(subscription: SubscriberDetail, now: datetime) -> Standing:
    """The mentee's standing in words, under the policy in force for the subscription."""
    s = subscription
    zone = s.timezone
    in_a_row = s.reprobate_after_absences
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
                f"After {_absences(in_a_row)} in a row the rest of this cycle was cancelled; "
                "your subscription and its payments continue.",
                lifts,
                *appeals,
            ),
        )
    if s.status == "ended":
        return Standing(
            "ended", "Your subscription has ended", ("Nothing more is booked.", *appeals)
        )
    if s.reprobation_pending_until is not None:
        return Standing(
            "pending",
            f"Your remaining sessions will be cancelled on "
            f"{when(s.reprobation_pending_until, zone)}",
            (
                f"{_absences(s.consecutive_absences).capitalize()} in a row reached the "
                "limit. Your mentor reviews it until then and may waive it; if an absence "
                "was not your fault, appeal it below.",
                *appeals,
            ),
        )
    if s.status == "warned":
        left = max(in_a_row - s.consecutive_absences, 1)
        more = "One more absence" if left == 1 else f"{left} more absences"
        return Standing(
            "warned",
            "You have been warned",
            (
                f"{_absences(s.consecutive_absences).capitalize()} in a row counts against "
                f"you. {more} in a row cancels the rest of this cycle; attending your next "
                "session clears the warning.",
                *appeals,
            ),
        )
    return Standing(
        "active",
        "You are in good standing",
        (
            f"{_absences(s.absences).capitalize()} this cycle. {_absences(in_a_row).capitalize()}"
            " in a row would cancel the rest of the cycle.",
            *appeals,
        ),
    )

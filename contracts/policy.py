"""Policy values named in the configuration (and, later, carried by a subscription).

`REPROBATION_ENDS` says what lifts a reprobation besides the mentor: nothing
(`on_reactivation`), the next paid renewal (`at_renewal`), or the first sweep tick N
days after it was applied (`after_days:N`).

`WARN_AFTER_ABSENCES_IN_DAYS` and `REPROBATE_AFTER_ABSENCES_IN_DAYS` are `N:D`: N
absences whose sessions all start within D days (`AbsencesInDays`). `PolicyRule` names
the rule a warning or a reprobation was reached by.

`JOIN_OPENS_MINUTES_BEFORE` opens a session's join window: attendance marks a join
inside it, and the gateway refuses one outside it, from the same rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol


@dataclass(frozen=True)
class JoinWindow:
    """When a join marks presence: from `opens` (the start less JOIN_OPENS_MINUTES_BEFORE)
    up to, not including, `closes` (the end)."""

    opens: datetime
    closes: datetime

    @classmethod
    def of(cls, starts_at: datetime, ends_at: datetime, opens_before: timedelta) -> JoinWindow:
        return cls(starts_at - opens_before, ends_at)

    def contains(self, moment: datetime) -> bool:
        return self.opens <= moment < self.closes


ReprobationEndsKind = Literal["on_reactivation", "at_renewal", "after_days"]

_AFTER_DAYS = re.compile(r"after_days:(\d+)")


@dataclass(frozen=True)
class ReprobationEnds:
    kind: ReprobationEndsKind = "on_reactivation"
    days: int = 0  # after_days only

    @classmethod
    def parse(cls, text: str) -> ReprobationEnds:
        """`on_reactivation`, `at_renewal` or `after_days:N` (N whole days > 0)."""
        value = text.strip().lower()
        if value in ("on_reactivation", "at_renewal"):
            return cls(value)  # type: ignore[arg-type]
        days = _AFTER_DAYS.fullmatch(value)
        if days is None or int(days.group(1)) < 1:
            raise ValueError(
                "expected on_reactivation, at_renewal or after_days:N (N whole days > 0), "
                f"got {text!r}"
            )
        return cls("after_days", int(days.group(1)))

    def __str__(self) -> str:
        return f"after_days:{self.days}" if self.kind == "after_days" else self.kind

    def words(self) -> str:
        """What lifts a reprobation, as the mentor reads it."""
        if self.kind == "at_renewal":
            return "at the next paid renewal, or when you reactivate"
        if self.kind == "after_days":
            return f"{self.days} days after it is applied, or when you reactivate"
        return "when you reactivate"


ON_REACTIVATION = ReprobationEnds()

PolicyRule = Literal["consecutive", "absences_in_days", "attendance_rate"]

_IN_DAYS = re.compile(r"(\d+):(\d+)")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass(frozen=True)
class AbsencesInDays:
    """N absences whose sessions all start within D days of each other: an absence
    stops counting once its session started more than D days before the latest."""

    absences: int
    days: int

    @classmethod
    def parse(cls, text: str) -> AbsencesInDays:
        """`N:D`, both whole numbers > 0 (N at most 100, D at most 366)."""
        found = _IN_DAYS.fullmatch(text.strip())
        if found is None or not (0 < int(found[1]) <= 100 and 0 < int(found[2]) <= 366):
            raise ValueError(
                "expected N:D, N absences (1 to 100) within D days (1 to 366), e.g. 3:30, "
                f"got {text!r}"
            )
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def parse_optional(cls, text: str | None) -> AbsencesInDays | None:
        """As `parse`; nothing (None or an empty text) is the rule switched off."""
        return None if text is None or not text.strip() else cls.parse(text)

    def __str__(self) -> str:
        return f"{self.absences}:{self.days}"

    def words(self) -> str:
        return f"{plural(self.absences, 'absence')} within {plural(self.days, 'day')}"


def rate_words(rate: float | None, sessions: int | None) -> str:
    """WARN_BELOW_ATTENDANCE_RATE (over ATTENDANCE_RATE_SESSIONS) in words."""
    if rate is None:
        return "off"
    over = "the latest sessions" if sessions is None else f"the last {plural(sessions, 'session')}"
    return f"below {rate:g}% over {over}"


class PolicyFields(Protocol):
    """The fields of a policy a mentor or a subscription sets (`SubscriptionPolicy`)."""

    @property
    def warn_after_absences(self) -> int | None: ...
    @property
    def reprobate_after_absences(self) -> int | None: ...
    @property
    def warn_after_absences_in_days(self) -> str | None: ...
    @property
    def reprobate_after_absences_in_days(self) -> str | None: ...
    @property
    def warn_below_attendance_rate(self) -> float | None: ...
    @property
    def attendance_rate_sessions(self) -> int | None: ...
    @property
    def reprobation_review_hours(self) -> float | None: ...
    @property
    def reprobation_ends(self) -> str | None: ...


def policy_parts(p: PolicyFields) -> list[str]:
    """What a policy (a mentor's, a subscription's) sets, a phrase per rule it sets;
    the attendance history and the mentor's policy page say it so."""
    warn_in = AbsencesInDays.parse_optional(p.warn_after_absences_in_days)
    reprobate_in = AbsencesInDays.parse_optional(p.reprobate_after_absences_in_days)
    rate, sessions, hours = (
        p.warn_below_attendance_rate,
        p.attendance_rate_sessions,
        p.reprobation_review_hours,
    )
    warn_after, reprobate_after, ends = (
        p.warn_after_absences,
        p.reprobate_after_absences,
        p.reprobation_ends,
    )
    parts = [
        f"warned after {plural(warn_after, 'absence')} in a row" if warn_after else "",
        f"warned after {warn_in.words()}" if warn_in else "",
        f"warned when attendance falls {rate_words(rate, sessions)}" if rate else "",
        f"the attendance rate over the last {plural(sessions, 'session')}"
        if sessions and not rate
        else "",
        f"reprobated after {plural(reprobate_after, 'absence')} in a row"
        if reprobate_after
        else "",
        f"reprobated after {reprobate_in.words()}" if reprobate_in else "",
        "" if hours is None else f"{hours:g} hours to review a reprobation before it applies",
        f"a reprobation ends {ReprobationEnds.parse(ends).words()}" if ends else "",
    ]
    return [part for part in parts if part]

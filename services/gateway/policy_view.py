"""The mentor's policy page, pure: its form (what a mentor types, as a policy, and back),
each rule in force in words, and what a preview found, in words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ValidationError

from contracts import SubscriptionPolicy
from contracts.policy import AbsencesInDays, ReprobationEnds, plural, policy_parts, rate_words
from contracts.rpc import PreviewOutcome, PreviewTotals
from services.gateway.policies import MentorPolicy, PolicyBody
from services.gateway.times import when

Ending = Literal["", "on_reactivation", "at_renewal", "after_days"]


class PolicyForm(BaseModel):
    """The page's form as typed: every field empty means the setting of that name. An
    "N absences within D days" rule is two boxes; "after N days" is a choice and a box."""

    warn_after_absences: str = ""
    warn_within_absences: str = ""
    warn_within_days: str = ""
    warn_below_attendance_rate: str = ""
    attendance_rate_sessions: str = ""
    reprobate_after_absences: str = ""
    reprobate_within_absences: str = ""
    reprobate_within_days: str = ""
    reprobation_review_hours: str = ""
    reprobation_ends: Ending = ""
    reprobation_ends_days: str = ""

    @classmethod
    def of(cls, policy: SubscriptionPolicy | None) -> PolicyForm:
        """The form that says `policy` (empty for none): what the page fills in, and
        what Apply carries."""
        p = policy or SubscriptionPolicy()
        warn = AbsencesInDays.parse_optional(p.warn_after_absences_in_days)
        reprobate = AbsencesInDays.parse_optional(p.reprobate_after_absences_in_days)
        ends = None if p.reprobation_ends is None else ReprobationEnds.parse(p.reprobation_ends)
        return cls(
            warn_after_absences=_text(p.warn_after_absences),
            warn_within_absences=_text(None if warn is None else warn.absences),
            warn_within_days=_text(None if warn is None else warn.days),
            warn_below_attendance_rate=_text(p.warn_below_attendance_rate),
            attendance_rate_sessions=_text(p.attendance_rate_sessions),
            reprobate_after_absences=_text(p.reprobate_after_absences),
            reprobate_within_absences=_text(None if reprobate is None else reprobate.absences),
            reprobate_within_days=_text(None if reprobate is None else reprobate.days),
            reprobation_review_hours=_text(p.reprobation_review_hours),
            reprobation_ends="" if ends is None else ends.kind,
            reprobation_ends_days=_text(ends.days if ends and ends.kind == "after_days" else None),
        )


def _text(value: float | None) -> str:
    """A number as a box shows it: 3, not 3.0; every digit of 66.66667 (not :g's six)."""
    if value is None:
        return ""
    return str(int(value)) if value == int(value) else repr(float(value))


class InvalidPolicy(Exception):
    """What is wrong with a form, by the policy field it would have set."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def policy_of(form: PolicyForm) -> PolicyBody:
    """The policy a form says, or InvalidPolicy with what is wrong with each field."""
    values: dict[str, object] = {}
    errors: dict[str, str] = {}

    def read(field: str, parse: Callable[[], object]) -> None:
        try:
            values[field] = parse()
        except ValueError as error:
            errors[field] = str(error)

    f = form
    read("warn_after_absences", lambda: _whole(f.warn_after_absences, 1, 100))
    read("reprobate_after_absences", lambda: _whole(f.reprobate_after_absences, 1, 100))
    read(
        "warn_after_absences_in_days",
        lambda: _in_days(f.warn_within_absences, f.warn_within_days),
    )
    read(
        "reprobate_after_absences_in_days",
        lambda: _in_days(f.reprobate_within_absences, f.reprobate_within_days),
    )
    read("warn_below_attendance_rate", lambda: _percentage(f.warn_below_attendance_rate))
    read("attendance_rate_sessions", lambda: _whole(f.attendance_rate_sessions, 1, 100))
    read("reprobation_review_hours", lambda: _hours(f.reprobation_review_hours))
    read("reprobation_ends", lambda: _ending(f.reprobation_ends, f.reprobation_ends_days))
    if errors:
        raise InvalidPolicy(errors)
    try:
        return PolicyBody.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as error:  # what the checks above missed, said by pydantic
        raise InvalidPolicy(
            {str(e["loc"][0]) if e["loc"] else "": e["msg"] for e in error.errors()}
        ) from error


def _number(raw: str) -> float | None:
    text = raw.strip().rstrip("%").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"Write a number, not “{raw.strip()}”.") from None


def _whole(raw: str, low: int, high: int, what: str = "") -> int | None:
    number = _number(raw)
    if number is None:
        return None
    if number != int(number) or not low <= number <= high:
        raise ValueError(f"Write a whole number{what} from {low} to {high}.")
    return int(number)


def _in_days(absences: str, days: str) -> str | None:
    if not absences.strip() and not days.strip():
        return None
    if not absences.strip() or not days.strip():
        raise ValueError("Give both the number of absences and the days, or leave both empty.")
    n = _whole(absences, 1, 100, " of absences")
    d = _whole(days, 1, 366, " of days")
    return f"{n}:{d}"


def _percentage(raw: str) -> float | None:
    rate = _number(raw)
    if rate is not None and not 0 < rate <= 100:
        raise ValueError("Write a percentage above 0 and at most 100.")
    return rate


def _hours(raw: str) -> float | None:
    hours = _number(raw)
    if hours is not None and not 0 <= hours <= 24 * 366:
        raise ValueError("Write a number of hours from 0 (at once) to 8784.")
    return hours


def _ending(kind: Ending, days: str) -> str | None:
    if kind == "after_days":
        count = _whole(days, 1, 3660, " of days")
        if count is None:
            raise ValueError("Say after how many days a reprobation ends.")
        return f"after_days:{count}"
    if days.strip():
        raise ValueError("Days count only with “after a number of days”: choose it, or clear them.")
    return kind or None


# ---- in words ---------------------------------------------------------------------------


def reprobation_ends(policy: str) -> str:
    """REPROBATION_ENDS as the mentor reads it: what lifts a reprobation."""
    return ReprobationEnds.parse(policy).words()


@dataclass(frozen=True)
class InForce:
    """One rule as it stands: its words, and whether they are the mentor's own or the
    setting's; `key` is the policy field the form's errors name it by."""

    key: str
    rule: str
    words: str
    yours: bool


def in_force(own: SubscriptionPolicy | None, settings: SubscriptionPolicy) -> list[InForce]:
    """Each rule of the policy in force for the mentor's subscriptions (those without
    their own): the mentor's value where set, else the setting's."""
    mine = own or SubscriptionPolicy()
    both = {**settings.model_dump(), **mine.model_dump(exclude_none=True)}
    p = SubscriptionPolicy.model_validate(both)
    set_ = {k for k, v in mine.model_dump().items() if v is not None}

    def rule(label: str, words: str, *fields: str) -> InForce:
        return InForce(fields[0], label, words, any(f in set_ for f in fields))

    in_days = AbsencesInDays.parse_optional
    return [
        rule(
            "Warned after",
            f"{plural(p.warn_after_absences or 0, 'absence')} in a row",
            "warn_after_absences",
        ),
        rule(
            "Warned after absences within days",
            w.words() if (w := in_days(p.warn_after_absences_in_days)) else "off",
            "warn_after_absences_in_days",
        ),
        rule(
            "Warned when attendance falls",
            rate_words(p.warn_below_attendance_rate, p.attendance_rate_sessions),
            "warn_below_attendance_rate",
            "attendance_rate_sessions",
        ),
        rule(
            "Reprobated after",
            f"{plural(p.reprobate_after_absences or 0, 'absence')} in a row",
            "reprobate_after_absences",
        ),
        rule(
            "Reprobated after absences within days",
            r.words() if (r := in_days(p.reprobate_after_absences_in_days)) else "off",
            "reprobate_after_absences_in_days",
        ),
        rule(
            "Time to review a reprobation",
            f"{p.reprobation_review_hours:g} hours"
            if p.reprobation_review_hours
            else "none (it applies at once)",
            "reprobation_review_hours",
        ),
        rule(
            "A reprobation ends",
            reprobation_ends(p.reprobation_ends or "on_reactivation"),
            "reprobation_ends",
        ),
    ]


def proposal_words(policy: SubscriptionPolicy) -> str:
    """What a policy sets, as a sentence; the rest stays the settings'."""
    said = "; ".join(policy_parts(policy))
    return f"{said}; the rest as the service's settings" if said else "the service's settings"


TOTALS = (
    ("mentees_warned", "Mentees warned"),
    ("warnings", "Warnings"),
    ("mentees_reprobated", "Mentees reprobated"),
    ("cancelled_sessions", "Sessions cancelled"),
)


@dataclass(frozen=True)
class Total:
    label: str
    now: int
    proposed: int

    @property
    def changed(self) -> bool:
        return self.now != self.proposed


def totals(current: PreviewTotals, proposed: PreviewTotals) -> list[Total]:
    return [Total(label, getattr(current, k), getattr(proposed, k)) for k, label in TOTALS]


def outcome_words(outcome: PreviewOutcome, zone: str) -> list[str]:
    """What a policy did (or would have done) to one subscriber, a line each: every
    warning with its session and rule, then the reprobation with the absences it counted
    and the sessions it cancels."""

    def at(moment: datetime) -> str:
        return when(moment, zone, named=False)

    lines = [f"Warned for missing {at(w.starts_at)} ({w.detail})" for w in outcome.warnings]
    r = outcome.reprobation
    if r is not None:
        # Semicolons: each session's words hold a comma.
        missed = "; ".join(at(m.starts_at) for m in r.missed)
        cancelled = (
            f" {plural(r.cancelled_sessions, 'later session')} cancelled."
            if r.cancelled_sessions
            else ""
        )
        lines.append(f"Reprobated by {r.detail} (missed {missed}).{cancelled}")
    return lines or ["Neither warned nor reprobated"]


def applied_words(current: MentorPolicy) -> str:
    """What Apply did, as the page says it."""
    count = current.subscriptions
    subscriptions = f"{count} subscription" + ("" if count == 1 else "s")
    own = current.with_own_policy
    keep = (
        f" ({own} of them {'keeps its' if own == 1 else 'keep their'} own policy, whose rules win)"
        if own
        else ""
    )
    return (
        f"Done: your policy applies from now on to {subscriptions}{keep}. It judges what "
        "happens from now on, not what already happened: nobody is warned or reprobated "
        "by this change; from the next absence on, it decides, counting the absences "
        "already recorded."
    )

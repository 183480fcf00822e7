"""Policy values named in the configuration (and, later, carried by a subscription).

`REPROBATION_ENDS` says what lifts a reprobation besides the mentor: nothing
(`on_reactivation`), the next paid renewal (`at_renewal`), or the first sweep tick N
days after it was applied (`after_days:N`).

`JOIN_OPENS_MINUTES_BEFORE` opens a session's join window: attendance marks a join
inside it, and the gateway refuses one outside it, from the same rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


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


ON_REACTIVATION = ReprobationEnds()

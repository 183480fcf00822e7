"""People, tokens and subscriptions for end-to-end scenarios.

Sessions are placed relative to a given `now`, in a time zone without DST
(America/Sao_Paulo) so that "a week earlier" is always 168 hours; the DST rules
themselves are unit-tested on the slot.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from contracts import Mentor, Person, Slot, SubscriptionActivated
from services.gateway.auth import Role, issue_token

ZONE = "America/Sao_Paulo"
WEEK = timedelta(days=7)


@dataclass
class User:
    person: Person
    role: Role
    secret: str
    token: str = field(init=False)

    def __post_init__(self) -> None:
        self.token = issue_token(
            self.secret,
            self.person.id,
            self.role,
            datetime.now(ZoneInfo("UTC")) + timedelta(hours=2),
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def user(secret: str, role: Role, name: str) -> User:
    person_id = uuid.uuid4()
    email = f"{name.lower().replace(' ', '.')}.{person_id.hex[:6]}@example.com"
    return User(Person(id=person_id, name=name, email=email), role, secret)


def weekly_subscription(
    mentee: User,
    mentor: User,
    *,
    now: datetime,
    session_started_ago: timedelta,
    past_sessions: int,
    future_sessions: int,
    duration_minutes: int = 60,
    zone: str = ZONE,
    mentor_zone: str | None = None,
) -> SubscriptionActivated:
    """A subscription whose latest session started `session_started_ago` before `now`,
    with `past_sessions` sessions up to and including that one and `future_sessions` after,
    its slot in `zone` (a zone with DST changes the gaps near a change), the mentor's own
    zone `mentor_zone`."""
    local = (now - session_started_ago).astimezone(ZoneInfo(zone))
    latest = local.replace(second=0, microsecond=0)
    first = latest - WEEK * (past_sessions - 1)
    cycle_start = first - timedelta(minutes=1)
    cycle_end = latest + WEEK * future_sessions + timedelta(minutes=1)
    return SubscriptionActivated(
        occurred_at=cycle_start,
        subscription_id=uuid.uuid4(),
        stripe_subscription_id=f"sub_{uuid.uuid4().hex[:14]}",
        mentee=mentee.person,
        mentor=Mentor(**mentor.person.model_dump(), timezone=mentor_zone),
        slot=Slot(
            weekday=latest.weekday(),
            start_time=latest.strftime("%H:%M"),
            duration_minutes=duration_minutes,
            timezone=zone,
        ),
        cycle_starts_at=cycle_start,
        cycle_ends_at=cycle_end,
    )

"""The mentor's own time zone in subscription.activated: optional, and a known IANA zone."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts import Mentor, Person, SubscriptionActivated

AT = datetime(2026, 3, 2, tzinfo=UTC)


def activation(mentor: object) -> SubscriptionActivated:
    return SubscriptionActivated.model_validate(
        {
            "occurred_at": AT,
            "subscription_id": uuid.uuid4(),
            "mentee": {"id": uuid.uuid4(), "name": "Maria", "email": "maria@example.com"},
            "mentor": mentor,
            "slot": {
                "weekday": 0,
                "start_time": "18:00",
                "duration_minutes": 60,
                "timezone": "Europe/Lisbon",
            },
            "cycle_starts_at": AT,
            "cycle_ends_at": AT.replace(month=4),
        }
    )


OTTO = {"id": str(uuid.uuid4()), "name": "Otto", "email": "otto@example.com"}


def test_the_mentors_zone_travels_with_the_activation() -> None:
    sent = activation({**OTTO, "timezone": "America/Sao_Paulo"})
    received = SubscriptionActivated.model_validate_json(sent.body())
    assert received.mentor.timezone == "America/Sao_Paulo"
    assert json.loads(sent.body())["mentor"]["timezone"] == "America/Sao_Paulo"


def test_a_producer_that_predates_the_zone_is_understood() -> None:
    assert activation(OTTO).mentor.timezone is None
    person = Person.model_validate(OTTO)
    read = activation(person).mentor
    assert isinstance(read, Mentor) and read.timezone is None and read.id == person.id


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "europe/lisbon", "UTC+3"])
def test_an_unknown_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match=r"mentor\.timezone"):
        activation({**OTTO, "timezone": zone})

"""A person's name travels into email headers and pages: one printable line, bounded."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from contracts import Person, SubscriptionActivated
from contracts.messages import NAME_MAX_LENGTH


def person(name: str) -> Person:
    return Person(id=uuid.uuid4(), name=name, email="ana@example.com")


def test_a_name_is_stripped_and_may_be_any_script() -> None:
    assert person("  Ana Lima \t").name == "Ana Lima"
    assert person("Zoë Ōtani-Łukasz 李").name == "Zoë Ōtani-Łukasz 李"
    assert len(person("a" * NAME_MAX_LENGTH).name) == NAME_MAX_LENGTH


@pytest.mark.parametrize(
    "name",
    [
        "Eve\nBcc: x@y",
        "Eve\r\nSubject: hi",
        "tab\there",
        "nul\x00",
        "bell\x07",
        "del\x7f",
        "next\x85line",
        "line\u2028separator",
        "paragraph\u2029separator",
        "lone\ud800surrogate",
        "   ",
        "",
        "a" * (NAME_MAX_LENGTH + 1),
    ],
    ids=[
        "line-feed",
        "crlf",
        "tab",
        "nul",
        "bell",
        "delete",
        "next-line",
        "line-separator",
        "paragraph-separator",
        "lone-surrogate",
        "blank",
        "empty",
        "too-long",
    ],
)
def test_a_name_that_could_break_a_header_or_a_page_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        person(name)


def test_an_activation_with_such_a_name_does_not_parse_so_consumers_dead_letter_it() -> None:
    good = SubscriptionActivated.model_validate_json(
        """{"occurred_at": "2026-03-02T18:00:00+00:00",
            "subscription_id": "6d1b6c2e-46b1-4f0e-9b8e-0a4c3f4f9a11",
            "mentee": {"id": "6d1b6c2e-46b1-4f0e-9b8e-0a4c3f4f9a11", "name": "Maria",
                       "email": "maria@example.com"},
            "mentor": {"id": "0e3f2f0d-2c7e-4b55-8f1e-6f4b1d2c3a22", "name": "Otto",
                       "email": "otto@example.com"},
            "slot": {"weekday": 0, "start_time": "18:00", "duration_minutes": 60,
                     "timezone": "Europe/Lisbon"},
            "cycle_starts_at": "2026-03-02T00:00:00+00:00",
            "cycle_ends_at": "2026-04-02T00:00:00+00:00"}"""
    )
    hostile = good.model_dump(mode="json")
    hostile["mentee"]["name"] = "Eve\nBcc: x@y"
    with pytest.raises(ValidationError, match=r"mentee\.name"):
        SubscriptionActivated.model_validate(hostile)

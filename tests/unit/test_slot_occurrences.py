"""The weekly slot in its own time zone: DST-correct recurrence and cycle boundaries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from contracts import Slot
from services.booking.domain import occurrences_after, slot_occurrences

LISBON = ZoneInfo("Europe/Lisbon")
NEW_YORK = ZoneInfo("America/New_York")


def slot(weekday: int, start: str, zone: str, minutes: int = 60) -> Slot:
    return Slot(weekday=weekday, start_time=start, duration_minutes=minutes, timezone=zone)


@pytest.mark.parametrize(
    ("zone", "start", "end", "expected_utc_hours"),
    [
        # Lisbon springs forward on 2026-03-29: 18:00 WET = 18 UTC, then 18:00 WEST = 17 UTC.
        (
            "Europe/Lisbon",
            datetime(2026, 3, 16, tzinfo=UTC),
            datetime(2026, 4, 13, tzinfo=UTC),
            [18, 18, 17, 17],
        ),
        # Lisbon falls back on 2026-10-25.
        (
            "Europe/Lisbon",
            datetime(2026, 10, 12, tzinfo=UTC),
            datetime(2026, 11, 9, tzinfo=UTC),
            [17, 17, 18, 18],
        ),
        # New York springs forward on 2026-03-08 (EST 23 UTC → EDT 22 UTC) and falls back on 11-01.
        (
            "America/New_York",
            datetime(2026, 2, 23, tzinfo=UTC),
            datetime(2026, 3, 23, tzinfo=UTC),
            [23, 23, 22, 22],
        ),
        (
            "America/New_York",
            datetime(2026, 10, 19, tzinfo=UTC),
            datetime(2026, 11, 16, tzinfo=UTC),
            [22, 22, 23, 23],
        ),
    ],
    ids=["lisbon-spring", "lisbon-autumn", "new-york-spring", "new-york-autumn"],
)
def test_an_evening_session_stays_at_the_same_local_time_across_dst(
    zone: str, start: datetime, end: datetime, expected_utc_hours: list[int]
) -> None:
    s = slot(0, "18:00", zone)
    occurrences = list(s.occurrences(start, end))
    assert [o[0].hour for o in occurrences] == expected_utc_hours
    assert {o[0].astimezone(s.zone).strftime("%a %H:%M") for o in occurrences} == {"Mon 18:00"}
    assert all(end_ - start_ == timedelta(hours=1) for start_, end_ in occurrences)


def test_the_cycle_includes_its_first_instant_and_excludes_its_last() -> None:
    s = slot(0, "18:00", "Europe/Lisbon")
    first = datetime(2026, 1, 5, 18, 0, tzinfo=LISBON)  # a Monday, 18:00 local
    four_weeks_later = first + timedelta(weeks=4)
    starts = [o[0] for o in s.occurrences(first, four_weeks_later)]
    assert starts[0] == first
    assert len(starts) == 4
    assert four_weeks_later not in starts
    assert next(o[0] for o in s.occurrences(first + timedelta(seconds=1), four_weeks_later)) == (
        first + timedelta(weeks=1)
    )


def test_a_start_inside_the_spring_forward_gap_moves_forward_with_the_clocks() -> None:
    s = slot(6, "01:30", "Europe/Lisbon")  # Sunday 01:30 does not exist on 2026-03-29
    [start] = [
        o[0]
        for o in s.occurrences(datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))
    ]
    assert start.astimezone(LISBON).strftime("%H:%M") == "02:30"


def test_an_empty_cycle_books_nothing() -> None:
    s = slot(2, "10:00", "UTC")
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    assert list(s.occurrences(monday, monday + timedelta(days=2))) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"weekday": 7},
        {"start_time": "24:00"},
        {"start_time": "6pm"},
        {"duration_minutes": 0},
        {"timezone": "Mars/Olympus_Mons"},
    ],
)
def test_a_malformed_slot_is_rejected(fields: dict[str, object]) -> None:
    base = {"weekday": 0, "start_time": "18:00", "duration_minutes": 60, "timezone": "UTC"}
    with pytest.raises(ValidationError):
        Slot.model_validate({**base, **fields})


def test_booking_ids_are_stable_per_generation_and_differ_between_generations() -> None:
    sid = uuid.uuid4()
    s = slot(0, "18:00", "UTC")
    start, end = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC)
    first = slot_occurrences(sid, s, start, end, generation="cycle:a")
    assert first == slot_occurrences(sid, s, start, end, generation="cycle:a")
    again = slot_occurrences(sid, s, start, end, generation="reactivation:b")
    assert {b.booking_id for b in first}.isdisjoint({b.booking_id for b in again})


def test_reactivation_books_only_sessions_starting_after_it() -> None:
    s = slot(0, "18:00", "UTC")
    reactivated_at = datetime(2026, 3, 9, 18, 0, tzinfo=UTC)  # exactly when a session starts
    planned = occurrences_after(
        uuid.uuid4(), s, reactivated_at, datetime(2026, 3, 30, tzinfo=UTC), "r"
    )
    assert [b.starts_at.day for b in planned] == [16, 23]

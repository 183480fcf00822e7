"""Joins are answered honestly: outside its window a join is a 409 that says, in the
slot's zone, when the session opens or that it is over; inside it a 202 that attendance
marks. Every service its own process, the real broker and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.kit.settings import Settings
from tests.e2e.test_lifecycle import activate, mentee_bookings, people
from tests.support.system import System
from tests.support.waiting import eventually
from tests.support.world import ZONE, weekly_subscription

pytestmark = pytest.mark.e2e


def in_the_slots_zone(moment: str) -> str:
    """How the gateway writes a moment in the slot's zone: Tue 08 Dec 2026, 17:45."""
    return f"{datetime.fromisoformat(moment).astimezone(ZoneInfo(ZONE)):%a %d %b %Y, %H:%M}"


async def test_a_join_a_week_early_or_after_the_end_is_a_409_that_names_the_time(
    settings: Settings, system: System, gateway: httpx.AsyncClient
) -> None:
    mentee, mentor = people(settings)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=datetime.now(UTC),
        session_started_ago=timedelta(minutes=2),
        past_sessions=2,
        future_sessions=1,
    )
    bookings = await activate(settings, gateway, subscription, mentee, 3)
    over, live, next_week = sorted(bookings, key=lambda b: str(b["starts_at"]))

    async def join(booking: dict[str, Any]) -> httpx.Response:
        return await gateway.post(
            f"/api/bookings/{booking['booking_id']}/join", headers=mentee.headers
        )

    early = await join(next_week)
    opens = datetime.fromisoformat(next_week["starts_at"]) - timedelta(
        minutes=settings.join_opens_minutes_before
    )
    assert early.status_code == 409, early.text
    assert early.json()["detail"] == (
        f"this session opens for joining at {in_the_slots_zone(opens.isoformat())} (Sao Paulo)"
    )
    late = await join(over)
    assert late.status_code == 409, late.text
    assert late.json()["detail"] == (
        f"this session ended at {in_the_slots_zone(over['ends_at'])} (Sao Paulo)"
    )

    inside = await join(live)
    assert inside.status_code == 202, inside.text
    marked = await eventually(
        lambda: mentee_bookings(gateway, mentee),
        lambda bs: any(b["booking_id"] == live["booking_id"] and b["mark"] for b in bs),
    )
    assert {b["booking_id"]: b["mark"] for b in marked}[live["booking_id"]] == "present"
    # The refused joins marked nothing.
    assert {b["booking_id"]: b["mark"] for b in marked}[next_week["booking_id"]] is None

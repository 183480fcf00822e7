"""Each person's calendar feed: a private URL, read without a cookie, holding every
upcoming session with the emailed invitations' UID, in the slot's zone, and linked from
the schedule a new subscription's mentee is emailed; a cancelled session leaves it; a
reset makes the old URL a 404 like any unknown one. Every service
its own process, the real broker and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from icalendar import Calendar

from services.kit.settings import Settings
from tests.e2e.test_lifecycle import activate, people
from tests.support.smtp import RecordingSMTPServer, plain_text
from tests.support.system import System
from tests.support.waiting import eventually
from tests.support.world import ZONE, User, weekly_subscription

pytestmark = pytest.mark.e2e


async def feed_path(gateway: httpx.AsyncClient, who: User, reset: bool = False) -> str:
    if reset:
        response = await gateway.post("/api/calendar/reset", headers=who.headers)
    else:
        response = await gateway.get("/api/calendar", headers=who.headers)
    assert response.status_code == 200, response.text
    url = urlsplit(response.json()["url"])
    assert url.path.startswith("/calendar/") and url.path.endswith(".ics")
    return url.path


async def events(gateway: httpx.AsyncClient, path: str) -> dict[str, Any]:
    """The feed's events by UID, read as a calendar app would: no cookie, no token."""
    response = await gateway.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.text)
    assert [z["tzid"] for z in calendar.walk("VTIMEZONE")] == [ZONE]
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


async def test_a_feed_holds_the_upcoming_sessions_drops_a_cancelled_one_and_resets(
    settings: Settings, system: System, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    mentee, mentor = people(settings)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=datetime.now(UTC),
        session_started_ago=timedelta(hours=3),
        past_sessions=1,
        future_sessions=3,
    )
    bookings = await activate(settings, gateway, subscription, mentee, 4)
    _over, *upcoming = sorted(bookings, key=lambda b: str(b["starts_at"]))
    uids = {f"{b['booking_id']}@mentorship-attendance" for b in upcoming}
    mentees = await feed_path(gateway, mentee)
    assert await feed_path(gateway, mentee) == mentees  # one feed per person
    # The activation sent the mentee the cycle's schedule, linking this same feed.
    [schedule] = await smtp.wait_for(mentee.person.email)
    assert schedule["Subject"] == "Your mentorship sessions with Otto Mentor"
    assert mentees in plain_text(schedule)

    held = await eventually(lambda: events(gateway, mentees), lambda e: set(e) == uids)
    first = held[f"{upcoming[0]['booking_id']}@mentorship-attendance"]
    assert first["dtstart"].params["TZID"] == ZONE
    assert first["dtstart"].dt == datetime.fromisoformat(upcoming[0]["starts_at"])
    assert "Maria Mentee with Otto Mentor" in str(first["summary"])
    mentors = await feed_path(gateway, mentor)
    assert mentors != mentees
    assert set(await events(gateway, mentors)) == uids

    cancelled = upcoming[-1]
    response = await gateway.post(
        f"/api/bookings/{cancelled['booking_id']}/cancel", headers=mentee.headers
    )
    assert response.status_code == 200, response.text
    left = uids - {f"{cancelled['booking_id']}@mentorship-attendance"}
    await eventually(lambda: events(gateway, mentees), lambda e: set(e) == left)
    assert set(await events(gateway, mentors)) == left

    renewed = await feed_path(gateway, mentee, reset=True)
    assert renewed != mentees
    old = await gateway.get(mentees)
    unknown = await gateway.get("/calendar/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics")
    assert (old.status_code, old.text) == (404, "Not Found")
    assert (unknown.status_code, unknown.text) == (404, "Not Found")
    assert set(await events(gateway, renewed)) == left

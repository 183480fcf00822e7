"""Mentor no-shows end to end, with TRACK_MENTOR_JOINS on (a system of its own, in a
namespace of its own): a session the mentor never joined is never held against the
mentee, who gets an apology; the mentor's own count is on their dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import pytest
import pytest_asyncio

from contracts import MakeupOwed, MenteeReprobated, MenteeWarned, MentorMissed, SweepTick
from services.kit.settings import Settings
from tests.conftest import derived
from tests.e2e.conftest import system_with
from tests.e2e.test_fair_marks import by_start, mark
from tests.e2e.test_lifecycle import LIFECYCLE_KEYS, activate, mentee_bookings, people, subscriber
from tests.support.listening import listening, publish
from tests.support.settling import service_settled
from tests.support.smtp import RecordingSMTPServer
from tests.support.waiting import eventually
from tests.support.world import user, weekly_subscription

pytestmark = pytest.mark.e2e
KEYS = [*LIFECYCLE_KEYS, "mentor.missed", "makeup.*"]


@pytest.fixture(scope="module")
def tracking_settings(settings: Settings) -> Settings:
    return derived(settings, "noshow")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gateway(
    tracking_settings: Settings, smtp: RecordingSMTPServer
) -> AsyncIterator[httpx.AsyncClient]:
    """Booking, attendance, notifications and the gateway, tracking mentors' joins (no
    scheduler: the tests send their own ticks)."""
    async with system_with(tracking_settings, smtp, {"TRACK_MENTOR_JOINS": "true"}) as client:
        yield client


async def test_a_session_the_mentor_never_joined_is_their_no_show_and_the_mentee_gets_an_apology(
    tracking_settings: Settings, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    settings = tracking_settings
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(minutes=30),  # the second session is running
        past_sessions=2,
        future_sessions=1,
    )
    missed_by_mentor, running, _ = by_start(
        await activate(settings, gateway, subscription, mentee, 3)
    )
    sid = subscription.subscription_id

    # Attendance has the schedule (another queue) before the mentor joins, so the join
    # is applied at once rather than retried until it arrives, after the sweep below.
    async def schedule_at_attendance() -> int:
        response = await gateway.get(f"/api/mentor/subscribers/{sid}", headers=mentor.headers)
        return len(response.json()["bookings"]) if response.status_code == 200 else 0

    await eventually(schedule_at_attendance, lambda known: known == 3)

    joined = await gateway.post(
        f"/api/mentor/bookings/{running['booking_id']}/join", headers=mentor.headers
    )
    assert joined.status_code == 202, joined.text
    after_it = datetime.fromisoformat(running["ends_at"]) + timedelta(minutes=20)
    async with listening(settings, KEYS) as bus:
        await publish(settings, SweepTick(occurred_at=after_it, tick_at=after_it))
        [missed] = await bus.wait_for(MentorMissed, subscription_id=sid)
        [warned] = await bus.wait_for(MenteeWarned, subscription_id=sid)
        # Booking owes one make-up for the session the mentor missed.
        [owed] = await bus.wait_for(MakeupOwed, subscription_id=sid)
        # Both past sessions' marks are applied (their events came): all they caused is
        # heard once attendance has nothing left to publish.
        await service_settled(settings, "attendance", bus)
        assert bus.of(MenteeReprobated, subscription_id=sid) == []
    # Never held against the mentee: only the session the mentor came to counts.
    assert missed.booking_id == UUID(missed_by_mentor["booking_id"])
    assert owed.missed_booking_id == missed.booking_id
    assert warned.booking_id == UUID(running["booking_id"])

    detail = await subscriber(gateway, mentor, subscription)
    assert [b["status"] for b in by_start(detail["bookings"])] == [
        "mentor_no_show",
        "absent",
        None,
    ]
    assert (detail["mentor_no_shows"], detail["absences"], detail["consecutive_absences"]) == (
        1,
        1,
        1,
    )
    bookings = await eventually(
        lambda: mentee_bookings(gateway, mentee),
        lambda bs: any(b["mark"] == "mentor_no_show" for b in bs),
    )
    assert [b["mark"] for b in by_start(bookings)] == ["mentor_no_show", "absent", None]

    emails = await smtp.wait_for(mentee.person.email, 2)
    [apology] = [m for m in emails if m["Subject"].startswith("Sorry")]
    assert apology["Cc"] == mentor.person.email
    assert "does not count as an absence" in apology.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # The mentor marks their own no-show by hand: the absence is lifted, an apology sent.
    corrected = await mark(gateway, mentor.headers, running["booking_id"], status="mentor_no_show")
    assert corrected.status_code == 200, corrected.text
    assert (corrected.json()["mentor_no_shows"], corrected.json()["consecutive_absences"]) == (
        2,
        0,
    )
    apologies = await eventually(
        lambda: _apologies(smtp, mentee.person.email), lambda found: len(found) == 2
    )
    assert len(apologies) == 2
    listing = await gateway.get("/api/mentor/subscribers", headers=mentor.headers)
    [summary] = listing.json()["subscribers"]
    assert summary["mentor_no_shows"] == 2


async def _apologies(smtp: RecordingSMTPServer, address: str) -> list[object]:
    return [m for m in smtp.to(address) if m["Subject"].startswith("Sorry")]


async def test_only_the_sessions_mentor_joins_it_as_mentor(
    tracking_settings: Settings, gateway: httpx.AsyncClient
) -> None:
    settings = tracking_settings
    mentee, mentor = people(settings)
    stranger = user(settings.jwt_secret, "mentor", "Ines Other")
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=datetime.now(UTC),
        session_started_ago=timedelta(minutes=5),
        past_sessions=1,
        future_sessions=0,
    )
    [booking] = await activate(settings, gateway, subscription, mentee, 1)
    path = f"/api/mentor/bookings/{booking['booking_id']}/join"
    assert (await gateway.post(path, headers=stranger.headers)).status_code == 403
    assert (await gateway.post(path, headers=mentee.headers)).status_code == 403
    unknown = await gateway.post(f"/api/mentor/bookings/{UUID(int=9)}/join", headers=mentor.headers)
    assert unknown.status_code == 404

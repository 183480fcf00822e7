"""The product's rules, end to end: every service its own process, the real
RabbitMQ, PostgreSQL and an SMTP server; driven through the gateway and the bus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from contracts import (
    AttendanceMarked,
    BookingsCancelled,
    MenteeReprobated,
    MenteeWarned,
    SessionJoined,
    SubscriptionActivated,
    SweepTick,
)
from services.kit.settings import Settings
from tests.support.listening import listening, publish
from tests.support.outbound import OutboundRecorder
from tests.support.settling import service_settled
from tests.support.smtp import RecordingSMTPServer
from tests.support.system import System
from tests.support.waiting import eventually
from tests.support.world import User, user, weekly_subscription

pytestmark = pytest.mark.e2e

LIFECYCLE_KEYS = [
    "bookings.#",
    "booking.unattended",
    "attendance.marked",
    "mentee.*",
    "sweep.tick",
]


def people(settings: Settings) -> tuple[User, User]:
    return (
        user(settings.jwt_secret, "mentee", "Maria Mentee"),
        user(settings.jwt_secret, "mentor", "Otto Mentor"),
    )


async def mentee_bookings(gateway: httpx.AsyncClient, mentee: User) -> list[dict[str, Any]]:
    response = await gateway.get("/api/mentee/bookings", headers=mentee.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["bookings"])


async def subscriber(
    gateway: httpx.AsyncClient, mentor: User, subscription: SubscriptionActivated
) -> dict[str, Any]:
    response = await gateway.get(
        f"/api/mentor/subscribers/{subscription.subscription_id}", headers=mentor.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def activate(
    settings: Settings,
    gateway: httpx.AsyncClient,
    subscription: SubscriptionActivated,
    mentee: User,
    expected_bookings: int,
) -> list[dict[str, Any]]:
    """Publish the activation and wait until both booking (the mentee's list) and
    attendance (the mentor's view) hold its bookings: each consumes the activation
    on a queue of its own, so one may be a few milliseconds behind the other."""
    await publish(settings, subscription)
    bookings = await eventually(
        lambda: mentee_bookings(gateway, mentee),
        lambda bookings: len(bookings) == expected_bookings,
        within=15,
    )
    mentor = User(subscription.mentor, "mentor", settings.jwt_secret)
    url = f"/api/mentor/subscribers/{subscription.subscription_id}"

    async def attendance_bookings() -> int:
        response = await gateway.get(url, headers=mentor.headers)
        return len(response.json()["bookings"]) if response.status_code == 200 else -1

    await eventually(attendance_bookings, lambda count: count == expected_bookings, within=15)
    return bookings


async def test_a_mentee_who_joins_through_the_gateway_is_marked_attended(
    settings: Settings, system: System, gateway: httpx.AsyncClient
) -> None:
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(minutes=5),
        past_sessions=1,
        future_sessions=3,
    )
    bookings = await activate(settings, gateway, subscription, mentee, expected_bookings=4)
    current = min(bookings, key=lambda b: b["starts_at"])
    assert current["status"] == "scheduled" and current["attended"] is None

    response = await gateway.post(
        f"/api/bookings/{current['booking_id']}/join", headers=mentee.headers
    )
    assert response.status_code == 202, response.text

    async def current_booking() -> dict[str, Any]:
        return next(
            b
            for b in await mentee_bookings(gateway, mentee)
            if b["booking_id"] == current["booking_id"]
        )

    joined = await eventually(current_booking, lambda b: b["attended"] is True, within=15)
    assert joined["status"] == "attended"
    detail = await subscriber(gateway, mentor, subscription)
    marks = {b["booking_id"]: b for b in detail["bookings"]}
    assert marks[current["booking_id"]]["marked_by"] == "system"


async def test_a_first_absence_warns_mentee_and_mentor(
    settings: Settings, system: System, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=1,
        future_sessions=2,
    )
    await activate(settings, gateway, subscription, mentee, expected_bookings=3)

    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await publish(settings, SweepTick(occurred_at=now, tick_at=now))
        [warned] = await bus.wait_for(MenteeWarned, subscription_id=subscription.subscription_id)
        assert warned.consecutive_absences == 1

    detail = await subscriber(gateway, mentor, subscription)
    assert detail["consecutive_absences"] == 1
    assert detail["status"] == "warned"
    assert detail["is_reprobated"] is False
    assert detail["timezone"] == subscription.slot.timezone
    for person in (mentee, mentor):
        emails = await smtp.wait_for(person.person.email)
        assert len(emails) == 1, [e["Subject"] for e in emails]


async def test_a_second_consecutive_absence_reprobates_and_cancels_the_rest_of_the_cycle(
    settings: Settings,
    system: System,
    gateway: httpx.AsyncClient,
    smtp: RecordingSMTPServer,
    outbound: OutboundRecorder,
) -> None:
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=2,
        future_sessions=3,
    )
    await activate(settings, gateway, subscription, mentee, expected_bookings=5)

    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await publish(settings, SweepTick(occurred_at=now, tick_at=now))
        [reprobated] = await bus.wait_for(
            MenteeReprobated, subscription_id=subscription.subscription_id
        )
        [cancelled] = await bus.wait_for(
            BookingsCancelled, subscription_id=subscription.subscription_id
        )
    assert len(reprobated.missed_booking_ids) == 2
    assert reprobated.reprobated_at == now
    assert cancelled.reason == "reprobation"
    assert len(cancelled.booking_ids) == 3

    bookings = await mentee_bookings(gateway, mentee)
    assert sorted(b["status"] for b in bookings) == ["cancelled"] * 3 + ["unattended"] * 2
    detail = await eventually(
        lambda: subscriber(gateway, mentor, subscription),
        lambda d: d["upcoming_bookings"] == 0,  # once attendance saw the cancellation
    )
    assert detail["is_reprobated"] is True and detail["status"] == "reprobated"
    assert detail["consecutive_absences"] == 2
    assert detail["upcoming_bookings"] == 0
    # Reprobation never touches the paid subscription: nothing tried to reach Stripe.
    assert outbound.attempts == []
    for person in (mentee, mentor):
        emails = await smtp.wait_for(person.person.email, 2, schedules=False)
        subjects = [m["Subject"] for m in emails]
        assert len(subjects) == 2, subjects  # the warning, then the reprobation


async def test_miss_attend_miss_does_not_reprobate(
    settings: Settings, system: System, gateway: httpx.AsyncClient
) -> None:
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=3,
        future_sessions=1,
    )
    bookings = sorted(
        await activate(settings, gateway, subscription, mentee, expected_bookings=4),
        key=lambda b: b["starts_at"],
    )
    first, attended, last = bookings[:3]
    sid = subscription.subscription_id
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        # Week 1: missed; the hourly sweep after it finds the absence and warns.
        after_first = datetime.fromisoformat(first["ends_at"]) + timedelta(minutes=20)
        await publish(settings, SweepTick(occurred_at=after_first, tick_at=after_first))
        await bus.wait_for(MenteeWarned, subscription_id=sid)
        # Week 2: the mentee joined while the session ran.
        joined_at = datetime.fromisoformat(attended["starts_at"]) + timedelta(minutes=2)
        await publish(
            settings,
            SessionJoined(
                occurred_at=joined_at,
                booking_id=attended["booking_id"],
                mentee_id=mentee.person.id,
                joined_at=joined_at,
            ),
        )
        await bus.wait_for(AttendanceMarked, booking_id=UUID(attended["booking_id"]))
        # Week 3: missed again; a new streak of one absence: warned, not reprobated.
        await publish(settings, SweepTick(occurred_at=now, tick_at=now))
        warnings = await bus.wait_for(MenteeWarned, 2, subscription_id=sid)
        assert [w.booking_id for w in warnings] == [
            UUID(first["booking_id"]),
            UUID(last["booking_id"]),
        ]
        assert [w.consecutive_absences for w in warnings] == [1, 1]
        # Both absences applied (each warned): all they caused is heard once attendance
        # has nothing left to publish.
        await service_settled(settings, "attendance", bus)
        assert bus.of(MenteeReprobated, subscription_id=sid) == []

    detail = await subscriber(gateway, mentor, subscription)
    assert detail["consecutive_absences"] == 1
    assert detail["absences"] == 2
    assert detail["is_reprobated"] is False


async def test_a_mentor_reactivates_a_reprobated_mentee_and_the_cycle_is_booked_again(
    settings: Settings, system: System, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=2,
        future_sessions=2,
    )
    await activate(settings, gateway, subscription, mentee, expected_bookings=4)
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await publish(settings, SweepTick(occurred_at=now, tick_at=now))
        await bus.wait_for(BookingsCancelled, subscription_id=subscription.subscription_id)

    path = f"/api/mentor/subscribers/{subscription.subscription_id}/reactivate"
    response = await gateway.post(path, headers=mentor.headers)
    assert response.status_code == 200, response.text
    assert response.json()["is_reprobated"] is False

    bookings = await eventually(
        lambda: mentee_bookings(gateway, mentee),
        lambda bs: sum(b["status"] == "scheduled" for b in bs) == 2,
        within=15,
    )
    # Each session once: the new bookings stand for the ones the reprobation cancelled.
    assert sorted(b["status"] for b in bookings) == ["scheduled"] * 2 + ["unattended"] * 2
    assert all(len(b["replaces"]) == 1 for b in bookings if b["status"] == "scheduled")
    again = await gateway.post(path, headers=mentor.headers)
    assert again.status_code == 409, again.text
    emails = await smtp.wait_for(mentee.person.email, 3, schedules=False)
    reactivation = [m for m in emails if m["Cc"] == mentor.person.email]
    assert len(reactivation) == 1


async def test_a_mentor_cannot_see_mark_or_reactivate_another_mentors_mentee(
    settings: Settings, system: System, gateway: httpx.AsyncClient
) -> None:
    mentee, mentor = people(settings)
    stranger = user(settings.jwt_secret, "mentor", "Other Mentor")
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=1,
        future_sessions=1,
    )
    bookings = await activate(settings, gateway, subscription, mentee, expected_bookings=2)
    sid = subscription.subscription_id

    listed = await gateway.get("/api/mentor/subscribers", headers=stranger.headers)
    assert listed.status_code == 200 and listed.json()["subscribers"] == []
    seen = await gateway.get(f"/api/mentor/subscribers/{sid}", headers=stranger.headers)
    assert seen.status_code == 403
    marked = await gateway.post(
        f"/api/mentor/bookings/{bookings[0]['booking_id']}/attendance",
        json={"attended": True},
        headers=stranger.headers,
    )
    assert marked.status_code == 403
    reactivated = await gateway.post(
        f"/api/mentor/subscribers/{sid}/reactivate", headers=stranger.headers
    )
    assert reactivated.status_code == 403
    as_mentee = await gateway.get("/api/mentor/subscribers", headers=mentee.headers)
    assert as_mentee.status_code == 403

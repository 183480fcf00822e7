"""Reminders and calendar invitations end to end, with REMINDER_HOURS_BEFORE=24,1 (a
system of its own, in a namespace of its own): the sweep tick reminds each booking
once per offset however often it is replayed, never a cancelled one, and every
cancellation (the mentee's, a reprobation, the subscription's end) withdraws the
invitation with a METHOD:CANCEL for the same UID, read back with `icalendar`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from icalendar import Calendar
from sqlalchemy import text

from contracts import (
    BookingReminderDue,
    BookingsCancelled,
    MenteeReprobated,
    SubscriptionEnded,
)
from services.kit.database import Database
from services.kit.settings import Settings
from tests.conftest import derived
from tests.e2e.conftest import system_with, tick
from tests.e2e.test_fair_marks import by_start, mark
from tests.e2e.test_lifecycle import LIFECYCLE_KEYS, activate, people
from tests.support.listening import listening, publish
from tests.support.settling import applied, service_settled
from tests.support.smtp import RecordingSMTPServer
from tests.support.waiting import eventually
from tests.support.world import weekly_subscription

pytestmark = pytest.mark.e2e
KEYS = [*LIFECYCLE_KEYS, "booking.reminder_due", "booking.cancelled"]


@pytest.fixture(scope="module")
def reminding_settings(settings: Settings) -> Settings:
    return derived(settings, "remind")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gateway(
    reminding_settings: Settings, smtp: RecordingSMTPServer
) -> AsyncIterator[httpx.AsyncClient]:
    """Booking, attendance, notifications and the gateway, reminding 24 and 1 hours
    ahead (no scheduler: the tests send their own ticks)."""
    async with system_with(reminding_settings, smtp, {"REMINDER_HOURS_BEFORE": "24,1"}) as client:
        yield client


def calendar_of(message: EmailMessage) -> Calendar:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert isinstance(part, EmailMessage)
    parsed = Calendar.from_ical(part.get_content())
    assert part.get_param("method") == parsed["method"]
    return parsed


def invitations(messages: list[EmailMessage]) -> list[tuple[str, str]]:
    """(METHOD, UID) of every event in the calendar parts of these emails."""
    found = []
    for message in messages:
        if any(p.get_content_type() == "text/calendar" for p in message.walk()):
            cal = calendar_of(message)
            found += [(str(cal["method"]), str(e["uid"])) for e in cal.walk("VEVENT")]
    return found


def uid(booking: dict[str, Any]) -> str:
    return f"{booking['booking_id']}@mentorship-attendance"


async def emails_about(smtp: RecordingSMTPServer, address: str, words: str) -> list[EmailMessage]:
    return [m for m in smtp.to(address) if words in m["Subject"]]


async def all_emailed(settings: Settings, events: list[BookingReminderDue]) -> None:
    """notifications has applied `events` and sent every email it queued: whatever they
    caused is at the SMTP server."""
    db = Database(settings, "notifications")
    try:
        await applied(db, events)

        async def queued() -> int:
            async with db.transaction() as tx:
                found = await tx.scalar(text("SELECT count(*) FROM emails WHERE status = 'queued'"))
            return int(found or 0)

        assert await eventually(queued, lambda n: n == 0) == 0
    finally:
        await db.dispose()


async def test_each_booking_is_reminded_once_per_offset_however_often_ticks_repeat(
    reminding_settings: Settings, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    settings = reminding_settings
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=-20),  # the first session starts in 20 hours
        past_sessions=1,
        future_sessions=1,
    )
    soon, next_week = by_start(await activate(settings, gateway, subscription, mentee, 2))
    sid = subscription.subscription_id
    starts = datetime.fromisoformat(soon["starts_at"])
    async with listening(settings, KEYS) as bus:
        # 24 h ahead: due; replayed.
        ticks = [await tick(settings, at) for at in (now, now, now + timedelta(minutes=30))]
        [first] = await bus.wait_for(BookingReminderDue, subscription_id=sid)
        await service_settled(settings, "booking", bus, ticks)
        for at in (starts - timedelta(minutes=40), starts - timedelta(minutes=20)):  # 1 h
            ticks.append(await tick(settings, at))
        reminders = await bus.wait_for(BookingReminderDue, 2, subscription_id=sid)
        await service_settled(settings, "booking", bus, ticks)
        reminders = bus.of(BookingReminderDue, subscription_id=sid)
    assert [(r.booking_id, r.hours_before) for r in reminders] == [
        (UUID(soon["booking_id"]), 24),
        (UUID(soon["booking_id"]), 1),
    ]
    assert first.due_at == now and reminders[1].due_at == starts - timedelta(minutes=40)

    for person in (mentee, mentor):
        await smtp.wait_for(person.person.email, 2, schedules=False)
        await all_emailed(settings, reminders)
        emails = smtp.to(person.person.email, schedules=False)
        assert len(emails) == 2, [m["Subject"] for m in emails]  # one per offset, no more
        assert all(m["Subject"].startswith("Reminder:") for m in emails)
        assert f"({subscription.slot.timezone})" in emails[0]["Subject"]
        assert invitations(emails) == [("REQUEST", uid(soon))] * 2
    assert uid(next_week) not in {u for _, u in invitations(smtp.to(mentee.person.email))}


async def test_a_cancelled_booking_is_never_reminded_and_its_invitation_is_withdrawn(
    reminding_settings: Settings, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    settings = reminding_settings
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=-20),
        past_sessions=1,
        future_sessions=1,
    )
    soon, next_week = by_start(await activate(settings, gateway, subscription, mentee, 2))
    sid = subscription.subscription_id
    async with listening(settings, KEYS) as bus:
        await tick(settings, now)
        await bus.wait_for(BookingReminderDue, subscription_id=sid)
        [invited] = await smtp.wait_for(mentee.person.email, schedules=False)
        for booking in (soon, next_week):
            cancelled = await gateway.post(
                f"/api/bookings/{booking['booking_id']}/cancel", headers=mentee.headers
            )
            assert cancelled.status_code == 200, cancelled.text
        # A week on, the second session would be due for both reminders.
        later = datetime.fromisoformat(next_week["starts_at"]) - timedelta(minutes=30)
        await service_settled(settings, "booking", bus, [await tick(settings, later)])
        assert len(bus.of(BookingReminderDue, subscription_id=sid)) == 1

    [request] = calendar_of(invited).walk("VEVENT")
    notices = await eventually(
        lambda: emails_about(smtp, mentee.person.email, "cancelled the session"),
        lambda found: len(found) == 2,
    )
    withdrawn = invitations(notices)
    assert sorted(withdrawn) == sorted([("CANCEL", uid(soon)), ("CANCEL", uid(next_week))])
    [cancel] = [
        e
        for m in notices
        for e in calendar_of(m).walk("VEVENT")
        if str(e["uid"]) == str(request["uid"])
    ]
    assert cancel["sequence"] > request["sequence"] and str(cancel["status"]) == "CANCELLED"
    assert all(m["To"] == mentor.person.email for m in notices)  # the mentee in Cc


async def test_a_reprobation_and_the_end_of_a_subscription_withdraw_what_was_invited(
    reminding_settings: Settings, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    settings = reminding_settings
    now = datetime.now(UTC)
    stories = []
    for _ in range(2):
        mentee, mentor = people(settings)
        subscription = weekly_subscription(
            mentee,
            mentor,
            now=now,
            session_started_ago=timedelta(hours=-20),
            past_sessions=3,
            future_sessions=1,
        )
        bookings = by_start(await activate(settings, gateway, subscription, mentee, 4))
        stories.append((mentee, mentor, subscription, bookings))
    (reprobated, its_mentor, first, first_bookings), (ending, _, second, second_bookings) = stories
    async with listening(settings, KEYS) as bus:
        # The first mentee attended their past sessions (so far): the tick only reminds.
        for booking in first_bookings[:2]:
            response = await mark(gateway, its_mentor.headers, booking["booking_id"], attended=True)
            assert response.status_code == 200, response.text
        for booking in second_bookings[:2]:
            response = await mark(
                gateway, stories[1][1].headers, booking["booking_id"], attended=True
            )
            assert response.status_code == 200, response.text
        await tick(settings, now)
        for subscription in (first, second):
            await bus.wait_for(BookingReminderDue, subscription_id=subscription.subscription_id)
        # Notifications has sent the invitations (a cancellation it handled first would
        # leave nothing to withdraw, and the late reminder unsent).
        for mentee in (reprobated, ending):
            await eventually(
                lambda m=mentee: emails_about(smtp, m.person.email, "Reminder:"),
                lambda found: len(found) == 1,
            )
        # Then the mentor corrects both marks: two absences in a row reprobate.
        for booking in first_bookings[:2]:
            response = await mark(
                gateway, its_mentor.headers, booking["booking_id"], attended=False
            )
            assert response.status_code == 200, response.text
        await bus.wait_for(MenteeReprobated, subscription_id=first.subscription_id)
        await publish(
            settings,
            SubscriptionEnded(
                occurred_at=now, subscription_id=second.subscription_id, ended_at=now
            ),
        )
        for subscription in (first, second):
            await bus.wait_for(BookingsCancelled, subscription_id=subscription.subscription_id)

    for mentee, bookings, because in (
        (reprobated, first_bookings, "reprobated"),
        (ending, second_bookings, "the subscription ended"),
    ):
        removed = await eventually(
            lambda m=mentee: emails_about(smtp, m.person.email, "is cancelled"),
            lambda found: len(found) == 1,
        )
        [email] = removed
        assert because in email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        # Only the session a reminder had put in the calendar: the one next week was
        # never invited.
        assert invitations(removed) == [("CANCEL", uid(bookings[2]))]

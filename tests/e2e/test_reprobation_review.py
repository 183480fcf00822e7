"""REPROBATION_REVIEW_HOURS end to end: a reached reprobation waits for the mentor, who
is emailed a link to review it; a waiver or a correction ends it, and otherwise the tick
at `due_at` applies it, once however often ticks repeat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest
import pytest_asyncio

from contracts import (
    BookingsCancelled,
    MenteeReprobated,
    MenteeReprobationPending,
    MenteeReprobationWaived,
    MenteeReprobationWithdrawn,
    SubscriptionActivated,
)
from services.kit.settings import Settings
from tests.conftest import derived
from tests.e2e.conftest import system_with, tick
from tests.e2e.test_fair_marks import by_start, mark
from tests.e2e.test_lifecycle import LIFECYCLE_KEYS, activate, people, subscriber
from tests.support.listening import Listener, listening
from tests.support.settling import service_settled
from tests.support.smtp import RecordingSMTPServer, plain_text
from tests.support.waiting import eventually
from tests.support.world import User, weekly_subscription

pytestmark = pytest.mark.e2e
PUBLIC_URL = "https://mentors.example.com"


@pytest.fixture(scope="module")
def review_settings(settings: Settings) -> Settings:
    return derived(settings, "review")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gateway(
    review_settings: Settings, smtp: RecordingSMTPServer
) -> AsyncIterator[httpx.AsyncClient]:
    env = {"REPROBATION_REVIEW_HOURS": "24", "PUBLIC_URL": PUBLIC_URL}
    async with system_with(review_settings, smtp, env) as client:
        yield client


async def quiet(
    settings: Settings, bus: Listener, event_type: type[MenteeReprobated], sid: object, at: datetime
) -> None:
    """A tick at `at` does nothing of `event_type` to `sid`: once attendance has applied it
    and all it wrote has been heard, nothing of it came."""
    await service_settled(settings, "attendance", bus, [await tick(settings, at)])
    assert bus.of(event_type, subscription_id=sid) == []


async def pending(
    settings: Settings, gateway: httpx.AsyncClient, mentee: User, mentor: User, now: datetime
) -> tuple[SubscriptionActivated, list[dict[str, object]], MenteeReprobationPending]:
    """Two past sessions missed, two to come; the tick at `now` finds both absences."""
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=2,
        future_sessions=2,
    )
    bookings = by_start(await activate(settings, gateway, subscription, mentee, 4))
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await tick(settings, now)
        [waiting] = await bus.wait_for(
            MenteeReprobationPending, subscription_id=subscription.subscription_id
        )
    detail = await eventually(
        lambda: subscriber(gateway, mentor, subscription),
        lambda d: d["reprobation_pending_until"] is not None,
    )
    assert detail["is_reprobated"] is False and detail["upcoming_bookings"] == 2
    assert datetime.fromisoformat(detail["reprobation_pending_until"]) == waiting.due_at
    return subscription, bookings, waiting


async def waive(
    gateway: httpx.AsyncClient, mentor: User, subscription_id: object, reason: str
) -> httpx.Response:
    return await gateway.post(
        f"/api/mentor/subscribers/{subscription_id}/waive",
        json={"reason": reason},
        headers=mentor.headers,
    )


async def test_pending_then_waived_nothing_is_cancelled_and_the_tick_applies_nothing(
    review_settings: Settings, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    settings = review_settings
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription, _, waiting = await pending(settings, gateway, mentee, mentor, now)
    sid = subscription.subscription_id
    assert waiting.due_at == now + timedelta(hours=24)

    # The mentor is asked to review, with a link to the subscriber's page.
    [review] = await eventually(
        lambda: _reviews(smtp, mentor), lambda found: len(found) >= 1, within=15
    )
    assert f"{PUBLIC_URL}/dashboard/mentorship/subscribers/{sid}" in plain_text(review)
    assert "Maria Mentee will be reprobated on" in review["Subject"]
    assert mentee.person.email not in (review["To"] or "") + (review["Cc"] or "")

    async with listening(settings, LIFECYCLE_KEYS) as bus:
        waived = await waive(gateway, mentor, sid, "both were the bank holiday weekend")
        assert waived.status_code == 200, waived.text
        assert waived.json()["reprobation_pending_until"] is None
        [event] = await bus.wait_for(MenteeReprobationWaived, subscription_id=sid)
        assert event.reason == "both were the bank holiday weekend"
        await tick(settings, waiting.due_at + timedelta(minutes=5))
        await quiet(settings, bus, MenteeReprobated, sid, waiting.due_at + timedelta(minutes=5))
    again = await waive(gateway, mentor, sid, "again")
    assert again.status_code == 409 and "no reprobation is pending" in again.text
    empty = await waive(gateway, mentor, sid, " ")
    assert empty.status_code == 422
    detail = await subscriber(gateway, mentor, subscription)
    assert detail["is_reprobated"] is False and detail["upcoming_bookings"] == 2
    assert detail["consecutive_absences"] == 0


async def _reviews(smtp: RecordingSMTPServer, mentor: User) -> list[EmailMessage]:
    return [m for m in smtp.to(mentor.person.email) if "will be reprobated" in m["Subject"]]


async def test_pending_then_corrected_below_the_threshold_is_withdrawn(
    review_settings: Settings, gateway: httpx.AsyncClient
) -> None:
    settings = review_settings
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription, bookings, waiting = await pending(settings, gateway, mentee, mentor, now)
    sid = subscription.subscription_id
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        corrected = await mark(
            gateway, mentor.headers, str(bookings[0]["booking_id"]), status="excused"
        )
        assert corrected.status_code == 200, corrected.text
        await bus.wait_for(MenteeReprobationWithdrawn, subscription_id=sid)
        await quiet(settings, bus, MenteeReprobated, sid, waiting.due_at)
    detail = await subscriber(gateway, mentor, subscription)
    assert detail["reprobation_pending_until"] is None and detail["upcoming_bookings"] == 2
    assert detail["consecutive_absences"] == 1


async def test_pending_is_applied_by_the_tick_at_due_at_once_however_ticks_repeat(
    review_settings: Settings, gateway: httpx.AsyncClient
) -> None:
    settings = review_settings
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription, _, waiting = await pending(settings, gateway, mentee, mentor, now)
    sid = subscription.subscription_id
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await quiet(settings, bus, MenteeReprobated, sid, waiting.due_at - timedelta(minutes=1))
        ticks = [
            await tick(settings, at)
            for at in (waiting.due_at, waiting.due_at, waiting.due_at + timedelta(hours=1))
        ]
        [reprobation] = await bus.wait_for(MenteeReprobated, subscription_id=sid)
        [cancelled] = await bus.wait_for(BookingsCancelled, subscription_id=sid)
        await service_settled(settings, "attendance", bus, ticks)
        assert len(bus.of(MenteeReprobated, subscription_id=sid)) == 1
    assert reprobation.reprobated_at == waiting.due_at
    assert reprobation.missed_booking_ids == waiting.missed_booking_ids
    assert cancelled.reason == "reprobation" and len(cancelled.booking_ids) == 2
    detail = await eventually(
        lambda: subscriber(gateway, mentor, subscription), lambda d: d["upcoming_bookings"] == 0
    )
    assert detail["is_reprobated"] is True and detail["reprobation_pending_until"] is None
    late = await waive(gateway, mentor, sid, "late")
    assert late.status_code == 409 and "reactivate instead" in late.text

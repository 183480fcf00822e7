"""REPROBATION_ENDS end to end: a paid renewal (`at_renewal`) or the days passing
(`after_days:N`, applied by the sweep tick) lifts a reprobation, books the sessions
left, and tells the mentee why; the mentor's API says which policy applies and when."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest
import pytest_asyncio

from contracts import (
    MenteeReactivated,
    MenteeReprobated,
    SubscriptionActivated,
    SubscriptionRenewed,
)
from services.kit.settings import Settings
from tests.conftest import derived
from tests.e2e.conftest import system_with, tick
from tests.e2e.test_lifecycle import LIFECYCLE_KEYS, activate, mentee_bookings, people, subscriber
from tests.support.listening import listening, publish
from tests.support.settling import service_settled
from tests.support.smtp import RecordingSMTPServer, plain_text
from tests.support.waiting import eventually
from tests.support.world import User, weekly_subscription

pytestmark = pytest.mark.e2e
BOOKED_AGAIN = "Your mentorship sessions are booked again"


@pytest.fixture(scope="module")
def renewal_settings(settings: Settings) -> Settings:
    return derived(settings, "lift_renewal")


@pytest.fixture(scope="module")
def expiry_settings(settings: Settings) -> Settings:
    return derived(settings, "lift_expiry")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def renewing(
    renewal_settings: Settings, smtp: RecordingSMTPServer
) -> AsyncIterator[httpx.AsyncClient]:
    async with system_with(renewal_settings, smtp, {"REPROBATION_ENDS": "at_renewal"}) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def expiring(
    expiry_settings: Settings, smtp: RecordingSMTPServer
) -> AsyncIterator[httpx.AsyncClient]:
    async with system_with(expiry_settings, smtp, {"REPROBATION_ENDS": "after_days:3"}) as client:
        yield client


async def reprobated(
    settings: Settings, gateway: httpx.AsyncClient, mentee: User, mentor: User, now: datetime
) -> tuple[SubscriptionActivated, MenteeReprobated]:
    """A subscription with two past sessions missed and two to come, reprobated by the
    tick at `now`; its remaining sessions cancelled."""
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
        await tick(settings, now)
        [reprobation] = await bus.wait_for(
            MenteeReprobated, subscription_id=subscription.subscription_id
        )
    await eventually(
        lambda: subscriber(gateway, mentor, subscription),
        lambda d: d["is_reprobated"] and d["upcoming_bookings"] == 0,
    )
    return subscription, reprobation


async def booked_again_email(smtp: RecordingSMTPServer, mentee: User) -> EmailMessage:
    emails = await eventually(
        lambda: _about(smtp, mentee, BOOKED_AGAIN), lambda found: len(found) >= 1, within=15
    )
    [email] = emails
    return email


async def _about(smtp: RecordingSMTPServer, mentee: User, subject: str) -> list[EmailMessage]:
    return [m for m in smtp.to(mentee.person.email) if m["Subject"] == subject]


async def test_at_renewal_a_paid_renewal_lifts_the_reprobation_and_books_the_new_cycle(
    renewal_settings: Settings, renewing: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    settings, gateway = renewal_settings, renewing
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription, _ = await reprobated(settings, gateway, mentee, mentor, now)
    detail = await subscriber(gateway, mentor, subscription)
    assert detail["reprobation_ends"] == "at_renewal"
    assert datetime.fromisoformat(detail["reprobation_lifts_at"]) == subscription.cycle_ends_at

    renewal = SubscriptionRenewed(
        occurred_at=subscription.cycle_ends_at,
        subscription_id=subscription.subscription_id,
        cycle_starts_at=subscription.cycle_ends_at,
        cycle_ends_at=subscription.cycle_ends_at + timedelta(weeks=4),
    )
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await publish(settings, renewal)
        [lifted] = await bus.wait_for(
            MenteeReactivated, subscription_id=subscription.subscription_id
        )
    assert (lifted.lifted_by, lifted.reactivated_at) == ("renewal", renewal.cycle_starts_at)
    assert lifted.cycle_ends_at == renewal.cycle_ends_at

    # The new cycle is booked once, whichever of renewal and lift booking saw first.
    bookings = await eventually(
        lambda: mentee_bookings(gateway, mentee),
        lambda found: sum(b["status"] == "scheduled" for b in found) >= 4,
    )
    scheduled = [b for b in bookings if b["status"] == "scheduled"]
    assert len(scheduled) == 4, bookings
    assert all(datetime.fromisoformat(b["starts_at"]) > renewal.cycle_starts_at for b in scheduled)
    detail = await eventually(
        lambda: subscriber(gateway, mentor, subscription), lambda d: d["upcoming_bookings"] == 4
    )
    assert detail["is_reprobated"] is False and detail["reprobation_lifts_at"] is None

    text = plain_text(await booked_again_email(smtp, mentee))
    assert "Your subscription has renewed, which lifts your reprobation" in text
    assert text.count(" at ") >= 4  # the four sessions of the new cycle, listed


async def test_after_days_the_first_tick_n_days_later_lifts_it_once_however_ticks_repeat(
    expiry_settings: Settings, expiring: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    settings, gateway = expiry_settings, expiring
    mentee, mentor = people(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    subscription, reprobation = await reprobated(settings, gateway, mentee, mentor, now)
    due = reprobation.reprobated_at + timedelta(days=3)
    detail = await subscriber(gateway, mentor, subscription)
    assert detail["reprobation_ends"] == "after_days:3"
    assert datetime.fromisoformat(detail["reprobation_lifts_at"]) == due

    sid = subscription.subscription_id
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        early = await tick(settings, due - timedelta(minutes=1))
        await service_settled(settings, "attendance", bus, [early])
        assert bus.of(MenteeReactivated, subscription_id=sid) == []
        # The first tick after the day, replayed, then the next.
        ticks = [
            await tick(settings, at)
            for at in (
                due + timedelta(minutes=5),
                due + timedelta(minutes=5),
                due + timedelta(hours=1),
            )
        ]
        [lifted] = await bus.wait_for(MenteeReactivated, subscription_id=sid)
        await service_settled(settings, "attendance", bus, ticks)
        assert len(bus.of(MenteeReactivated, subscription_id=sid)) == 1
    assert (lifted.lifted_by, lifted.reactivated_at) == ("expiry", due)

    # The two sessions left in the cycle after the day are booked again.
    bookings = await eventually(
        lambda: mentee_bookings(gateway, mentee),
        lambda found: sum(b["status"] == "scheduled" for b in found) >= 2,
    )
    scheduled = [b for b in bookings if b["status"] == "scheduled"]
    assert len(scheduled) == 2 and all(
        datetime.fromisoformat(b["starts_at"]) > due for b in scheduled
    )
    detail = await subscriber(gateway, mentor, subscription)
    assert detail["is_reprobated"] is False and detail["consecutive_absences"] == 0

    history = await gateway.get(f"/api/mentor/subscribers/{sid}/history", headers=mentor.headers)
    [lift] = [h for h in history.json()["history"] if h["kind"] == "reactivation"]
    assert (lift["actor"], lift["reason"]) == ("system", "lifted 3 days after the reprobation")
    assert "Your reprobation has run its time" in plain_text(await booked_again_email(smtp, mentee))

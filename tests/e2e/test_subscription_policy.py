"""A subscription's own absence policy end to end (subscription.activated's `policy`,
from Stripe metadata): under the service's defaults one subscription is reprobated at
its second absence, and one that brought its own at its third, lifted by a tick days
later; the mentor's API says which policy is in force."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio

from contracts import (
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    SubscriptionActivated,
    SubscriptionPolicy,
)
from services.kit.settings import Settings
from tests.conftest import derived
from tests.e2e.conftest import system_with, tick
from tests.e2e.test_lifecycle import LIFECYCLE_KEYS, activate, people, subscriber
from tests.support.listening import listening
from tests.support.settling import service_settled
from tests.support.smtp import RecordingSMTPServer
from tests.support.waiting import eventually
from tests.support.world import weekly_subscription

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_settings(settings: Settings) -> Settings:
    return derived(settings, "ownpolicy")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gateway(
    own_settings: Settings, smtp: RecordingSMTPServer
) -> AsyncIterator[httpx.AsyncClient]:
    """The service defaults (a week later sweeps every session of the namespace, so the
    module has one of its own)."""
    async with system_with(own_settings, smtp, {}) as client:
        yield client


async def test_a_subscriptions_own_thresholds_and_ending_win_over_the_settings(
    own_settings: Settings, gateway: httpx.AsyncClient
) -> None:
    settings = own_settings
    mentee, mentor = people(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    # Four absences within 30 days would reprobate too: three in a row come first.
    own = SubscriptionPolicy(
        reprobate_after_absences=3,
        reprobation_ends="after_days:2",
        reprobate_after_absences_in_days="4:30",
    )
    subs = {
        name: weekly_subscription(
            mentee,
            mentor,
            now=now,
            session_started_ago=timedelta(hours=3),
            past_sessions=2,
            future_sessions=2,
        ).model_copy(update={"policy": policy})
        for name, policy in (("settings", None), ("own", own))
    }
    for sub in subs.values():
        await activate(settings, gateway, sub, mentee, expected_bookings=4)

    async def known_to_attendance(sub: SubscriptionActivated) -> int:
        url = f"/api/mentor/subscribers/{sub.subscription_id}"
        return (await gateway.get(url, headers=mentor.headers)).status_code

    for sub in subs.values():  # the activation reaches attendance on a queue of its own
        await eventually(lambda s=sub: known_to_attendance(s), lambda code: code == 200)
    detail = await subscriber(gateway, mentor, subs["own"])
    assert (detail["policy_from"], detail["reprobate_after_absences"]) == ("subscription", 3)
    assert detail["reprobation_ends"] == "after_days:2"
    assert detail["reprobate_after_absences_in_days"] == "4:30"
    plain = await subscriber(gateway, mentor, subs["settings"])
    assert (plain["policy_from"], plain["reprobate_after_absences"]) == ("settings", 2)
    assert plain["reprobate_after_absences_in_days"] is None  # off in the settings

    mine, theirs = subs["own"].subscription_id, subs["settings"].subscription_id
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await tick(settings, now)
        await bus.wait_for(MenteeReprobated, subscription_id=theirs)
        await bus.wait_for(MenteeWarned, subscription_id=mine)
        # Both absences applied, and all attendance wrote about them heard: no reprobation.
        await eventually(
            lambda: subscriber(gateway, mentor, subs["own"]),
            lambda d: d["consecutive_absences"] == 2,
        )
        await service_settled(settings, "attendance", bus)
        assert bus.of(MenteeReprobated, subscription_id=mine) == []
        # A week later the third absence reprobates it; two days after, a tick lifts it.
        third = now + timedelta(weeks=1)
        await tick(settings, third)
        [reprobation] = await bus.wait_for(MenteeReprobated, subscription_id=mine)
        await tick(settings, reprobation.reprobated_at + timedelta(days=2))
        [lifted] = await bus.wait_for(MenteeReactivated, subscription_id=mine)
        assert bus.of(MenteeReactivated, subscription_id=theirs) == []  # only the mentor's
    assert reprobation.reprobated_at == third
    assert len(reprobation.missed_booking_ids) == 3
    assert (lifted.lifted_by, lifted.reactivated_at) == ("expiry", third + timedelta(days=2))

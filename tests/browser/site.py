"""A site for the dashboard's browser tests: booking, attendance and the gateway in this
process, with one subscription whose past sessions were missed (and, if asked, other
mentees' of the same mentor), swept by a tick."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

import httpx

from contracts import SubscriptionActivated, SweepTick
from services.attendance.app import create_app as attendance_app
from services.booking.app import create_app as booking_app
from services.gateway.app import create_app as gateway_app
from services.kit.health import serve
from services.kit.settings import Settings
from services.notifications.app import create_app as notifications_app
from tests.support.listening import publish
from tests.support.system import free_port
from tests.support.waiting import eventually
from tests.support.world import User, user, weekly_subscription

Swept = Callable[[dict[str, Any]], object]

# When the other mentees' later missed session started.
OTHERS_MISSED_AGO = timedelta(hours=3)


@dataclass(frozen=True)
class Subscriber:
    mentee: User
    subscription: SubscriptionActivated
    # As the mentor's API shows it after the sweep.
    swept: dict[str, Any]


@dataclass(frozen=True)
class Site:
    base: str
    mentor: User
    mentee: User
    subscription: SubscriptionActivated
    # The gateway's API, as the mentor (pass other headers to act as the mentee).
    api: httpx.AsyncClient
    # The subscriber as the mentor's API shows it after the sweep.
    swept: dict[str, Any]
    # The mentor's other subscribers (`swept_site`'s `others`), by the mentee's name.
    others: Mapping[str, Subscriber] = field(default_factory=dict)


def missed_twice(
    settings: Settings, mentee_name: str, swept: Swept
) -> AbstractAsyncContextManager[Site]:
    """The site, once the tick's outcome for the subscription satisfies `swept`."""
    return swept_site(settings, mentee_name, swept, session_started_ago=timedelta(hours=3))


@asynccontextmanager
async def swept_site(
    settings: Settings,
    mentee_name: str,
    swept: Swept,
    *,
    session_started_ago: timedelta,
    notifications: bool = False,
    others: Mapping[str, Swept] | None = None,
) -> AsyncIterator[Site]:
    """The site with one subscription of two past sessions (the later one started
    `session_started_ago`) and two ahead, once the tick at now satisfies `swept`; with
    `notifications`, that service too (calendar feeds; its emails go to SMTP_PORT).
    `others` names more mentees of the mentor, each with two past sessions (the later
    started OTHERS_MISSED_AGO) and two ahead, swept by the same tick until their own
    predicate holds."""
    apps = [booking_app(settings), attendance_app(settings)]
    if notifications:
        apps.append(notifications_app(settings))
    for app in apps:
        await app.start()
    port = free_port()
    server = asyncio.create_task(serve(gateway_app(settings), "127.0.0.1", port))
    mentor = user(settings.jwt_secret, "mentor", "Otto Mentor")
    now = datetime.now(UTC)

    def subscribed(name: str, started_ago: timedelta) -> tuple[User, SubscriptionActivated]:
        mentee = user(settings.jwt_secret, "mentee", name)
        subscription = weekly_subscription(
            mentee,
            mentor,
            now=now,
            session_started_ago=started_ago,
            past_sessions=2,
            future_sessions=2,
        )
        return mentee, subscription

    others = others or {}
    mentee, subscription = subscribed(mentee_name, session_started_ago)
    more = {name: subscribed(name, OTHERS_MISSED_AGO) for name in others}
    outcomes = {subscription.subscription_id: swept}
    outcomes |= {s.subscription_id: others[name] for name, (_, s) in more.items()}
    base = f"http://127.0.0.1:{port}"
    try:
        await publish(settings, subscription, *(s for _, s in more.values()))
        async with httpx.AsyncClient(base_url=base, headers=mentor.headers) as api:
            found = await _ticked(settings, api, now, outcomes)
            yield Site(
                base,
                mentor,
                mentee,
                subscription,
                api,
                found[subscription.subscription_id],
                {name: Subscriber(m, s, found[s.subscription_id]) for name, (m, s) in more.items()},
            )
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        for app in apps:
            await app.stop()


async def _ticked(
    settings: Settings, api: httpx.AsyncClient, now: datetime, outcomes: Mapping[UUID, Swept]
) -> dict[UUID, dict[str, Any]]:
    """Once booking has booked each subscription's two sessions ahead, the tick at `now`;
    then each subscription as the mentor's API shows it once it satisfies its outcome."""

    async def detail(subscription_id: UUID) -> dict[str, Any]:
        try:
            response = await api.get(f"/api/mentor/subscribers/{subscription_id}")
        except httpx.ConnectError:  # the gateway is not listening yet
            return {}
        return dict(response.json()) if response.status_code == 200 else {}

    for subscription_id in outcomes:
        booked = partial(detail, subscription_id)
        await eventually(booked, lambda d: d.get("upcoming_bookings") == 2, within=20)
    await publish(settings, SweepTick(occurred_at=now, tick_at=now))
    found = {}
    for subscription_id, swept in outcomes.items():
        seen = partial(detail, subscription_id)
        found[subscription_id] = await eventually(seen, partial(_satisfies, swept), within=20)
    return found


def _satisfies(swept: Swept, detail: dict[str, Any]) -> bool:
    return bool(detail) and bool(swept(detail))

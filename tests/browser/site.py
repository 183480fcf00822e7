"""A site for the dashboard's browser tests: booking, attendance and the gateway in this
process, with one subscription whose past sessions were missed, swept by a tick."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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


def missed_twice(
    settings: Settings, mentee_name: str, swept: Callable[[dict[str, Any]], object]
) -> AbstractAsyncContextManager[Site]:
    """The site, once the tick's outcome for the subscription satisfies `swept`."""
    return swept_site(settings, mentee_name, swept, session_started_ago=timedelta(hours=3))


@asynccontextmanager
async def swept_site(
    settings: Settings,
    mentee_name: str,
    swept: Callable[[dict[str, Any]], object],
    *,
    session_started_ago: timedelta,
    notifications: bool = False,
) -> AsyncIterator[Site]:
    """The site with one subscription of two past sessions (the later one started
    `session_started_ago`) and two ahead, once the tick at now satisfies `swept`; with
    `notifications`, that service too (calendar feeds; its emails go to SMTP_PORT)."""
    apps = [booking_app(settings), attendance_app(settings)]
    if notifications:
        apps.append(notifications_app(settings))
    for app in apps:
        await app.start()
    port = free_port()
    server = asyncio.create_task(serve(gateway_app(settings), "127.0.0.1", port))
    mentor = user(settings.jwt_secret, "mentor", "Otto Mentor")
    mentee = user(settings.jwt_secret, "mentee", mentee_name)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=session_started_ago,
        past_sessions=2,
        future_sessions=2,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await publish(settings, subscription)
        async with httpx.AsyncClient(base_url=base, headers=mentor.headers) as api:

            async def detail() -> dict[str, Any]:
                url = f"/api/mentor/subscribers/{subscription.subscription_id}"
                try:
                    response = await api.get(url)
                except httpx.ConnectError:  # the gateway is not listening yet
                    return {}
                return dict(response.json()) if response.status_code == 200 else {}

            await eventually(detail, lambda d: d.get("upcoming_bookings") == 2, within=20)
            await publish(settings, SweepTick(occurred_at=now, tick_at=now))
            found = await eventually(detail, lambda d: bool(d) and bool(swept(d)), within=20)
            yield Site(base, mentor, mentee, subscription, api, found)
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        for app in apps:
            await app.stop()

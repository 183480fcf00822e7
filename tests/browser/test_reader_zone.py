"""The mentor's pages in one clock, the reader's: the mentor's own zone when the platform
knows it, else the browser's; the mentee's local time beside a session where it differs.
Real Chromium, against the real booking, attendance and notifications services."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from contracts import SubscriptionActivated
from contracts.rpc import ListSubscribers, SubscribersReply
from services.attendance.app import create_app as attendance_app
from services.booking.app import create_app as booking_app
from services.gateway.app import create_app as gateway_app
from services.gateway.owners import Owners
from services.kit.health import serve
from services.kit.messaging import Messaging
from services.kit.settings import Settings
from services.notifications.app import create_app as notifications_app
from tests.browser.test_dashboard import CHROMIUM, shot
from tests.conftest import derived
from tests.support.listening import publish
from tests.support.smtp import RecordingSMTPServer
from tests.support.system import free_port
from tests.support.waiting import eventually
from tests.support.world import User, user, weekly_subscription

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]

# Each mentee's slot in a zone of their own, their latest session some hours ago.
MENTEES = {
    "Lara Lisbon": ("Europe/Lisbon", "Lisbon", 3),
    "Ladi Lagos": ("Africa/Lagos", "Lagos", 5),
    "Taro Tokyo": ("Asia/Tokyo", "Tokyo", 7),
    "Nia New York": ("America/New_York", "New York", 9),
    "Sofia Sao Paulo": ("America/Sao_Paulo", "Sao Paulo", 11),
}
# Half an hour off every mentee's zone, so nothing reads alike; not Asia/Kolkata, which
# Chromium calls by its old name, Asia/Calcutta.
BROWSER_ZONE = "Australia/Adelaide"


@pytest.fixture(scope="module")
def settings(settings: Settings, smtp: RecordingSMTPServer) -> Settings:
    return derived(settings, "zone").model_copy(update={"smtp_port": smtp.port})


@dataclass
class World:
    nomad: User  # gave the platform no zone: their browser's is used
    settled: User  # gave America/Sao_Paulo
    subs: dict[tuple[str, str], SubscriptionActivated]  # by (mentor's name, mentee's name)
    now: datetime


def new_world(settings: Settings) -> World:
    secret, now = settings.jwt_secret, datetime.now(UTC)
    nomad = user(secret, "mentor", "Nora Nomad")
    settled = user(secret, "mentor", "Sam Settled")
    subs = {}
    for mentor, mentor_zone, names in (
        (nomad, None, list(MENTEES)),
        (settled, "America/Sao_Paulo", ["Lara Lisbon", "Sofia Sao Paulo"]),
    ):
        for name in names:
            zone, _, hours_ago = MENTEES[name]
            subs[(mentor.person.name, name)] = weekly_subscription(
                user(secret, "mentee", name),
                mentor,
                now=now,
                session_started_ago=timedelta(hours=hours_ago),
                past_sessions=1,
                future_sessions=2,
                zone=zone,
                mentor_zone=mentor_zone,
            )
    return World(nomad, settled, subs, now)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def world(settings: Settings) -> AsyncIterator[tuple[World, str]]:
    apps = [booking_app(settings), attendance_app(settings), notifications_app(settings)]
    for app in apps:
        await app.start()
    port = free_port()
    server = asyncio.create_task(serve(gateway_app(settings), "127.0.0.1", port))
    w = new_world(settings)
    messaging = Messaging(settings, "gateway")
    try:
        await publish(settings, *w.subs.values())
        await messaging.declare()
        await messaging.broker.start()
        owners = Owners(messaging, 5)
        for mentor, count in ((w.nomad, len(MENTEES)), (w.settled, 2)):

            async def booked(mentor: User = mentor) -> int:
                ask = ListSubscribers(mentor_id=mentor.person.id, now=w.now)
                reply = await owners.ask(ask, SubscribersReply)
                return sum(s.upcoming_bookings == 2 for s in reply.subscribers)

            await eventually(booked, lambda n, count=count: n == count, within=20)
        yield w, f"http://127.0.0.1:{port}"
    finally:
        await messaging.broker.stop()
        await messaging.close()
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        for app in apps:
            await app.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        await chromium.close()


async def in_zone(
    browser: Browser, base: str, who: User, zone: str, *, scripts: bool = True
) -> BrowserContext:
    """A browser whose clock is in `zone`, signed in as `who`, that has not been here."""
    context = await browser.new_context(
        viewport={"width": 1100, "height": 900}, timezone_id=zone, java_script_enabled=scripts
    )
    await context.add_cookies([{"name": "session", "value": who.token, "url": base}])
    return context


def shown(moment: datetime, zone: str) -> str:
    return f"{moment.astimezone(ZoneInfo(zone)):%a %d %b %Y, %H:%M}"


def for_the_mentee(moment: datetime, mentee: str, reader_zone: str) -> str:
    """The words beside a session for the mentee's local time, as the page should say."""
    zone, place, _ = MENTEES[mentee]
    theirs, ours = moment.astimezone(ZoneInfo(zone)), moment.astimezone(ZoneInfo(reader_zone))
    if theirs.replace(tzinfo=None) == ours.replace(tzinfo=None):
        return ""
    day = "" if theirs.date() == ours.date() else f"{theirs:%a %d %b}, "
    return f" · {day}{theirs:%H:%M} for the mentee in {place}"


def next_session(sub: SubscriptionActivated, now: datetime) -> datetime:
    return next(start for start, _ in sub.slot.occurrences(now, sub.cycle_ends_at))


async def zone_named_once(page: Page, words: str) -> None:
    """The page names the zone it reads in once, and no mentee's zone besides."""
    await expect(page.locator("[data-reader-zone]")).to_have_count(1)
    await expect(page.locator("[data-reader-zone]")).to_have_text(f"Times are {words}.")
    text = await page.locator("main").inner_text()
    named = words.split(",")[0]
    if named != "UTC":  # the export's days are UTC's, and say so
        assert text.count(named) == 1
    assert [z for z, _, _ in MENTEES.values() if z in text and z not in words] == []


async def test_a_first_visit_reads_the_list_and_a_subscriber_in_the_browsers_zone(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    context = await in_zone(browser, base, w.nomad, BROWSER_ZONE)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    # Rendered in UTC before the server knew; the script tells it and loads the page again.
    await zone_named_once(page, "Adelaide time (Australia/Adelaide), your browser's time zone")
    assert {"name": "tz", "value": BROWSER_ZONE} in [
        {"name": c["name"], "value": c["value"]} for c in await context.cookies()
    ]
    for mentee in MENTEES:
        starts = next_session(w.subs[("Nora Nomad", mentee)], w.now)
        row = page.locator("table.subscribers tbody tr", has_text=mentee)
        await expect(row.locator(".next")).to_have_text(
            shown(starts, BROWSER_ZONE) + for_the_mentee(starts, mentee, BROWSER_ZONE)
        )
    await shot(page, "reader-zone-subscribers")

    lara = w.subs[("Nora Nomad", "Lara Lisbon")]
    await page.goto(f"{base}/dashboard/mentorship/subscribers/{lara.subscription_id}")
    await zone_named_once(page, "Adelaide time (Australia/Adelaide), your browser's time zone")
    sessions = page.locator("table.bookings td[data-label=Session]")
    starts = [start for start, _ in lara.slot.occurrences(lara.cycle_starts_at, lara.cycle_ends_at)]
    await expect(sessions).to_have_text(
        [shown(s, BROWSER_ZONE) + for_the_mentee(s, "Lara Lisbon", BROWSER_ZONE) for s in starts]
    )
    await shot(page, "reader-zone-subscriber")
    await context.close()


async def test_the_mentors_own_zone_wins_over_the_browsers(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    context = await in_zone(browser, base, w.settled, BROWSER_ZONE)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    await zone_named_once(page, "Sao Paulo time (America/Sao_Paulo), your time zone")
    await page.evaluate("window.__loadedOnce = true")
    for mentee in ("Lara Lisbon", "Sofia Sao Paulo"):
        starts = next_session(w.subs[("Sam Settled", mentee)], w.now)
        row = page.locator("table.subscribers tbody tr", has_text=mentee)
        await expect(row.locator(".next")).to_have_text(
            shown(starts, "America/Sao_Paulo") + for_the_mentee(starts, mentee, "America/Sao_Paulo")
        )
    # The mentee in the mentor's own zone: nothing to add.
    sofia = page.locator("table.subscribers tbody tr", has_text="Sofia Sao Paulo")
    await expect(sofia.locator(".mentee-time")).to_have_count(0)
    # No reload, nor one asked for: the page's script notes the zone it reloads for
    # (synchronously, right before reloading), and it noted none.
    assert await page.evaluate("sessionStorage.getItem('tz-reloaded')") is None
    assert await page.evaluate("window.__loadedOnce") is True
    await shot(page, "reader-zone-mentors-own")
    await context.close()


async def test_without_scripts_the_page_reads_in_utc_and_says_so(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    context = await in_zone(browser, base, w.nomad, BROWSER_ZONE, scripts=False)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    await zone_named_once(page, "UTC")
    starts = next_session(w.subs[("Nora Nomad", "Taro Tokyo")], w.now)
    row = page.locator("table.subscribers tbody tr", has_text="Taro Tokyo")
    await expect(row.locator(".next")).to_have_text(
        shown(starts, "UTC") + for_the_mentee(starts, "Taro Tokyo", "UTC")
    )
    # A zone the server does not know, in the cookie, is no zone.
    await context.add_cookies([{"name": "tz", "value": "Mars/Olympus_Mons", "url": base}])
    await page.reload()
    await zone_named_once(page, "UTC")
    await context.add_cookies([{"name": "tz", "value": "Africa/Lagos", "url": base}])
    await page.reload()
    await zone_named_once(page, "Lagos time (Africa/Lagos), your browser's time zone")
    await context.close()

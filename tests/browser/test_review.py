"""The review window in real Chromium: a mentor waives a pending reprobation from the
subscriber's page, and a stale page's waiver is refused in words."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from contracts import SweepTick
from services.attendance.app import create_app as attendance_app
from services.booking.app import create_app as booking_app
from services.gateway.app import create_app as gateway_app
from services.kit.health import serve
from services.kit.settings import Settings
from tests.browser.test_dashboard import CHROMIUM, browser, shot, signed_in
from tests.conftest import derived
from tests.support.listening import publish
from tests.support.system import free_port
from tests.support.waiting import eventually
from tests.support.world import user, weekly_subscription

__all__ = ["browser"]  # the module's Chromium, shared with the dashboard's tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return derived(settings, "uireview").model_copy(update={"reprobation_review_hours": 24})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def site(settings: Settings) -> AsyncIterator[tuple[str, object, object]]:
    """Booking, attendance and the gateway in this process; one subscription whose two
    missed sessions made its reprobation pending."""
    apps = [booking_app(settings), attendance_app(settings)]
    for app in apps:
        await app.start()
    port = free_port()
    server = asyncio.create_task(serve(gateway_app(settings), "127.0.0.1", port))
    mentor = user(settings.jwt_secret, "mentor", "Otto Mentor")
    mentee = user(settings.jwt_secret, "mentee", "Pia Pending")
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=2,
        future_sessions=2,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await publish(settings, subscription)
        async with httpx.AsyncClient(base_url=base, headers=mentor.headers) as api:

            async def detail() -> dict[str, object]:
                url = f"/api/mentor/subscribers/{subscription.subscription_id}"
                try:
                    response = await api.get(url)
                except httpx.ConnectError:  # the gateway is not listening yet
                    return {}
                return dict(response.json()) if response.status_code == 200 else {}

            await eventually(detail, lambda d: d.get("upcoming_bookings") == 2, within=20)
            await publish(settings, SweepTick(occurred_at=now, tick_at=now))
            await eventually(detail, lambda d: d.get("reprobation_pending_until"), within=20)
        yield base, mentor, subscription
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        for app in apps:
            await app.stop()


async def test_a_mentor_waives_a_pending_reprobation_and_a_stale_page_is_told_in_words(
    site: tuple[str, object, object], browser: Browser
) -> None:
    base, mentor, subscription = site
    sid = subscription.subscription_id  # type: ignore[attr-defined]
    context = await signed_in(browser, base, mentor)  # type: ignore[arg-type]
    page, stale = await context.new_page(), await context.new_page()
    for p in (page, stale):
        await p.goto(f"{base}/dashboard/mentorship/subscribers/{sid}")
    await expect(page.locator("#pending")).to_contain_text("reached the reprobation threshold")
    await expect(page.locator("#upcoming")).to_have_text("2")
    await page.evaluate("window.__loadedOnce = true")
    await shot(page, "subscriber-pending")

    # The reason is required: the browser will not send the form without one.
    await page.get_by_role("button", name="Waive the reprobation").click()
    await expect(page.locator("#pending")).to_be_visible()
    await page.get_by_label("Why you waive it").fill("both were the bank holiday weekend")
    await page.get_by_role("button", name="Waive the reprobation").click()
    await expect(page.locator("#pending")).to_have_count(0)
    await expect(page.locator("#consecutive")).to_have_text("0")
    await expect(page.locator("#upcoming")).to_have_text("2")
    latest = page.locator("table.history tbody tr").first
    await expect(latest.locator(".what")).to_have_text("reprobation waived")
    await expect(latest).to_contain_text("both were the bank holiday weekend")
    assert await page.evaluate("window.__loadedOnce") is True  # no reload happened
    await shot(page, "subscriber-waived")

    # The other tab still offers the waiver: the service refuses it, in words.
    await stale.get_by_label("Why you waive it").fill("me too")
    await stale.get_by_role("button", name="Waive the reprobation").click()
    await expect(stale.locator("#notice")).to_contain_text("no reprobation is pending")
    await context.close()

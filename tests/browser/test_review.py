"""The review window in real Chromium: a mentor waives a pending reprobation from the
subscriber's page, and a stale page's waiver is refused in words."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from services.kit.settings import Settings
from tests.browser.site import Site, missed_twice
from tests.browser.test_dashboard import CHROMIUM, browser, shot, signed_in
from tests.conftest import derived

__all__ = ["browser"]  # the module's Chromium, shared with the dashboard's tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return derived(settings, "uireview").model_copy(update={"reprobation_review_hours": 24})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def site(settings: Settings) -> AsyncIterator[Site]:
    """One subscription whose two missed sessions made its reprobation pending."""
    async with missed_twice(
        settings, "Pia Pending", lambda d: d["reprobation_pending_until"]
    ) as site:
        yield site


async def test_a_mentor_waives_a_pending_reprobation_and_a_stale_page_is_told_in_words(
    site: Site, browser: Browser
) -> None:
    base, sid = site.base, site.subscription.subscription_id
    context = await signed_in(browser, base, site.mentor)
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

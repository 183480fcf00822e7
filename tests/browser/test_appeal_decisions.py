"""Appeals in real Chromium: the list shows a badge for open appeals; on the subscriber's
page the mentor accepts one (the session becomes excused, the reprobation lifts) and
rejects another with a reason; a stale page's decision is refused in words."""

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
    return derived(settings, "uiappeal")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def site(settings: Settings) -> AsyncIterator[Site]:
    """One subscription reprobated after two missed sessions, whose mentee appealed both
    absences."""
    async with missed_twice(settings, "Ada Appeal", lambda d: d["is_reprobated"]) as site:
        missed = sorted(
            (b for b in site.swept["bookings"] if b["status"] == "absent"),
            key=lambda b: str(b["starts_at"]),
        )
        reasons = ("my train was cancelled", "I was in hospital")
        for booking, reason in zip(missed, reasons, strict=True):
            filed = await site.api.post(
                f"/api/bookings/{booking['booking_id']}/appeal",
                json={"reason": reason},
                headers=site.mentee.headers,
            )
            assert filed.status_code == 201, filed.text
        yield site


async def test_a_mentor_accepts_and_rejects_appeals_and_a_stale_page_is_told_in_words(
    site: Site, browser: Browser
) -> None:
    base, sid = site.base, site.subscription.subscription_id
    context = await signed_in(browser, base, site.mentor)
    page, stale = await context.new_page(), await context.new_page()

    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    row = page.locator(f'tr[data-subscription="{sid}"]')
    await expect(row.locator(".badge.appeals")).to_have_text("2 open appeals")
    await row.locator(".badge.appeals").click()
    await expect(page.locator("#appeals-heading")).to_be_visible()
    await stale.goto(f"{base}/dashboard/mentorship/subscribers/{sid}")
    await expect(page.locator("#status")).to_have_text("reprobated")
    await page.evaluate("window.__loadedOnce = true")
    await shot(page, "subscriber-appeals")

    hospital = page.locator("li.appeal", has_text="I was in hospital")
    train = page.locator("li.appeal", has_text="my train was cancelled")
    await hospital.get_by_placeholder("Reason (optional)").fill("the hospital note")
    await hospital.get_by_role("button", name="Accept").click()
    await expect(hospital.locator(".decision")).to_contain_text("accepted")
    await expect(hospital.locator(".decision")).to_contain_text("the hospital note")
    await expect(page.locator("#done")).to_contain_text("Appeal accepted:")
    await expect(page.locator("#done")).to_contain_text("is no longer reprobated")
    # The second absence was needed for the reprobation: it lifts, and booking books
    # the sessions left (the page follows them in).
    await expect(page.locator("#status")).not_to_have_text("reprobated")
    await expect(page.locator("#upcoming")).to_have_text("2", timeout=15_000)
    await expect(page.locator("tr.history-appeal_decision").first).to_contain_text(
        "appeal accepted"
    )

    # A rejection needs a reason: the browser will not send the form without one.
    await train.get_by_role("button", name="Reject").click()
    await expect(train.locator("form.reject")).to_be_visible()
    await train.get_by_placeholder("Reason (sent to the mentee)").fill("the trains ran that day")
    await train.get_by_role("button", name="Reject").click()
    await expect(train.locator(".decision")).to_contain_text("rejected")
    await expect(train.locator(".decision")).to_contain_text("the trains ran that day")
    await expect(page.locator("#done")).to_contain_text("Appeal rejected: the absence of")
    assert await page.evaluate("window.__loadedOnce") is True  # no reload happened
    await shot(page, "subscriber-appeals-decided")

    # The other tab still offers both decisions: the service refuses them, in words.
    old = stale.locator("li.appeal", has_text="I was in hospital")
    await old.get_by_placeholder("Reason (sent to the mentee)").fill("changed my mind")
    await old.get_by_role("button", name="Reject").click()
    await expect(stale.locator("#notice")).to_contain_text(
        "That cannot be done now: the appeal was already accepted."
    )
    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    await expect(row.locator(".badge.appeals")).to_have_count(0)
    await context.close()

"""The mentee's own page in real Chromium, against the real booking and attendance
services (`tests/browser/site.py`): signing in lands there; Join marks a live session
present; a session next week offers no Join; one cancelled in time and one late show
their marks; an absence is appealed and the mentor's decision shows."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from services.kit.settings import Settings
from tests.browser.site import Site, swept_site
from tests.browser.test_dashboard import CHROMIUM, browser, shot, signed_in
from tests.conftest import derived
from tests.support.smtp import RecordingSMTPServer

__all__ = ["browser"]  # the module's Chromium, shared with the dashboard's tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def settings(settings: Settings, smtp: RecordingSMTPServer) -> Settings:
    # Eight days' notice: next week's session can only be cancelled late, the one
    # after it still in time.
    return derived(settings, "uimentee").model_copy(
        update={"cancel_notice_hours": 192, "smtp_port": smtp.port}
    )


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def site(settings: Settings) -> AsyncIterator[Site]:
    """Last week's session missed (swept: absent, warned), one running now, two ahead."""
    warned = swept_site(
        settings,
        "Mia Mentee",
        lambda d: d["status"] == "warned",
        session_started_ago=timedelta(minutes=3),
        notifications=True,
    )
    async with warned as site:
        yield site


async def sessions(site: Site) -> list[dict[str, Any]]:
    """The mentee's bookings by start, as the API shows them."""
    response = await site.api.get("/api/mentee/bookings", headers=site.mentee.headers)
    return sorted(response.json()["bookings"], key=lambda b: str(b["starts_at"]))


def row(page: Page, booking: dict[str, Any]) -> Any:
    return page.locator(f'tr[data-booking-id="{booking["booking_id"]}"]')


async def test_a_mentee_who_signs_in_lands_on_their_page_and_joins_the_live_session(
    site: Site, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    sign_in = f"{site.base}/dev/sign-in?role=mentee&sub={site.mentee.person.id}"
    await page.goto(sign_in)
    await expect(page).to_have_url(f"{site.base}/dashboard/mentorship/bookings")
    await expect(page.locator("h1")).to_have_text("Your sessions")
    await expect(page.locator(".standing h2")).to_have_text("You have been warned")
    await expect(page.locator(".standing")).to_contain_text(
        "One more absence in a row cancels the rest of this cycle"
    )
    await expect(page.locator(".zone")).to_contain_text("Sao Paulo time (America/Sao_Paulo)")

    missed, live, next_week, _ = await sessions(site)
    await expect(row(page, missed).locator(".mark")).to_have_text("absent")
    await expect(row(page, missed).get_by_role("button", name="Join")).to_have_count(0)
    await expect(row(page, next_week).get_by_role("button", name="Join")).to_have_count(0)
    await expect(row(page, next_week)).to_contain_text("You can join from")
    await shot(page, "mentee-before")

    await row(page, live).get_by_role("button", name="Join").click()
    await expect(page.locator("#said")).to_contain_text("You joined the session of")
    await expect(row(page, live).locator(".mark")).to_have_text("present")
    await expect(row(page, live).get_by_role("button", name="Join")).to_have_count(0)
    # Attending resets the streak: the warning is gone.
    await expect(page.locator(".standing h2")).to_have_text("You are in good standing")

    feed = page.locator("#calendar a.feed")
    before = await feed.get_attribute("href")
    assert before is not None and before.endswith(".ics")
    await page.get_by_role("button", name="Reset the link").click()
    await expect(page.locator("#calendar .said")).to_contain_text("the old one no longer works")
    after = await page.locator("#calendar a.feed").get_attribute("href")
    assert after is not None and after.endswith(".ics") and after != before
    assert (await page.request.get(before)).status == 404
    assert (await page.request.get(after)).status == 200

    await page.goto(site.base + "/")
    await expect(page).to_have_url(f"{site.base}/dashboard/mentorship/bookings")
    mentors_page = await page.goto(f"{site.base}/dashboard/mentorship/subscribers")
    assert mentors_page is not None and mentors_page.status == 403
    await page.get_by_role("link", name="Go to your own page").click()
    await expect(page).to_have_url(f"{site.base}/dashboard/mentorship/bookings")
    await context.close()


async def test_a_mentee_cancels_one_session_in_time_and_one_late(
    site: Site, browser: Browser
) -> None:
    context = await signed_in(browser, site.base, site.mentee)
    page = await context.new_page()
    await page.goto(f"{site.base}/dashboard/mentorship/bookings")
    _, _, next_week, in_two_weeks = await sessions(site)

    later = row(page, in_two_weeks)
    await expect(later).to_contain_text("and it will not count")
    await later.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#said")).to_contain_text("in time: it does not count")
    await expect(row(page, in_two_weeks).locator(".mark")).to_have_text(
        "cancelled in time (does not count)"
    )
    await expect(row(page, in_two_weeks).get_by_role("button")).to_have_count(0)

    soon = row(page, next_week)
    await expect(soon).to_contain_text("cancelling now counts as an absence")
    await soon.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#said")).to_contain_text("late: it counts as an absence")
    await expect(row(page, next_week).locator(".mark")).to_have_text(
        "cancelled late (counts as an absence)"
    )
    await context.close()


async def test_a_mentee_appeals_an_absence_and_sees_the_mentors_decision(
    site: Site, browser: Browser
) -> None:
    context = await signed_in(browser, site.base, site.mentee)
    page = await context.new_page()
    await page.goto(f"{site.base}/dashboard/mentorship/bookings")
    missed = (await sessions(site))[0]
    missed_row = row(page, missed)
    await expect(missed_row).to_contain_text("You can appeal until")

    await missed_row.get_by_role("button", name="Appeal").click()  # no reason: refused
    await expect(missed_row.get_by_role("textbox")).to_be_focused()
    await missed_row.get_by_role("textbox").fill("my train was cancelled")
    await missed_row.get_by_role("button", name="Appeal").click()
    await expect(page.locator("#said")).to_contain_text("Your appeal of the absence of")
    await expect(row(page, missed)).to_contain_text("waiting for your mentor")
    await expect(row(page, missed).get_by_role("button", name="Appeal")).to_have_count(0)
    await expect(page.locator(".standing")).to_contain_text("One appeal waits")

    detail = await site.api.get(f"/api/mentor/subscribers/{site.subscription.subscription_id}")
    [appeal] = detail.json()["appeals"]
    decided = await site.api.post(
        f"/api/mentor/appeals/{appeal['appeal_id']}/reject",
        json={"reason": "the trains ran that day"},
    )
    assert decided.status_code == 200, decided.text

    await page.reload()
    await expect(row(page, missed)).to_contain_text("Appeal rejected")
    await expect(row(page, missed)).to_contain_text("the trains ran that day")
    await expect(page.locator("li.appeal .decision")).to_contain_text("rejected by your mentor")
    await shot(page, "mentee", docs="mentee-page")
    await page.set_viewport_size({"width": 390, "height": 844})
    await shot(page, "mentee-phone")
    await context.close()

"""The dashboard's pages against axe-core in real Chromium, in the states people meet
them in (`tests/browser/site.py`): no rule broken with a serious or critical impact, at a
desktop's width and a phone's. And a mentor without a mouse marks a session and
reactivates a mentee with the keyboard alone."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, expect

from services.kit.settings import Settings
from tests.browser.axe import assert_accessible
from tests.browser.site import Site, swept_site
from tests.browser.test_dashboard import CHROMIUM, browser, shot, signed_in
from tests.conftest import derived
from tests.support.smtp import RecordingSMTPServer

__all__ = ["browser"]  # the module's Chromium, shared with the dashboard's tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]

# A desktop window, and the narrowest WCAG asks a page to reflow to (1.4.10).
WIDTHS = {"desktop": 1100, "phone": 320}
APPEALED = "Rita Reprobated"
KEYS = "Kim Keys"
LISTED = "Lee Listed"


@pytest.fixture(scope="module")
def settings(settings: Settings, smtp: RecordingSMTPServer) -> Settings:
    return derived(settings, "uia11y").model_copy(update={"smtp_port": smtp.port})


# The elements reaching past the window's right edge, innermost first, when the page
# is wider than the window.
SIDEWAYS = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return [];
  return [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > width + 1 && e.children.length === 0)
    .slice(0, 5)
    .map((e) => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""));
}"""


def reprobated(detail: dict[str, Any]) -> bool:
    return bool(detail["is_reprobated"])


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def site(settings: Settings) -> AsyncIterator[Site]:
    """Mia: last week's session missed (warned), one running now, two ahead. Rita, Kim
    and Lee: two missed, reprobated; Rita appealed the first absence."""
    async with swept_site(
        settings,
        "Mia Mentee",
        lambda d: d["status"] == "warned",
        session_started_ago=timedelta(minutes=3),
        notifications=True,
        others={APPEALED: reprobated, KEYS: reprobated, LISTED: reprobated},
    ) as site:
        rita = site.others[APPEALED]
        first = min(
            (b for b in rita.swept["bookings"] if b["status"] == "absent"),
            key=lambda b: str(b["starts_at"]),
        )
        filed = await site.api.post(
            f"/api/bookings/{first['booking_id']}/appeal",
            json={"reason": "my train was cancelled"},
            headers=rita.mentee.headers,
        )
        assert filed.status_code == 201, filed.text
        yield site


async def checked(page: Page, name: str) -> None:
    """The page as it is, at each width: a screenshot to look at, axe's verdict, and
    no scrolling sideways to read it."""
    for label, width in WIDTHS.items():
        await page.set_viewport_size({"width": width, "height": 900})
        await shot(page, f"a11y-{name}-{label}")
        await assert_accessible(page)
        wider = await page.evaluate(SIDEWAYS)
        assert wider == [], f"{page.url} scrolls sideways at {width}px, pushed by {wider}"


async def test_the_mentors_pages_break_no_serious_rule(site: Site, browser: Browser) -> None:
    context = await signed_in(browser, site.base, site.mentor)
    page = await context.new_page()
    await page.goto(f"{site.base}/dashboard/mentorship/subscribers")
    await expect(page.locator(".badge.appeals")).to_be_visible()
    await expect(page.get_by_role("button", name=f"Reactivate {APPEALED}")).to_be_visible()
    await expect(page.locator(".status-warned")).to_have_text("warned")
    await checked(page, "subscribers")

    # Warned, with a past session, the one running now and two ahead.
    mia = site.subscription.subscription_id
    await page.goto(f"{site.base}/dashboard/mentorship/subscribers/{mia}")
    await expect(page.locator("#status")).to_have_text("warned")
    await expect(page.locator("td.attendance", has_text="upcoming")).to_have_count(2)
    await checked(page, "subscriber-warned")

    # Reprobated: Reactivate, an open appeal, sessions cancelled, a history.
    rita = site.others[APPEALED].subscription.subscription_id
    await page.goto(f"{site.base}/dashboard/mentorship/subscribers/{rita}")
    await expect(page.get_by_role("button", name=f"Reactivate {APPEALED}")).to_be_visible()
    await expect(page.locator("li.appeal form.reject")).to_be_visible()
    await expect(page.locator("tr.cancelled")).not_to_have_count(0)
    await expect(page.locator("table.history tbody tr")).not_to_have_count(0)
    await checked(page, "subscriber-reprobated")

    # The mentor's own policy: as it is, a rule half typed, and a preview.
    await page.goto(f"{site.base}/dashboard/mentorship/policy")
    await expect(page.locator("#applies-to")).to_contain_text("It applies to")
    await checked(page, "policy")
    await page.get_by_label("Reprobate after this many absences", exact=True).fill("3")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#reprobate_after_absences_in_days-error")).to_be_visible()
    await checked(page, "policy-invalid")
    await page.get_by_label("Reprobate after absences within this many days").fill("30")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#preview table.totals")).to_be_visible()
    await checked(page, "policy-preview")
    await context.close()


async def test_the_mentees_page_breaks_no_serious_rule(site: Site, browser: Browser) -> None:
    context = await signed_in(browser, site.base, site.mentee)
    page = await context.new_page()
    await page.goto(f"{site.base}/dashboard/mentorship/bookings")
    for action in ("Join", "Cancel", "Appeal"):
        await expect(page.get_by_role("button", name=action).first).to_be_visible()
    await expect(page.locator("#calendar a.feed")).to_be_visible()
    await checked(page, "mentee-warned")
    await context.close()

    # Reprobated, one appeal waiting; then a second appeal sent, said at the top.
    context = await signed_in(browser, site.base, site.others[APPEALED].mentee)
    page = await context.new_page()
    await page.goto(f"{site.base}/dashboard/mentorship/bookings")
    await expect(page.locator(".standing-reprobated")).to_be_visible()
    await expect(page.locator("li.appeal")).not_to_have_count(0)
    await checked(page, "mentee-reprobated")
    form = page.locator("form.appeal-form")
    await form.get_by_role("textbox").fill("I was in hospital")
    await form.get_by_role("button").click()
    await expect(page.locator("#said")).to_be_visible()
    await checked(page, "mentee-appealed")
    await context.close()


async def test_signing_in_and_the_message_pages_break_no_serious_rule(
    site: Site, browser: Browser
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{site.base}/sign-in")
    await checked(page, "sign-in")
    await page.get_by_label("Token").fill("not a token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".error")).to_be_visible()
    await checked(page, "sign-in-refused")
    await page.goto(f"{site.base}/dev/sign-in?role=mentor&sub=nobody")
    await expect(page.locator(".error")).to_be_visible()
    await checked(page, "dev-sign-in-refused")
    response = await page.goto(f"{site.base}/dashboard/mentorship/subscribers")
    assert response is not None and response.status == 401
    await checked(page, "message-signed-out")
    await context.close()

    context = await signed_in(browser, site.base, site.mentee)
    page = await context.new_page()
    response = await page.goto(f"{site.base}/dashboard/mentorship/subscribers")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("link", name="Go to your own page")).to_be_visible()
    await checked(page, "message-refused")
    await context.close()


async def focus(page: Page, target: Locator, key: str = "Tab", most: int = 100) -> None:
    """Press `key` (Tab or Shift+Tab) until `target` has the focus, as someone without
    a mouse moves through the page."""
    for _ in range(most):
        if await target.evaluate("e => e === document.activeElement"):
            return
        await page.keyboard.press(key)
    raise AssertionError(f"{most} presses of {key} never reached {target}")


async def test_a_mentor_marks_a_session_and_reactivates_with_the_keyboard_alone(
    site: Site, browser: Browser
) -> None:
    kim = site.others[KEYS].subscription.subscription_id
    context = await signed_in(browser, site.base, site.mentor)
    page = await context.new_page()
    await page.goto(f"{site.base}/dashboard/mentorship/subscribers/{kim}")
    await expect(page.locator("#consecutive")).to_have_text("2")

    absence = page.locator("table.bookings tbody tr", has_text="absent").first
    session = await absence.locator("td").first.text_content()
    assert session
    await focus(page, absence.get_by_role("combobox"))
    await page.keyboard.type("excused")  # a closed select picks the option typed
    await page.keyboard.press("Tab")
    await expect(absence.get_by_role("textbox")).to_be_focused()
    await page.keyboard.type("ill, told me ahead")
    await page.keyboard.press("Tab")
    await expect(absence.get_by_role("button", name="Save")).to_be_focused()
    await page.keyboard.press("Enter")
    excused = page.locator("table.bookings tbody tr", has_text=session)
    await expect(excused.locator(".attendance")).to_have_text("excused")
    await expect(excused.locator(".reason")).to_have_text("“ill, told me ahead”")
    await expect(page.locator("#consecutive")).to_have_text("1")
    # The panel was replaced: the focus is back where it was, not on <body>.
    await expect(excused.get_by_role("button", name="Save")).to_be_focused()

    # The button is above the table: back up to it.
    await focus(page, page.get_by_role("button", name=f"Reactivate {KEYS}"), "Shift+Tab")
    await page.keyboard.press("Space")
    await expect(page.locator("#status")).to_have_text("active")
    await expect(page.get_by_role("button", name=f"Reactivate {KEYS}")).to_have_count(0)
    await expect(page.locator("#subscriber")).to_be_focused()  # its button gone, its panel
    await expect(page.locator("#upcoming")).to_have_text("2", timeout=15_000)
    await expect(page.locator("#subscriber")).to_be_focused()  # still, once refreshed
    await shot(page, "a11y-keyboard-reactivated")
    await context.close()


async def test_a_mentor_reactivates_from_the_list_with_the_keyboard_alone(
    site: Site, browser: Browser
) -> None:
    context = await signed_in(browser, site.base, site.mentor)
    page = await context.new_page()
    await page.goto(f"{site.base}/dashboard/mentorship/subscribers")
    row = page.locator("table.subscribers tbody tr", has_text=LISTED)
    await focus(page, row.get_by_role("button", name=f"Reactivate {LISTED}"))
    await page.keyboard.press("Enter")
    await expect(row.locator(".status")).to_have_text("active")
    await expect(row).to_be_focused()  # its button gone, the row
    await page.keyboard.press("Tab")  # onwards from the row, not from the top of the page
    after = "r => Boolean(r.compareDocumentPosition(document.activeElement) & 4)"  # FOLLOWING
    assert await row.evaluate(after)
    await context.close()

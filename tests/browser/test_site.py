"""The site in real Chromium, against the real booking and attendance services
(`tests/browser/site.py`). With every request to another origin aborted, /docs (Swagger
UI: its Authorize button and Try it out work) and /redoc (ReDoc: its search works)
render from the gateway's own files alone, with the site's icon. Once a mentor signs
out, the Back button shows no page of theirs (the pages are `no-store`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Response, Route, expect

from services.kit.settings import Settings
from tests.browser.site import Site, missed_twice
from tests.browser.test_dashboard import CHROMIUM, browser, shot
from tests.conftest import derived
from tests.support.smtp import RecordingSMTPServer

__all__ = ["browser"]  # the module's Chromium, shared with the dashboard's tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]

MENTEE = "Olga Offline"


@pytest.fixture(scope="module")
def settings(settings: Settings, smtp: RecordingSMTPServer) -> Settings:
    return derived(settings, "uisite").model_copy(update={"smtp_port": smtp.port})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def site(settings: Settings) -> AsyncIterator[Site]:
    async with missed_twice(settings, MENTEE, lambda d: d["absences"] == 2) as site:
        yield site


@dataclass
class Offline:
    """A browser context that reaches the gateway and nothing else."""

    context: BrowserContext
    page: Page
    elsewhere: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


async def offline(browser: Browser, base: str) -> Offline:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    seen = Offline(context, page)

    async def only_the_gateway(route: Route) -> None:
        if route.request.url.startswith(f"{base}/"):
            await route.continue_()
        else:
            seen.elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    def answered(response: Response) -> None:
        if response.status >= 400:
            seen.failed.append(f"{response.status} {response.url}")

    await context.route("**/*", only_the_gateway)
    page.on("response", answered)
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    return seen


async def test_swagger_ui_shows_every_operation_and_tries_one_without_the_internet(
    site: Site, browser: Browser
) -> None:
    operations = sum(
        len(ops) for ops in (await site.api.get("/openapi.json")).json()["paths"].values()
    )
    seen = await offline(browser, site.base)
    page = seen.page
    await page.goto(f"{site.base}/docs")
    await expect(page.locator(".opblock")).to_have_count(operations)
    await expect(page.locator(".opblock-summary-path", has_text="/api/admin/sweep")).to_be_visible()

    await page.locator(".auth-wrapper").get_by_role("button", name="Authorize").click()
    bearer = page.locator(".modal-ux .auth-container").first
    await expect(bearer).to_contain_text("bearer (http, Bearer)")
    await bearer.locator("input").fill(site.mentor.token)
    await bearer.get_by_role("button", name="Apply credentials").click()
    await page.locator(".modal-ux").get_by_role("button", name="Close").first.click()

    listing = page.locator("#operations-mentor-subscribers_api_mentor_subscribers_get")
    await listing.locator(".opblock-summary").click()
    await listing.get_by_role("button", name="Try it out").click()
    await listing.get_by_role("button", name="Execute").click()
    answer = listing.locator(".live-responses-table .response")
    await expect(answer.locator(".response-col_status")).to_have_text("200")
    await expect(answer.locator(".response-col_description")).to_contain_text(MENTEE)
    await shot(page, "docs-offline")

    icon = await page.locator('link[rel="icon"]').get_attribute("href")
    assert icon == "/favicon.ico"
    assert (await page.request.get(f"{site.base}{icon}")).status == 200
    assert seen.elsewhere == []
    assert seen.failed == []
    assert seen.console_errors == []
    await seen.context.close()


async def test_redoc_shows_the_api_and_finds_an_operation_without_the_internet(
    site: Site, browser: Browser
) -> None:
    seen = await offline(browser, site.base)
    page = seen.page
    await page.goto(f"{site.base}/redoc")
    await expect(
        page.get_by_role("heading", name="Mentorship attendance gateway (0.1.0)")
    ).to_be_visible()
    await expect(page.get_by_role("heading", name="The caller's bookings")).to_be_visible()
    # The search index is built in a worker (a blob: URL, which /redoc's policy allows).
    await page.get_by_placeholder("Search...").fill("sweep")
    results = page.locator('[data-role="search:results"]')
    found = results.get_by_role("menuitem", name="Sweep now: publishes a sweep.tick")
    await expect(found).to_have_count(1)
    await found.click()
    await expect(
        page.get_by_role("heading", name="Sweep now: publishes a sweep.tick with tick_at = now")
    ).to_be_in_viewport()
    await shot(page, "redoc-offline")

    assert seen.elsewhere == []
    assert seen.failed == []
    # ReDoc's footer shows Redocly's logo from their CDN (the policy keeps it out, and
    # ReDoc hides the image): the only thing it would fetch from elsewhere.
    blocked = [e for e in seen.console_errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e]
    assert blocked == []
    await seen.context.close()


async def test_after_signing_out_the_back_button_shows_no_page_of_the_mentor(
    site: Site, browser: Browser
) -> None:
    # No routing here: Playwright turns the HTTP cache off for a context that routes.
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    await page.goto(f"{site.base}/dev/sign-in?role=mentor&sub={site.mentor.person.id}")
    subscribers = f"{site.base}/dashboard/mentorship/subscribers"
    await expect(page).to_have_url(subscribers)
    await expect(page.locator("table.subscribers").get_by_role("link", name=MENTEE)).to_be_visible()
    assert (await page.locator('link[rel="icon"]').get_attribute("href")) == "/favicon.ico"

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{site.base}/signed-out")
    await page.go_back()
    await expect(page).to_have_url(subscribers)
    await expect(page.locator("h1")).to_have_text("Please sign in")
    await expect(page.get_by_text(MENTEE)).to_have_count(0)
    await shot(page, "back-after-sign-out")
    await context.close()

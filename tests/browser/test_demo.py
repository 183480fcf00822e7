"""`make demo`, end to end: the story played through the gateway's real edges against
every service as its own process, then the printed mentor link followed in Chromium."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from scripts.demo import ANA, KENJI, STORY, run_demo
from services.kit.settings import DEV_JWT_SECRET, Settings
from tests.conftest import derived
from tests.support.smtp import RecordingSMTPServer
from tests.support.system import SERVICES, System

CHROMIUM = "/usr/bin/chromium"
DASHBOARD = "/dashboard/mentorship/subscribers"
WITHOUT_SCHEDULER = tuple(s for s in SERVICES if s != "scheduler")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return derived(settings, "demo").model_copy(update={"jwt_secret": DEV_JWT_SECRET})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def played(
    settings: Settings, smtp: RecordingSMTPServer
) -> AsyncIterator[tuple[System, list[str], list[str]]]:
    """The system as `make run` starts it, with the demo story played on it.

    All but the scheduler: its first tick, sent at start and re-sent once booking's
    queue exists, could land between the story's subscriptions and its mentors'
    marks and sweep the past sessions before they are marked. The story sweeps
    through the admin endpoint instead; under `make run` the scheduler ticks hourly.
    """
    system = System(settings, smtp_port=smtp.port, services=WITHOUT_SCHEDULER)
    try:
        await system.start()
        printed: list[str] = []
        links = await run_demo(system.gateway_url, settings, within=30, say=printed.append)
        yield system, links, printed
    finally:
        system.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        await chromium.close()


async def status_of(page: Page, mentee: str) -> str:
    return await page.locator("tr", has_text=mentee).locator(".status").inner_text()


async def test_the_demo_prints_one_sign_in_link_per_mentor(
    played: tuple[System, list[str], list[str]],
) -> None:
    system, links, printed = played
    assert links == [
        f"{system.gateway_url}/dev/sign-in?role=mentor&sub={mentor.id}&next={DASHBOARD}"
        for mentor in (ANA, KENJI)
    ]
    text = "\n".join(printed)
    for link in links:
        assert link in text
    assert "swept" in text and "joined      Lucas Oliveira" in text


async def test_the_printed_link_signs_the_mentor_in_to_a_dashboard_with_every_status(
    played: tuple[System, list[str], list[str]], browser: Browser
) -> None:
    _, links, _ = played
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    response = await page.goto(links[0])
    assert response is not None and response.status == 200
    assert page.url.endswith(DASHBOARD)
    rows = page.locator("table.subscribers tbody tr")
    await expect(rows).to_have_count(sum(1 for m in STORY if m.mentor == ANA))
    await expect(page.get_by_text("Amara Nwosu")).to_have_count(0)  # Kenji's mentee
    assert await status_of(page, "Emily Carter") == "reprobated"
    assert await status_of(page, "Chidi Okafor") == "warned"
    assert await status_of(page, "Lucas Oliveira") == "active"
    assert await status_of(page, "Beatriz Santos") == "active"  # warned, then joined
    emily = page.locator("tr", has_text="Emily Carter")
    await expect(emily.locator(".consecutive")).to_have_text("2")
    statuses = set(await page.locator("table.subscribers .status").all_inner_texts())
    assert {"active", "warned", "reprobated"} <= statuses

    # The other mentor's link signs in as them, in the same browser.
    await page.goto(links[1])
    await expect(page.locator("tr", has_text="Amara Nwosu").locator(".status")).to_have_text(
        "reprobated"
    )
    await expect(page.get_by_text("Emily Carter")).to_have_count(0)

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    response = await page.goto(f"{links[1].split('/dev/')[0]}{DASHBOARD}")
    assert response is not None and response.status == 401
    await expect(page.get_by_role("link", name="Sign in for development")).to_be_visible()
    await context.close()


async def test_the_story_sent_the_warnings_and_reprobations_by_email(
    played: tuple[System, list[str], list[str]], smtp: RecordingSMTPServer
) -> None:
    for address, at_least in [("chidi.okafor@example.com", 1), ("emily.carter@example.com", 2)]:
        received = await smtp.wait_for(address, at_least)
        assert len(received) >= at_least, [m["Subject"] for m in received]

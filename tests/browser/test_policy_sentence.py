"""The policy's rules beside the consecutive thresholds in real Chromium: the mentor's
subscriber page says every rule in force, and its history says which rule warned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from services.kit.settings import Settings
from tests.browser.site import Site, missed_twice
from tests.browser.test_dashboard import IN_CHROMIUM, browser, shot, signed_in
from tests.conftest import derived

__all__ = ["browser"]  # the module's Chromium, shared with the dashboard's tests

pytestmark = IN_CHROMIUM


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """Three in a row reprobate, so two weekly absences only warn: the first by the
    consecutive threshold, the second by 2 absences within 14 days."""
    return derived(settings, "uirules").model_copy(
        update={
            "reprobate_after_absences": 3,
            "warn_after_absences_in_days": "2:14",
            "reprobate_after_absences_in_days": "3:30",
            "warn_below_attendance_rate": 75,
            "attendance_rate_sessions": 4,
        }
    )


def warned_twice(detail: dict[str, Any]) -> bool:
    return bool(detail["consecutive_absences"] == 2 and detail["status"] == "warned")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def site(settings: Settings) -> AsyncIterator[Site]:
    async with missed_twice(settings, "Wanda Within", warned_twice) as site:
        yield site


async def test_the_page_says_every_rule_in_force_and_which_one_warned(
    site: Site, browser: Browser
) -> None:
    base, sid = site.base, site.subscription.subscription_id
    context = await signed_in(browser, base, site.mentor)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers/{sid}")
    await expect(page.locator("#policy")).to_have_text(
        "warned after 1 absence, after 2 absences within 14 days, or when attendance over "
        "the last 4 sessions falls below 75%; reprobated after 3 in a row or after 3 "
        "absences within 30 days"
    )
    warnings = page.locator("table.history tr.history-warning")
    # Newest first: the second absence warned by the count within days, the first by
    # the consecutive threshold.
    await expect(warnings).to_have_count(2)
    await expect(warnings.nth(0)).to_contain_text("2 absences within 14 days")
    await expect(warnings.nth(1)).to_contain_text("1 absence in a row")
    await shot(page, "subscriber-policy-rules")
    await context.close()

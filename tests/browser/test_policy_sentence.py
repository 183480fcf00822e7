"""The policy's rules beside the consecutive thresholds in real Chromium: the mentor's
subscriber page says every rule in force, and its history says which rule warned; the
mentee's page says which of their absences count and until when."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from services.gateway.times import when
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


async def test_the_mentees_page_lists_the_absences_that_count_and_until_when(
    site: Site, browser: Browser
) -> None:
    response = await site.api.get("/api/mentee/bookings", headers=site.mentee.headers)
    bookings = sorted(response.json()["bookings"], key=lambda b: str(b["starts_at"]))
    missed = [b for b in bookings if b["mark"] == "absent"]
    assert len(missed) == 2, bookings
    zone = site.subscription.slot.timezone

    def counts(booking: dict[str, Any]) -> str:
        starts = datetime.fromisoformat(booking["starts_at"])
        until = when(starts + timedelta(days=30), zone, named=False)
        return (
            "in a row until you attend a session, and towards 3 absences within 30 days "
            f"until {until}"
        )

    def day(booking: dict[str, Any]) -> str:
        return when(datetime.fromisoformat(booking["starts_at"]), zone, named=False)

    context = await signed_in(browser, site.base, site.mentee)
    page = await context.new_page()
    await page.goto(f"{site.base}/dashboard/mentorship/bookings")
    standing = page.locator(".standing")
    await expect(standing).to_contain_text("Absences that count against you now:")
    await expect(standing).to_contain_text("and so do 3 absences within 30 days")
    await expect(page.locator("ul.counted li")).to_have_text(
        [f"{day(b)}: counts {counts(b)}" for b in missed]
    )
    for b in missed:
        note = page.locator(f'tr[data-booking-id="{b["booking_id"]}"] .counts')
        await expect(note).to_have_text(f"Counts {counts(b)}")
    await shot(page, "mentee-counted-absences")
    await context.close()

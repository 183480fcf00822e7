"""Make-up sessions in real Chromium, against the real booking and attendance services
(`tests/browser/site.py`): the mentor marks a session they missed as their no-show, and
on the subscriber's page books the make-up owed for it. A time that clashes with another
of their sessions is refused by the field, in booking's words; a free time is booked and
the page says so. The mentee's page then says when the make-up is and labels it among
their sessions. The mentor's list counts them: on the subscriber's row and in all, at the
top. Each state is also checked against axe at a desktop's and a phone's width."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, expect

from services.gateway.times import when, zone_of
from services.kit.settings import Settings
from tests.browser.site import Site, swept_site
from tests.browser.test_accessibility import checked
from tests.browser.test_dashboard import CHROMIUM, browser, shot, signed_in
from tests.conftest import derived
from tests.support.waiting import eventually

__all__ = ["browser"]  # the module's Chromium, shared with the dashboard's tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    # Two absences warn without reprobating: booking books no make-up for a reprobated mentee.
    return derived(settings, "uimakeup").model_copy(update={"reprobate_after_absences": 5})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def site(settings: Settings) -> AsyncIterator[Site]:
    """Two sessions missed (swept: absent, warned), the later three hours ago; two ahead."""
    warned = swept_site(
        settings,
        "Nora Noshow",
        lambda d: d["status"] == "warned",
        session_started_ago=timedelta(hours=3),
    )
    async with warned as site:
        yield site


def by_start(site: Site) -> list[dict[str, Any]]:
    return sorted(site.swept["bookings"], key=lambda b: str(b["starts_at"]))


async def makeups(site: Site) -> list[dict[str, Any]]:
    response = await site.api.get(
        f"/api/mentor/subscribers/{site.subscription.subscription_id}/makeups"
    )
    return list(response.json()["makeups"]) if response.status_code == 200 else []


async def reloaded_until_visible(page: Page, locator: Locator, within: float = 15.0) -> None:
    """Reload `page` until `locator` shows: what booking booked reaches attendance, whose
    sessions the pages list, a moment later (as an event)."""

    async def shown() -> bool:
        await page.reload()
        return await locator.count() > 0

    await eventually(shown, bool, within=within, every=0.5)
    await expect(locator).to_be_visible()


async def test_a_mentor_books_the_makeup_of_a_session_they_missed_and_the_mentee_sees_it(
    site: Site, browser: Browser
) -> None:
    base, sid = site.base, site.subscription.subscription_id
    _, missed, next_week, _ = by_start(site)
    missed_at = datetime.fromisoformat(missed["starts_at"])
    next_week_at = datetime.fromisoformat(next_week["starts_at"])

    # The mentor did not come to the session three hours ago: a make-up is owed for it.
    marked = await site.api.post(
        f"/api/mentor/bookings/{missed['booking_id']}/attendance", json={"status": "mentor_no_show"}
    )
    assert marked.status_code == 200, marked.text
    [owed] = await eventually(partial(makeups, site), lambda m: len(m) == 1, within=15)
    assert (owed["missed_booking_id"], owed["status"]) == (missed["booking_id"], "owed")
    book_by = datetime.fromisoformat(owed["book_by"])

    context = await signed_in(browser, base, site.mentor)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers/{sid}")
    item = page.locator(f'li[data-makeup="{missed["booking_id"]}"]')
    zone = await item.locator('input[name="zone"]').input_value()
    at = partial(when, zone=zone, named=False)
    await expect(page.locator("#makeups-heading")).to_have_text("Make-up sessions")
    await expect(item).to_contain_text(
        f"The session of {at(missed_at)}: owed — book by {at(book_by)}"
    )
    await expect(item.locator(".hint")).to_contain_text(
        f"It lasts 1 hour, like the missed session, and must start by {at(book_by)} at the latest."
    )
    field = item.get_by_label("Make-up starts")
    await shot(page, "makeup-owed")
    await checked(page, "subscriber-makeup-owed")
    await page.set_viewport_size({"width": 1100, "height": 900})

    # Next week's session is the mentor's already: booking refuses, and the page says so
    # by the field, keeping what was typed.
    clash = f"{next_week_at.astimezone(zone_of(zone)):%Y-%m-%dT%H:%M}"
    await field.fill(clash)
    await expect(item.locator(".day")).to_have_text(at(next_week_at))
    await item.get_by_role("button", name="Book the make-up").click()
    error = item.locator(".field-error")
    await expect(error).to_contain_text("Not booked:")
    await expect(error).to_contain_text("clashes with")
    await expect(field).to_have_value(clash)
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#notice")).to_be_hidden()
    await shot(page, "makeup-clash")
    await checked(page, "subscriber-makeup-refused")
    await page.set_viewport_size({"width": 1100, "height": 900})

    # The day after tomorrow at 10:00 is free: booked, and the page says when.
    day = (datetime.now(zone_of(zone)) + timedelta(days=2)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    await field.fill(f"{day:%Y-%m-%dT%H:%M}")
    await item.get_by_role("button", name="Book the make-up").click()
    await expect(page.locator("#done")).to_have_text(f"Make-up booked for {at(day)}.")
    await expect(item).to_contain_text(f"The session of {at(missed_at)}: booked for {at(day)}")
    await expect(item.locator("form")).to_have_count(0)
    await shot(page, "makeup-booked")
    [booked] = await makeups(site)
    assert booked["status"] == "booked"
    assert datetime.fromisoformat(booked["booking"]["starts_at"]) == day
    made_up = page.locator(f'tr[data-booking="{booked["booking"]["booking_id"]}"] .makeup-label')
    await reloaded_until_visible(page, made_up)
    await expect(made_up).to_have_text(f"Make-up for the missed session of {at(missed_at)}")
    await shot(page, "makeup-booked-listed")

    # The history says each step, newest first, in the mentor's words and zone: attendance
    # hears of them from booking, a moment later.
    steps = page.locator("table.history tr.history-makeup")
    await reloaded_until_visible(page, steps.nth(1))
    await expect(steps).to_have_count(2)
    await expect(steps.nth(0).locator(".what")).to_have_text(
        f"you booked the make-up for {at(day)}"
    )
    await expect(steps.nth(0).locator(".by")).to_have_text("you")
    await expect(steps.nth(1).locator(".what")).to_have_text(
        f"make-up owed for the session of {at(missed_at)}"
    )
    await expect(steps.nth(1).locator(".by")).to_have_text("the system")
    await steps.nth(0).scroll_into_view_if_needed()
    await shot(page, "makeup-history")
    await checked(page, "subscriber-makeup-history")
    await context.close()

    # The mentee reads it in their slot's zone (Sao Paulo here, as the mentor's browser).
    context = await signed_in(browser, base, site.mentee)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/bookings")
    slot = partial(when, zone=site.subscription.slot.timezone, named=False)
    said = page.locator(f'li.makeup[data-makeup="{missed["booking_id"]}"]')
    await expect(said).to_have_text(
        f"Your mentor missed the session of {slot(missed_at)}: the make-up session is booked "
        f"for {slot(day)}."
    )
    row = page.locator(f'tr[data-booking-id="{booked["booking"]["booking_id"]}"]')
    await reloaded_until_visible(page, row.locator(".makeup-label"))
    await expect(row.locator(".makeup-label")).to_have_text(
        f"Make-up for the missed session of {slot(missed_at)}"
    )
    await shot(page, "mentee-makeup-booked")
    await checked(page, "mentee-makeup-booked")
    await context.close()


async def test_the_list_counts_the_subscribers_makeups_and_the_mentors_totals(
    site: Site, browser: Browser
) -> None:
    base, sid = site.base, site.subscription.subscription_id
    oldest, missed, _, _ = by_start(site)
    # The mentor missed both past sessions; the later one's make-up is booked (by the test
    # above, or here when this one runs alone): one owed, one booked.
    known = {m["missed_booking_id"] for m in await makeups(site)}
    for session in (oldest, missed):
        if session["booking_id"] not in known:
            marked = await site.api.post(
                f"/api/mentor/bookings/{session['booking_id']}/attendance",
                json={"status": "mentor_no_show"},
            )
            assert marked.status_code == 200, marked.text
    found = await eventually(partial(makeups, site), lambda m: len(m) == 2, within=15)
    later = next(m for m in found if m["missed_booking_id"] == missed["booking_id"])
    if later["status"] == "owed":
        day = (datetime.now(UTC) + timedelta(days=3)).replace(
            hour=10, minute=0, second=0, microsecond=0
        )
        booked = await site.api.post(
            f"/api/mentor/subscribers/{sid}/makeups",
            json={"missed_booking_id": missed["booking_id"], "starts_at": day.isoformat()},
        )
        assert booked.status_code == 201, booked.text
    [owed] = [m for m in await makeups(site) if m["missed_booking_id"] == oldest["booking_id"]]
    assert owed["status"] == "owed"
    book_by = datetime.fromisoformat(owed["book_by"])
    # The API counts them as the list does, asking booking for all the mentor's.
    everyone = (await site.api.get("/api/mentor/makeups")).json()
    assert {m["missed_booking_id"] for m in everyone["makeups"]} == {
        oldest["booking_id"],
        missed["booking_id"],
    }
    total = everyone["counts"]["total"]
    assert (total["owed"], total["booked"], total["used"], total["expired"]) == (1, 1, 0, 0)

    context = await signed_in(browser, base, site.mentor)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    zone = await page.locator("#zone").get_attribute("data-reader-zone")
    assert zone is not None
    by_day = f"{book_by.astimezone(zone_of(zone)):%a %d %b}"
    row = page.locator(f'tr[data-subscription="{sid}"]')
    await expect(row.locator(".makeup-counts")).to_have_text(
        f"Make-ups: 1 owed (book by {by_day}), 1 booked"
    )
    await expect(page.locator("#makeup-totals")).to_have_text(
        "Make-ups you owe: 1 to book, 1 booked (the first to book by "
        f"{when(book_by, zone, named=False)})"
    )
    await shot(page, "subscribers-makeup-counts")
    await checked(page, "subscribers-makeup-counts")
    await page.set_viewport_size({"width": 1100, "height": 900})

    # The row's words lead to the make-up to book, whose part opens with the counts.
    await row.get_by_role("link", name="Make-ups: 1 owed").click()
    await expect(page.locator("#makeup-counts")).to_have_text("1 owed, 1 booked")
    await shot(page, "subscriber-makeup-counts")
    await context.close()

"""The mentor's own policy page in real Chromium, against the real booking and attendance
services: a mentor previews "3 absences within 30 days" on a small real history, sees
what it would have done beside what happened, applies it, and their subscriber's page
says the policy is their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from contracts import SubscriptionActivated, SweepTick
from services.attendance.app import create_app as attendance_app
from services.booking.app import create_app as booking_app
from services.gateway.app import create_app as gateway_app
from services.gateway.times import when
from services.kit.health import serve
from services.kit.settings import Settings
from tests.browser.test_dashboard import IN_CHROMIUM, browser, shot, signed_in
from tests.conftest import derived
from tests.support.listening import publish
from tests.support.system import free_port
from tests.support.waiting import eventually
from tests.support.world import ZONE, User, user, weekly_subscription

__all__ = ["browser"]  # the module's Chromium, shared with the dashboard's tests

pytestmark = IN_CHROMIUM

# Each mentee's weekly sessions up to three hours ago, and the weeks the mentor marked
# present; the tick marks the others absent. Two sessions of each are still ahead.
HISTORIES = {"Carla Window": (3, [1]), "Dan Window": (5, [1, 3])}


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """The defaults: warned at 1 absence, reprobated at 2 in a row, no window rule."""
    return derived(settings, "uipolicy")


@dataclass(frozen=True)
class History:
    base: str
    mentor: User
    subscriptions: dict[str, SubscriptionActivated]
    # Each mentee's bookings by start, as the mentor's API gave them once swept.
    weeks: dict[str, list[dict[str, Any]]]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def history(settings: Settings) -> AsyncIterator[History]:
    """Carla missed weeks 0 and 2; Dan weeks 0, 2 and 4: never twice in a row, so each
    absence only warned (5 warnings), and nobody is reprobated."""
    apps = [booking_app(settings), attendance_app(settings)]
    for app in apps:
        await app.start()
    port = free_port()
    server = asyncio.create_task(serve(gateway_app(settings), "127.0.0.1", port))
    mentor = user(settings.jwt_secret, "mentor", "Paula Policy")
    now = datetime.now(UTC).replace(microsecond=0)
    subs = {
        name: weekly_subscription(
            user(settings.jwt_secret, "mentee", name),
            mentor,
            now=now,
            session_started_ago=timedelta(hours=3),
            past_sessions=past,
            future_sessions=2,
        )
        for name, (past, _) in HISTORIES.items()
    }
    base = f"http://127.0.0.1:{port}"
    try:
        await publish(settings, *subs.values())
        async with httpx.AsyncClient(base_url=base, headers=mentor.headers) as api:

            async def bookings(sub: SubscriptionActivated) -> list[dict[str, Any]]:
                try:
                    response = await api.get(f"/api/mentor/subscribers/{sub.subscription_id}")
                except httpx.ConnectError:  # the gateway is not listening yet
                    return []
                found = response.json()["bookings"] if response.status_code == 200 else []
                return sorted(found, key=lambda b: str(b["starts_at"]))

            for name, sub in subs.items():
                past, attended = HISTORIES[name]
                weeks = await eventually(
                    lambda s=sub: bookings(s), lambda b, n=past + 2: len(b) == n, within=20
                )
                for week in attended:
                    marked = await api.post(
                        f"/api/mentor/bookings/{weeks[week]['booking_id']}/attendance",
                        json={"status": "present"},
                    )
                    assert marked.status_code == 200, marked.text
            await publish(settings, SweepTick(occurred_at=now, tick_at=now))
            swept = {}
            for name, sub in subs.items():
                past, attended = HISTORIES[name]
                absent = past - len(attended)
                swept[name] = await eventually(
                    lambda s=sub: bookings(s),
                    lambda b, n=absent: sum(x["status"] == "absent" for x in b) == n,
                    within=20,
                )
            yield History(base, mentor, subs, swept)
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        for app in apps:
            await app.stop()


def at(booking: dict[str, Any]) -> str:
    """A session as the mentor's pages write it, in the mentor's (browser's) zone."""
    return when(datetime.fromisoformat(booking["starts_at"]), ZONE, named=False)


async def test_a_mentor_previews_and_applies_three_absences_within_thirty_days(
    history: History, browser: Browser
) -> None:
    context = await signed_in(browser, history.base, history.mentor)
    page = await context.new_page()
    await page.goto(f"{history.base}/dashboard/mentorship/subscribers")
    await page.get_by_role("link", name="Your absence policy").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your absence policy")
    await expect(page.locator("#since")).to_have_text(
        "You have no policy of your own: the service's settings apply."
    )
    await expect(page.locator("#applies-to")).to_have_text("It applies to 2 subscriptions.")
    await expect(
        page.get_by_label("Reprobate after this many absences in a row")
    ).to_have_attribute("placeholder", "2")
    await shot(page, "policy-empty")

    # Half a rule: said by the field, nothing previewed.
    await page.get_by_label("Reprobate after this many absences", exact=True).fill("3")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#reprobate_after_absences_in_days-error")).to_have_text(
        "Give both the number of absences and the days, or leave both empty."
    )
    await expect(page.locator("#preview")).to_have_count(0)
    await shot(page, "policy-invalid")

    await page.get_by_label("Reprobate after absences within this many days").fill("30")
    await page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    await expect(preview.locator("#proposal-words")).to_have_text(
        "reprobated after 3 absences within 30 days; the rest as the service's settings"
    )
    await expect(preview.locator("table.totals tbody tr")).to_have_text(
        [
            "Mentees warned 2 2",
            "Warnings 5 5",
            "Mentees reprobated 0 1",
            "Sessions cancelled 0 2",
        ],
        use_inner_text=True,
    )
    dan = history.weeks["Dan Window"]
    missed = [dan[w] for w in (0, 2, 4)]
    [changed] = await preview.locator("table.outcomes").first.locator("tbody tr").all()
    await expect(changed.locator("th")).to_have_text("Dan Window")
    warned = [f"Warned for missing {at(b)} (1 absence in a row)" for b in missed]
    await expect(changed.locator("td").nth(0).locator("li")).to_have_text(warned)
    await expect(changed.locator("td").nth(1).locator("li")).to_have_text(
        [
            *warned,
            "Reprobated by 3 absences within 30 days (missed "
            f"{'; '.join(at(b) for b in missed)}). 2 later sessions cancelled.",
        ]
    )
    await expect(preview.locator("details.unchanged summary")).to_have_text(
        "The 1 subscriber it does not change"
    )
    await shot(page, "policy-preview")

    await page.get_by_role("button", name="Apply this policy").click()
    await expect(page.locator("#applied")).to_contain_text(
        "Done: your policy applies from now on to 2 subscriptions. It judges what happens "
        "from now on, not what already happened"
    )
    await expect(page.locator("#since")).to_contain_text("Your own policy, since")
    rule = page.locator(".rules div", has_text="Reprobated after absences within days")
    await expect(rule.locator("dd")).to_have_text("3 absences within 30 days yours")
    # The form now says the policy in force: what to change next time.
    await expect(page.get_by_label("Reprobate after absences within this many days")).to_have_value(
        "30"
    )
    await shot(page, "policy-applied")

    dan_id = history.subscriptions["Dan Window"].subscription_id
    await page.goto(f"{history.base}/dashboard/mentorship/subscribers/{dan_id}")
    await expect(page.locator("dt", has_text="Policy")).to_have_text("Policy (your own policy)")
    await expect(page.locator("#policy")).to_contain_text("after 3 absences within 30 days")
    await expect(page.locator("table.history tr.history-policy .what")).to_have_text(
        "your policy changed"
    )
    await shot(page, "policy-subscriber")
    await context.close()

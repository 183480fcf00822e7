"""The mentor dashboard in real Chromium, against the real booking and attendance services."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    async_playwright,
    expect,
)

from contracts import SweepTick
from contracts.rpc import ListSubscribers, SubscribersReply
from services.attendance.app import create_app as attendance_app
from services.booking.app import create_app as booking_app
from services.gateway.app import create_app as gateway_app
from services.gateway.owners import Owners
from services.kit.health import serve
from services.kit.settings import Settings
from services.notifications.app import create_app as notifications_app
from tests.conftest import derived
from tests.support.listening import publish
from tests.support.smtp import RecordingSMTPServer
from tests.support.system import free_port
from tests.support.waiting import eventually
from tests.support.world import ZONE, User, user, weekly_subscription

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

# The marks of a module of browser tests.
IN_CHROMIUM = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]
pytestmark = IN_CHROMIUM


@pytest.fixture(scope="module")
def settings(settings: Settings, smtp: RecordingSMTPServer) -> Settings:
    return derived(settings, "ui").model_copy(update={"smtp_port": smtp.port})


class World:
    def __init__(self, settings: Settings) -> None:
        secret = settings.jwt_secret
        self.mentor = user(secret, "mentor", "Otto Mentor")
        self.other_mentor = user(secret, "mentor", "Ines Other")
        self.reprobated = user(secret, "mentee", "Rita Reprobated")
        self.warned = user(secret, "mentee", "Walter Warned")
        self.listed = user(secret, "mentee", "Lena Listed")
        self.foreign = user(secret, "mentee", "Fiona Foreign")
        # First by name, last by need: in good standing, their session soon.
        self.active = user(secret, "mentee", "Anna Active")
        now = datetime.now(UTC)
        ago = timedelta(hours=3)
        self.subs = {
            "reprobated": weekly_subscription(
                self.reprobated,
                self.mentor,
                now=now,
                session_started_ago=ago,
                past_sessions=2,
                future_sessions=2,
            ),
            "listed": weekly_subscription(
                self.listed,
                self.mentor,
                now=now,
                session_started_ago=ago,
                past_sessions=2,
                future_sessions=2,
            ),
            "warned": weekly_subscription(
                self.warned,
                self.mentor,
                now=now,
                session_started_ago=ago,
                past_sessions=1,
                future_sessions=2,
            ),
            "active": weekly_subscription(
                self.active,
                self.mentor,
                now=now,
                session_started_ago=-timedelta(minutes=10),
                past_sessions=1,
                future_sessions=1,
            ),
            "foreign": weekly_subscription(
                self.foreign,
                self.other_mentor,
                now=now,
                session_started_ago=ago,
                past_sessions=1,
                future_sessions=1,
            ),
        }
        self.now = now


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def world(settings: Settings) -> AsyncIterator[tuple[World, str]]:
    # Notifications too: the list links the mentor's calendar feed.
    apps = [booking_app(settings), attendance_app(settings), notifications_app(settings)]
    for app in apps:
        await app.start()
    gateway = gateway_app(settings)
    port = free_port()
    server = asyncio.create_task(serve(gateway, "127.0.0.1", port))
    world = World(settings)
    try:
        await publish(settings, *world.subs.values())
        await _settled(settings, world, lambda s: s.upcoming_bookings == 2 and s.absences == 0, 4)
        await publish(settings, SweepTick(occurred_at=world.now, tick_at=world.now))
        await _settled(
            settings,
            world,
            lambda s: s.status in {"warned", "reprobated"} and s.upcoming_bookings in {0, 2},
            3,
        )
        yield world, f"http://127.0.0.1:{port}"
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        for app in apps:
            await app.stop()


async def _settled(settings: Settings, world: World, ready: object, count: int) -> None:
    from services.kit.messaging import Messaging

    messaging = Messaging(settings, "gateway")
    await messaging.declare()
    await messaging.broker.start()
    try:
        owners = Owners(messaging, 5)

        async def subscribers() -> list[object]:
            reply = await owners.ask(
                ListSubscribers(mentor_id=world.mentor.person.id, now=world.now), SubscribersReply
            )
            return [s for s in reply.subscribers if ready(s)]  # type: ignore[operator]

        await eventually(subscribers, lambda found: len(found) == count, within=20)
    finally:
        await messaging.broker.stop()
        await messaging.close()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        await chromium.close()


async def signed_in(browser: Browser, base: str, who: User, width: int = 1100) -> BrowserContext:
    """`who`'s browser, back again: its clock in the subscriptions' zone, which the
    dashboard has already been told (cookie `tz`), so no page is loaded twice."""
    context = await browser.new_context(viewport={"width": width, "height": 900}, timezone_id=ZONE)
    await context.add_cookies(
        [
            {"name": "session", "value": who.token, "url": base},
            {"name": "tz", "value": ZONE, "url": base},
        ]
    )
    return context


DOCS = Path(__file__).resolve().parents[2] / "docs"


async def shot(page: Page, name: str, *, docs: str | None = None) -> None:
    """A screenshot in artifacts/screenshots; with `docs`, also the README's picture
    `docs/<docs>.png` when UPDATE_DOCS_SCREENSHOTS=1 (so that a test run leaves the
    repository as it was unless asked)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if docs is not None and os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        await page.screenshot(path=str(DOCS / f"{docs}.png"), full_page=True)


async def test_a_mentor_sees_only_their_subscribers_with_the_right_counts(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    context = await signed_in(browser, base, w.mentor)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    rows = page.locator("table.subscribers tbody tr")
    await expect(rows).to_have_count(4)
    await expect(page.get_by_text("Fiona Foreign")).to_have_count(0)
    rita = page.locator("tr", has_text="Rita Reprobated")
    await expect(rita.locator(".absences")).to_have_text("2")
    await expect(rita.locator(".consecutive")).to_have_text("2")
    await expect(rita.locator(".status")).to_have_text("reprobated")
    walter = page.locator("tr", has_text="Walter Warned")
    await expect(walter.locator(".consecutive")).to_have_text("1")
    await expect(walter.locator(".status")).to_have_text("warned")
    feed = await page.locator("#calendar a.feed").get_attribute("href")
    assert feed is not None and feed.endswith(".ics")
    assert (await page.request.get(feed)).status == 200
    await shot(page, "subscribers", docs="mentor-subscribers")
    await page.set_viewport_size({"width": 390, "height": 844})
    await shot(page, "subscribers-phone")
    await context.close()


def today_for_anna(w: World) -> list[str]:
    """Anna's first session starts ten minutes after the world was made: on the
    day (UTC) of `now`, except just before midnight. Compared in UTC: the start is
    in her slot's zone, whose date differs from UTC's for hours each evening."""
    starts = w.subs["active"].cycle_starts_at + timedelta(minutes=1)
    return ["Anna Active"] if starts.astimezone(UTC).date() == w.now.date() else []


async def test_the_list_puts_who_needs_the_mentor_first_and_says_what_statuses_mean(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    context = await signed_in(browser, base, w.mentor)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    names = page.locator("table.subscribers tbody tr td[data-label=Mentee] > a")
    # Reprobated, then warned, then the rest: not alphabetical.
    await expect(names).to_have_text(
        ["Lena Listed", "Rita Reprobated", "Walter Warned", "Anna Active"]
    )
    legend = page.locator("details.legend")
    await legend.locator("summary").click()
    await expect(legend).to_contain_text("Reactivate them to book it again")
    status = page.locator("tr", has_text="Walter Warned").locator(".status")
    assert "emailed a warning" in (await status.get_attribute("title") or "")
    # Today: Anna's session, not joined yet (it starts in a few minutes).
    today = page.locator("section.today li")
    if today_for_anna(w):
        await expect(today.filter(has_text="Anna Active")).to_contain_text("upcoming")
    await page.get_by_role("link", name="Warned (1)").click()
    await expect(names).to_have_text(["Walter Warned"])
    await expect(page.get_by_role("link", name="Warned (1)")).to_have_attribute(
        "aria-current", "page"
    )
    await shot(page, "subscribers-warned-only")
    await context.close()


async def test_an_upcoming_session_can_be_excused_ahead_and_the_mark_taken_back(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    sid = w.subs["warned"].subscription_id
    context = await signed_in(browser, base, w.mentor)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers/{sid}")
    upcoming = page.locator("table.bookings tbody tr", has_text="upcoming")
    await expect(upcoming).to_have_count(2)
    # Nothing preset to "present": an upcoming session can only be excused ahead.
    await expect(upcoming.get_by_role("combobox")).to_have_count(0)
    first = upcoming.first
    await first.get_by_placeholder("Reason (optional)").fill("a conference")
    await first.get_by_role("button", name="Excuse ahead").click()
    await expect(page.locator("#done")).to_contain_text("Saved:")
    await expect(page.locator("#done")).to_contain_text("is marked excused")
    excused = page.locator("table.bookings tbody tr", has_text="a conference")
    await expect(excused.locator(".attendance")).to_have_text("excused")
    # Excused ahead is neutral: Walter stays warned, and nothing says he attended.
    await expect(page.locator("#status")).to_have_text("warned")
    await shot(page, "subscriber-excused-ahead")
    await excused.get_by_role("button", name="Clear the mark").click()
    await expect(page.locator("#done")).to_contain_text("is not marked")
    await expect(page.locator("table.bookings tbody tr", has_text="upcoming")).to_have_count(2)
    latest = page.locator("table.history tbody tr").first
    await expect(latest.locator(".what")).to_have_text("excused → not marked")
    await context.close()


@contextmanager
def other_site(html: str) -> Iterator[int]:
    """Another site, on a port of its own, serving one page; yields its port."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def csp_violations(page: Page) -> list[str]:
    """Console messages in which Chromium reports content the policy blocked."""
    seen: list[str] = []

    def listen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.append(message.text)

    page.on("console", listen)
    return seen


async def test_a_mentor_signs_in_with_a_platform_token(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{base}/sign-in")
    await page.get_by_label("Token").fill(w.mentor.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("table.subscribers tbody tr")).to_have_count(4)
    assert page.url == f"{base}/dashboard/mentorship/subscribers"
    # The session's cookie, and the browser's zone the page's script told the server.
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies.keys() == {"session", "tz"}
    cookie = cookies["session"]
    assert cookie["value"] == w.mentor.token
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert "session" not in await page.evaluate("document.cookie")  # scripts cannot read it
    await context.close()


@pytest.mark.parametrize(
    "site_host",
    ["127.0.0.1", "localhost"],
    ids=["same-site-other-origin-cookie-sent", "cross-site"],
)
async def test_another_sites_form_cannot_reactivate_a_mentee(
    world: tuple[World, str], browser: Browser, site_host: str
) -> None:
    w, base = world
    sid = w.subs["reprobated"].subscription_id
    context = await browser.new_context()
    page = await context.new_page()
    # Signed in the way the platform hands users over: its form posts the token.
    await page.goto(f"{base}/sign-in")
    await page.get_by_label("Token").fill(w.mentor.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("table.subscribers")).to_be_visible()

    guess = "0" * 64
    html = f"""<!DOCTYPE html><title>Win a prize</title>
<form method="post" action="{base}/dashboard/mentorship/subscribers/{sid}/reactivate">
<input type="hidden" name="csrf_token" value="{guess}">
<button type="submit">Claim your prize</button></form>"""
    with other_site(html) as port:
        await page.goto(f"http://{site_host}:{port}/")
        async with page.expect_response(lambda r: r.url.endswith("/reactivate")) as posted:
            await page.get_by_role("button", name="Claim your prize").click()
        response = await posted.value
        assert response.status == 403, await response.text()
        await expect(page.get_by_role("heading", name="Request refused")).to_be_visible()
        await expect(page.locator(".error")).to_contain_text("dashboard's own pages")
        await shot(page, f"cross-site-refused-{site_host}")

    await page.goto(f"{base}/dashboard/mentorship/subscribers/{sid}")
    await expect(page.locator("#status")).to_have_text("reprobated")  # nothing changed
    await expect(page.locator("#upcoming")).to_have_text("0")
    await context.close()


async def test_a_mentor_marks_a_booking_and_reactivates_without_a_reload(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    sid = w.subs["reprobated"].subscription_id
    context = await signed_in(browser, base, w.mentor)
    page, stale = await context.new_page(), await context.new_page()
    blocked = [csp_violations(page), csp_violations(stale)]
    for p in (page, stale):
        await p.goto(f"{base}/dashboard/mentorship/subscribers/{sid}")
    await expect(page.locator("#status")).to_have_text("reprobated")
    # Session times read in the reader's zone, here the browser's, the slot's too.
    first_start = (w.subs["reprobated"].cycle_starts_at + timedelta(minutes=1)).astimezone(
        ZoneInfo(w.subs["reprobated"].slot.timezone)
    )
    await expect(page.locator("#zone")).to_contain_text("Sao Paulo time (America/Sao_Paulo)")
    await expect(page.locator("td[data-label=Session]").first).to_have_text(
        f"{first_start:%a %d %b %Y, %H:%M}"
    )
    await page.evaluate("window.__loadedOnce = true")

    first_absence = page.locator("tr", has_text="absent").first
    await first_absence.get_by_role("combobox").select_option("excused")
    await first_absence.get_by_placeholder("Reason (optional)").fill("ill, told me ahead")
    await first_absence.get_by_role("button", name="Save").click()
    corrected = page.locator("tr", has=page.locator(".marked-by", has_text="mentor"))
    await expect(corrected).to_have_count(1)
    await expect(corrected.locator(".attendance")).to_have_text("excused")
    await expect(corrected.locator(".reason")).to_have_text("“ill, told me ahead”")
    await expect(page.locator("#done")).to_contain_text("is marked excused")
    # Excused is neutral: the other absence still counts.
    await expect(page.locator("#consecutive")).to_have_text("1")
    # The history, newest first, says what the mark was, what it is, who changed it and why.
    latest = page.locator("table.history tbody tr").first
    await expect(latest.locator(".what")).to_have_text("absent → excused")
    await expect(latest.locator(".by")).to_have_text("you")
    await expect(latest).to_contain_text("ill, told me ahead")
    await expect(page.locator("table.history .what", has_text="reprobated")).to_have_count(1)

    await page.get_by_role("button", name="Reactivate Rita Reprobated").click()
    await expect(page.locator("#status")).to_have_text("active")
    await expect(page.locator("#upcoming")).to_have_text("2", timeout=15000)
    assert await page.evaluate("window.__loadedOnce") is True  # no reload happened
    await expect(page.locator("#done")).to_contain_text("Rita Reprobated is reactivated")
    await expect(page.locator("#done")).to_contain_text("2 upcoming sessions are booked")
    # One row per session: the bookings booked again stand for the cancelled ones.
    await expect(page.locator("table.bookings tbody tr")).to_have_count(4)
    await expect(page.locator("table.bookings tr.cancelled")).to_have_count(0)
    await shot(page, "subscriber-reactivated")

    # The stale tab still shows the button: the service refuses, in words.
    await stale.get_by_role("button", name="Reactivate Rita Reprobated").click()
    await expect(stale.locator("#notice")).to_contain_text("not reprobated")
    assert blocked == [[], []]  # the Content-Security-Policy blocks nothing the dashboard needs
    await context.close()


async def test_another_mentors_subscriber_is_refused_in_words(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    context = await signed_in(browser, base, w.mentor)
    page = await context.new_page()
    response = await page.goto(
        f"{base}/dashboard/mentorship/subscribers/{w.subs['foreign'].subscription_id}"
    )
    assert response is not None and response.status == 403
    await expect(page.locator(".error")).to_contain_text("not one of your subscribers")
    await context.close()


async def test_without_a_session_the_page_explains_how_to_sign_in(
    world: tuple[World, str], browser: Browser
) -> None:
    _, base = world
    context = await browser.new_context()
    page = await context.new_page()
    response = await page.goto(f"{base}/dashboard/mentorship/subscribers")
    assert response is not None and response.status == 401
    await expect(page.get_by_text("make token ROLE=mentor")).to_be_visible()
    await context.close()


async def test_a_mentor_reactivates_from_the_list_without_a_reload(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    context = await signed_in(browser, base, w.mentor)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    await page.evaluate("window.__loadedOnce = true")
    walter = page.locator("tr", has_text="Walter Warned")
    await expect(walter.get_by_role("button")).to_have_count(0)  # only the reprobated have one
    lena = page.locator("tr", has_text="Lena Listed")
    await expect(lena.locator(".status")).to_have_text("reprobated")
    await lena.get_by_role("button", name="Reactivate Lena Listed").click()
    await expect(lena.locator(".status")).to_have_text("active")
    await expect(lena.get_by_role("button")).to_have_count(0)
    assert await page.evaluate("window.__loadedOnce") is True
    await expect(page.locator("#done")).to_contain_text("Lena Listed is reactivated")
    # Booking regenerates the rest of the cycle a moment later; the row follows.
    await expect(lena.locator(".next")).not_to_have_text("—", timeout=15000)
    await expect(page.locator("#done")).to_contain_text("2 upcoming sessions are booked")
    assert await page.evaluate("window.__loadedOnce") is True
    await shot(page, "subscribers-reactivated")
    await context.close()


async def test_a_mentor_downloads_their_attendance_as_csv(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    context = await signed_in(browser, base, w.mentor)
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download CSV").click()
    download = await downloading.value
    assert download.suggested_filename.startswith("attendance-")
    path = await download.path()
    text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    header, *rows = csv.reader(io.StringIO(text))
    assert header[:5] == ["mentee", "mentee_email", "session_starts_at", "timezone", "status"]
    # Every past session of this mentor's subscribers (the last 30 days), none of another's.
    assert sorted(r[0] for r in rows) == sorted(
        ["Lena Listed"] * 2 + ["Rita Reprobated"] * 2 + ["Walter Warned"] + today_for_anna(w)
    )
    walter = next(r for r in rows if r[0] == "Walter Warned")
    assert (walter[3], walter[4], walter[5]) == ("America/Sao_Paulo", "absent", "system")
    # In the slot's zone, as spreadsheets read dates: 2026-12-05 18:00.
    started = w.subs["warned"].cycle_starts_at + timedelta(minutes=1)
    assert walter[2] == f"{started.astimezone(ZoneInfo('America/Sao_Paulo')):%Y-%m-%d %H:%M}"
    marked_at = datetime.strptime(walter[6], "%Y-%m-%d %H:%M")
    assert (
        started.replace(tzinfo=None)
        < marked_at
        <= datetime.now(ZoneInfo("America/Sao_Paulo")).replace(tzinfo=None)
    )
    starts = [r[2] for r in rows]  # all in Sao Paulo: local order is start order
    assert starts == sorted(starts)
    await context.close()


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


async def test_the_export_form_writes_its_days_as_the_page_does_whatever_the_browsers_language(
    world: tuple[World, str], browser: Browser
) -> None:
    w, base = world
    # A picker writes the day in the order of Chromium's own language (09/06/2026:
    # June or September?); beside it the page writes it as it writes every day,
    # whatever the language the browser tells the page.
    # bypass_csp: the page's policy refuses the inline script that brings axe in.
    context = await browser.new_context(
        locale="pt-BR", viewport={"width": 1100, "height": 900}, bypass_csp=True
    )
    await context.add_cookies([{"name": "session", "value": w.mentor.token, "url": base}])
    page = await context.new_page()
    await page.goto(f"{base}/dashboard/mentorship/subscribers")
    form = page.locator("form.export")
    starts_on, ends_on = page.get_by_label("From", exact=True), page.get_by_label("To", exact=True)
    today = w.now.date()
    assert await starts_on.input_value() == (today - timedelta(days=30)).isoformat()
    await expect(form.locator("#export-to-day")).to_have_text(f"{today:%a %d %b %Y}")
    await starts_on.fill("2026-09-06")
    await expect(form.locator("#export-from-day")).to_have_text("Sun 06 Sep 2026")
    await expect(starts_on).to_have_accessible_description("Sun 06 Sep 2026")
    await ends_on.fill("2024-02-29")
    await expect(form.locator("#export-to-day")).to_have_text("Thu 29 Feb 2024")
    await ends_on.fill("")
    await expect(form.locator("#export-to-day")).to_have_text("—")
    await ends_on.fill("2026-12-06")
    await expect(ends_on).to_have_accessible_description("Sun 06 Dec 2026")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await form.screenshot(path=str(SCREENSHOTS / "export-form.png"))
    if AXE.exists():  # npm's axe-core, installed by make install
        await page.add_script_tag(path=str(AXE))
        found = await page.evaluate(
            "async () => (await axe.run('form.export')).violations.map((v) => v.id)"
        )
        assert found == []
    await context.close()

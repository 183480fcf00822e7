"""Issue 36 end to end: a mentor's no-show owes the mentee a make-up session.

Every service its own process (no scheduler: the test sends its own ticks), with
TRACK_MENTOR_JOINS on and MAKEUP_EXPIRED_REFUND=stripe_credit, Stripe played by a local
server (tests/support/fake_stripe.py) at STRIPE_API_BASE. The services' HTTP_PROXY is
the session's recording proxy, as for the rest of the suite, with 127.0.0.1 left out
of it: a call for the real api.stripe.com would be recorded there, the fake's are not.

A no-show swept gives one credit; the mentor books it on the subscriber's page in
Chromium; the mentee is invited (invite.ics); their join marks it used. A second credit
left alone expires at the sweep after MAKEUP_WITHIN_DAYS, and becomes one balance credit
at Stripe through a repeated tick and a restart of booking while Stripe is answering."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from icalendar import Calendar
from playwright.async_api import Browser, expect

from contracts import (
    BookingsScheduled,
    MakeupExpired,
    MakeupOwed,
    MakeupRefunded,
    MakeupUsed,
    MentorMissed,
    SubscriptionActivated,
)
from services.gateway.times import zone_of
from services.kit.database import Database
from services.kit.settings import Settings
from tests.browser.test_dashboard import CHROMIUM, browser, shot, signed_in
from tests.conftest import derived
from tests.e2e.conftest import tick
from tests.e2e.test_fair_marks import by_start
from tests.e2e.test_lifecycle import LIFECYCLE_KEYS, activate, people
from tests.support.fake_stripe import FakeStripe, fake_stripe
from tests.support.listening import Listener, listening
from tests.support.outbound import OutboundRecorder
from tests.support.settling import applied, service_settled
from tests.support.smtp import RecordingSMTPServer
from tests.support.system import System
from tests.support.waiting import eventually
from tests.support.world import User, weekly_subscription

__all__ = ["browser"]  # Chromium, shared with the dashboard's tests

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]

WITHIN_DAYS = 14
PRICE = 6000  # cents per cycle; the cycle below holds two sessions: 3000 each
# How long fake Stripe holds its answer to the first balance credit: booking is
# stopped meanwhile, the credit made at Stripe but never heard of.
ANSWER_AFTER = 10.0


@pytest.fixture(scope="module")
def makeup_settings(settings: Settings) -> Settings:
    # Alone in its namespace: its ticks, days ahead, sweep only this module's sessions.
    return derived(settings, "makeups")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def stripe_api() -> AsyncIterator[FakeStripe]:
    async with fake_stripe() as fake:
        yield fake


# Replaces the suite's system (tests/e2e/conftest.py) in this module; its `gateway`
# fixture is a client of this one.
@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def system(
    makeup_settings: Settings,
    smtp: RecordingSMTPServer,
    outbound: OutboundRecorder,
    stripe_api: FakeStripe,
) -> AsyncIterator[System]:
    system = System(
        makeup_settings,
        smtp_port=smtp.port,
        extra_env={
            "TRACK_MENTOR_JOINS": "true",
            "MAKEUP_WITHIN_DAYS": str(WITHIN_DAYS),
            "MAKEUP_EXPIRED_REFUND": "stripe_credit",
            "STRIPE_API_KEY": "sk_test_makeups_e2e",
            "STRIPE_API_BASE": stripe_api.url,
            "HTTP_PROXY": outbound.url,
            "HTTPS_PROXY": outbound.url,
            "NO_PROXY": "127.0.0.1,localhost",
        },
        services=("booking", "attendance", "notifications"),
    )
    try:
        await system.start()
        yield system
    finally:
        system.stop()


async def makeups(gateway: httpx.AsyncClient, mentor: User, sid: UUID) -> list[dict[str, Any]]:
    response = await gateway.get(f"/api/mentor/subscribers/{sid}/makeups", headers=mentor.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["makeups"])


def with_subject(smtp: RecordingSMTPServer, address: str, start: str) -> list[EmailMessage]:
    return [m for m in smtp.to(address) if str(m["Subject"]).startswith(start)]


async def test_a_no_show_owes_a_makeup_booked_on_the_page_used_and_another_expired_and_refunded(
    makeup_settings: Settings,
    system: System,
    gateway: httpx.AsyncClient,
    smtp: RecordingSMTPServer,
    outbound: OutboundRecorder,
    stripe_api: FakeStripe,
    browser: Browser,
) -> None:
    settings = makeup_settings
    went_out = len(outbound.attempts)
    mentee, mentor = people(settings)
    # Two sessions gone, a week apart, neither joined by anyone; the cycle holds just them.
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=datetime.now(UTC),
        session_started_ago=timedelta(hours=2),
        past_sessions=2,
        future_sessions=0,
    )
    stripe_api.subscriptions[subscription.stripe_subscription_id] = (PRICE, "cus_makeups_e2e")
    sid = subscription.subscription_id
    first, second = by_start(await activate(settings, gateway, subscription, mentee, 2))
    keys = [*LIFECYCLE_KEYS, "mentor.missed", "makeup.*"]

    async with listening(settings, keys) as bus:
        # The sweep after the first session: the mentor's no-show, one credit for it.
        await tick(settings, datetime.fromisoformat(first["ends_at"]) + timedelta(minutes=20))
        [owed] = await bus.wait_for(MakeupOwed, subscription_id=sid)
        await service_settled(settings, "booking", bus)
        assert [m.booking_id for m in bus.of(MentorMissed, subscription_id=sid)] == [
            UUID(first["booking_id"])
        ]
        assert len(bus.of(MakeupOwed, subscription_id=sid)) == 1
        assert owed.missed_booking_id == UUID(first["booking_id"])
        [credit] = await makeups(gateway, mentor, sid)
        assert (credit["missed_booking_id"], credit["status"]) == (first["booking_id"], "owed")

        makeup_at = await booked_on_the_page(system, browser, mentor, subscription, credit)
        [scheduled] = await bus.wait_for(BookingsScheduled, subscription_id=sid, kind="makeup")
        [makeup] = scheduled.bookings
        assert (scheduled.makeup_for, makeup.starts_at) == (owed.missed_booking_id, makeup_at)
        invitations = await eventually(
            partial(_of, smtp, mentee.person.email, "Make-up session booked"), bool, within=15
        )
        invited(invitations, makeup.booking_id, makeup_at)

        # The mentee joins ten minutes ahead, inside the window: present, the credit used.
        await eventually(
            lambda: _attendance_bookings(gateway, mentor, sid), lambda n: n == 3, within=15
        )
        joined = await gateway.post(
            f"/api/bookings/{makeup.booking_id}/join", headers=mentee.headers
        )
        assert joined.status_code == 202, joined.text
        [used] = await bus.wait_for(MakeupUsed, subscription_id=sid)
        assert (used.booking_id, used.mark) == (makeup.booking_id, "present")
        used_credit = await eventually(
            lambda: makeups(gateway, mentor, sid), lambda ms: ms[0]["status"] == "used"
        )
        assert [m["status"] for m in used_credit] == ["used"]

        # The sweep after the second: another credit, which nobody books.
        await tick(settings, datetime.now(UTC))
        [other] = await bus.wait_for(
            MakeupOwed, missed_booking_id=UUID(second["booking_id"]), within=15
        )
        book_by = other.missed_starts_at + timedelta(days=WITHIN_DAYS)
        told = await expired_and_refunded_once(settings, system, bus, stripe_api, other, book_by)

    credits = {m["missed_booking_id"]: m["status"] for m in await makeups(gateway, mentor, sid)}
    assert credits == {first["booking_id"]: "used", second["booking_id"]: "expired"}
    # The mentee (the mentor in Cc) told once of each, once notifications applied both.
    notifications = Database(settings, "notifications")
    try:
        await applied(notifications, told)
    finally:
        await notifications.dispose()
    address = mentee.person.email
    expiry = "Your make-up session for the session missed on"
    assert len(await eventually(partial(_of, smtp, address, expiry), bool)) == 1
    [refund] = await eventually(partial(_of, smtp, address, "€30.00 credited"), bool)
    assert refund["Cc"] == mentor.person.email
    assert len(with_subject(smtp, address, expiry)) == 1
    assert len(with_subject(smtp, address, "€30.00 credited")) == 1
    # Stripe's calls went to the fake server: nothing tried to leave through the proxy.
    assert outbound.attempts[went_out:] == []


async def booked_on_the_page(
    system: System,
    browser: Browser,
    mentor: User,
    subscription: SubscriptionActivated,
    credit: dict[str, Any],
) -> datetime:
    """The mentor books the make-up on the subscriber's page, ten minutes from now (the
    minute the field takes); its start."""
    base = system.gateway_url
    context = await signed_in(browser, base, mentor)
    try:
        page = await context.new_page()
        await page.goto(f"{base}/dashboard/mentorship/subscribers/{subscription.subscription_id}")
        item = page.locator(f'li[data-makeup="{credit["missed_booking_id"]}"]')
        zone = zone_of(await item.locator('input[name="zone"]').input_value())
        at = (datetime.now(zone) + timedelta(minutes=11)).replace(second=0, microsecond=0)
        await item.get_by_label("Make-up starts").fill(f"{at:%Y-%m-%dT%H:%M}")
        await item.get_by_role("button", name="Book the make-up").click()
        await expect(page.locator("#done")).to_contain_text("Make-up booked for")
        await expect(item.locator("form")).to_have_count(0)
        await shot(page, "e2e-makeup-booked")
    finally:
        await context.close()
    return at.astimezone(UTC)


def invited(emails: list[EmailMessage], booking_id: UUID, starts_at: datetime) -> None:
    """The one email `emails` invites to the make-up `booking_id` at `starts_at`."""
    [invitation] = emails
    [part] = [p for p in invitation.walk() if p.get_content_type() == "text/calendar"]
    assert (part.get_filename(), part.get_param("method")) == ("invite.ics", "REQUEST")
    [vevent] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert str(vevent["uid"]) == f"{booking_id}@mentorship-attendance"
    assert vevent.decoded("dtstart") == starts_at


async def expired_and_refunded_once(
    settings: Settings,
    system: System,
    bus: Listener,
    stripe_api: FakeStripe,
    owed: MakeupOwed,
    book_by: datetime,
) -> tuple[MakeupExpired, MakeupRefunded]:
    """The credit `owed` expires at the first sweep past `book_by`, not before; Stripe
    credits it while booking stops and starts again, the tick sent again on either side.
    Exactly one balance credit, every request with the missed booking's id as key."""
    missed = owed.missed_booking_id
    await tick(settings, book_by - timedelta(hours=1))
    stripe_api.answer_after.append(ANSWER_AFTER)
    expiry_tick = await tick(settings, book_by + timedelta(minutes=5))
    [expired] = await bus.wait_for(MakeupExpired, subscription_id=owed.subscription_id)
    # Expired by the tick past book_by, not by the one before it.
    assert (expired.missed_booking_id, expired.book_by, expired.expired_at, expired.refund) == (
        missed,
        book_by,
        expiry_tick.tick_at,
        "stripe_credit",
    )
    # Stripe got the credit, and holds its answer: booking stops, the call in flight.
    posts = await eventually(partial(_posts, stripe_api), bool, within=15)
    assert len(posts) == 1
    repeated = await tick(settings, expiry_tick.tick_at)
    await service_settled(settings, "booking", bus, after=[repeated])
    system.stop_service("booking")
    assert bus.of(MakeupRefunded, missed_booking_id=missed) == []  # never heard of
    assert len(stripe_api.balance_credits()) == 1

    system.start_service("booking")
    await system.wait_ready()
    await tick(settings, expiry_tick.tick_at)
    [refunded] = await bus.wait_for(MakeupRefunded, missed_booking_id=missed, within=20)
    await service_settled(settings, "booking", bus)

    assert len(bus.of(MakeupExpired, subscription_id=owed.subscription_id)) == 1
    assert len(bus.of(MakeupRefunded, subscription_id=owed.subscription_id)) == 1
    [credit] = stripe_api.balance_credits()
    assert (credit["amount"], credit["currency"], credit["customer"]) == (
        -3000,
        "eur",
        "cus_makeups_e2e",
    )
    assert (refunded.amount, refunded.stripe_balance_transaction_id) == (3000, credit["id"])
    posts = await _posts(stripe_api)
    assert len(posts) == 2  # before the restart, and the same request after it
    assert {p.idempotency_key for p in posts} == {str(missed)}
    assert posts[0].form == posts[1].form
    return expired, refunded


async def _posts(stripe_api: FakeStripe) -> list[Any]:
    return [r for r in stripe_api.received if r.method == "POST"]


async def _of(smtp: RecordingSMTPServer, address: str, start: str) -> list[EmailMessage]:
    return with_subject(smtp, address, start)


async def _attendance_bookings(gateway: httpx.AsyncClient, mentor: User, sid: UUID) -> int:
    response = await gateway.get(f"/api/mentor/subscribers/{sid}", headers=mentor.headers)
    return len(response.json()["bookings"]) if response.status_code == 200 else -1

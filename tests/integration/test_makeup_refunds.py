"""A make-up nobody booked expires at the sweep after MAKEUP_WITHIN_DAYS and, with
MAKEUP_EXPIRED_REFUND=stripe_credit, becomes one credit on the mentee's Stripe customer
balance: booking on the real broker and database, Stripe played by a local server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from contracts import (
    AttendanceMarked,
    BookingsScheduled,
    MakeupExpired,
    MakeupOwed,
    MakeupRefunded,
    Person,
    Slot,
    SubscriptionActivated,
    SweepTick,
)
from services.booking.app import create_runtime
from services.kit.database import Database, driver
from services.kit.settings import Settings
from tests.conftest import derived
from tests.support.fake_stripe import FakeStripe, fake_stripe
from tests.support.listening import Listener, listening, publish
from tests.support.waiting import eventually

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
PRICE = 6000  # cents per four-week cycle: 1500 a session


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    # Alone in its namespace: its sweeps expire only these tests' make-ups.
    return derived(settings, "rf")


@pytest_asyncio.fixture(loop_scope="session")
async def stripe_api() -> AsyncIterator[FakeStripe]:
    async with fake_stripe() as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="session")
async def bus(settings: Settings) -> AsyncIterator[Listener]:
    async with listening(settings, ["bookings.scheduled", "makeup.*"]) as listener:
        yield listener


def refunding(settings: Settings, stripe_api: FakeStripe) -> Settings:
    return settings.model_copy(
        update={
            "makeup_expired_refund": "stripe_credit",
            "stripe_api_key": "sk_test_fake",
            "stripe_api_base": stripe_api.url,
        }
    )


async def missed_session(settings: Settings, bus: Listener, stripe_id: str) -> AttendanceMarked:
    """A four-week subscription whose first session the mentor missed (a make-up owed)."""
    sub = SubscriptionActivated(
        occurred_at=MONDAY,
        subscription_id=uuid.uuid4(),
        stripe_subscription_id=stripe_id,
        mentee=Person(id=uuid.uuid4(), name="Maria", email="maria@example.com"),
        mentor=Person(id=uuid.uuid4(), name="Otto", email="otto@example.com"),
        slot=Slot(weekday=0, start_time="18:00", duration_minutes=60, timezone="UTC"),
        cycle_starts_at=MONDAY,
        cycle_ends_at=MONDAY + timedelta(weeks=4),
    )
    await publish(settings, sub)
    [scheduled] = await bus.wait_for(BookingsScheduled, subscription_id=sub.subscription_id)
    missed = scheduled.bookings[0]
    at = missed.ends_at + timedelta(minutes=20)
    mark = AttendanceMarked(
        occurred_at=at,
        booking_id=missed.booking_id,
        subscription_id=sub.subscription_id,
        attended=False,
        status="mentor_no_show",
        marked_by="system",
        marked_at=at,
        revision=1,
    )
    await publish(settings, mark)
    await bus.wait_for(MakeupOwed, missed_booking_id=missed.booking_id)
    return mark


async def refund_of(db: Database, missed_booking_id: uuid.UUID) -> tuple[str, int] | None:
    async with db.transaction() as tx:
        row = await (await driver(tx)).fetchrow(
            "SELECT status, attempts FROM makeup_refunds WHERE missed_booking_id = $1",
            missed_booking_id,
        )
    return None if row is None else (row["status"], row["attempts"])


async def test_an_expired_make_up_is_credited_once_through_a_repeated_tick_and_a_restart(
    settings: Settings, stripe_api: FakeStripe, bus: Listener
) -> None:
    own = refunding(settings, stripe_api)
    stripe_api.subscriptions["sub_refund_1"] = (PRICE, "cus_maria")
    # Stripe creates the credit but answers only after the service has stopped.
    stripe_api.answer_after.append(5)
    first = create_runtime(own)
    app = first.app()
    await app.start()
    try:
        mark = await missed_session(own, bus, "sub_refund_1")
        missed_id = mark.booking_id
        not_yet = MONDAY + timedelta(days=13, hours=23)
        await publish(own, SweepTick(occurred_at=not_yet, tick_at=not_yet))
        tick = MONDAY + timedelta(days=14, hours=18)
        await publish(own, SweepTick(occurred_at=tick, tick_at=tick))
        [expired] = await bus.wait_for(MakeupExpired, missed_booking_id=missed_id)
        assert (expired.refund, expired.book_by) == ("stripe_credit", tick)
        assert expired.missed_starts_at == MONDAY + timedelta(hours=18)
        await eventually(lambda: _posted(stripe_api), lambda n: n == 1)
    finally:
        await app.stop()
    assert await refund_of(first.db, missed_id) == ("due", 0)

    again = create_runtime(own)
    app = again.app()
    await app.start()
    try:
        await publish(own, SweepTick(occurred_at=tick, tick_at=tick))
        [refunded] = await bus.wait_for(MakeupRefunded, missed_booking_id=missed_id)
        assert await refund_of(again.db, missed_id) == ("refunded", 1)
    finally:
        await app.stop()

    assert len(bus.of(MakeupExpired, missed_booking_id=missed_id)) == 1
    [credit] = stripe_api.balance_credits()
    assert (credit["amount"], credit["currency"], credit["customer"]) == (-1500, "eur", "cus_maria")
    posts = [r for r in stripe_api.received if r.method == "POST"]
    assert len(posts) == 2  # before the restart, and the same request after it
    assert {r.idempotency_key for r in posts} == {str(missed_id)}
    assert posts[0].form == posts[1].form
    assert posts[0].form["metadata[missed_booking_id]"] == str(missed_id)
    assert (refunded.amount, refunded.currency) == (1500, "eur")
    assert refunded.stripe_balance_transaction_id == credit["id"]


async def test_without_the_refund_an_expired_make_up_asks_stripe_nothing(
    settings: Settings, stripe_api: FakeStripe, bus: Listener
) -> None:
    runtime = create_runtime(settings)
    app = runtime.app()
    await app.start()
    try:
        mark = await missed_session(settings, bus, "sub_refund_2")
        tick = MONDAY + timedelta(days=15)
        await publish(settings, SweepTick(occurred_at=tick, tick_at=tick))
        [expired] = await bus.wait_for(MakeupExpired, missed_booking_id=mark.booking_id)
        assert expired.refund == "none"
        assert await refund_of(runtime.db, mark.booking_id) is None
    finally:
        await app.stop()
    assert stripe_api.received == []


async def _posted(stripe_api: FakeStripe) -> int:
    return sum(1 for r in stripe_api.received if r.method == "POST")

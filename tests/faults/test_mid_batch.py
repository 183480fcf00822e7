"""Batches under fault, with attendance as its own process on the machine's broker and
database (only the process this test starts is killed).

To catch attendance with a batch in hand, the test holds one subscription's row
lock: the batch that holds an absence of that subscription waits for it inside
its transaction, with the inbox claims and marks of its batch-mates written but
not committed. Then:
- attendance is killed (SIGKILL) and restarted: every absence recorded once;
- or a batch holds poison: an absence of an unknown subscription fails the batch,
  its batch-mates are applied once each and only the poison is dead-lettered,
  with its reason (a body that is not JSON never enters a batch at all).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aio_pika
import asyncpg
import pytest
import pytest_asyncio

from contracts import BookingUnattended, SubscriptionActivated
from services.kit.settings import Settings
from tests.conftest import derived
from tests.support.listening import publish
from tests.support.system import System
from tests.support.waiting import eventually
from tests.support.world import user, weekly_subscription

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

SUBSCRIPTIONS = 40
LOCKED = 0  # the subscription whose row the test holds


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return derived(settings, f"mid{uuid.uuid4().hex[:6]}")


@pytest_asyncio.fixture(loop_scope="session")
async def attendance(settings: Settings) -> AsyncIterator[System]:
    system = System(
        settings,
        smtp_port=1,
        services=("attendance",),
        # Retried once, then dead-lettered: the poison's fate is quick to see.
        extra_env={"DELIVERY_LIMIT": "2"},
    )
    try:
        await system.start()
        yield system
    finally:
        system.stop()


class World:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.now = datetime.now(UTC)
        self.subscriptions: list[SubscriptionActivated] = []
        for i in range(SUBSCRIPTIONS):
            mentee = user(settings.jwt_secret, "mentee", f"Mentee {i}")
            mentor = user(settings.jwt_secret, "mentor", f"Mentor {i}")
            self.subscriptions.append(
                weekly_subscription(
                    mentee,
                    mentor,
                    now=self.now,
                    session_started_ago=timedelta(hours=3),
                    past_sessions=1,
                    future_sessions=0,
                )
            )
        self.url = settings.postgres_dsn(settings.naming.database("attendance"))

    def absence(self, s: SubscriptionActivated) -> BookingUnattended:
        starts_at = self.now - timedelta(hours=3)
        return BookingUnattended(
            occurred_at=self.now,
            booking_id=uuid.uuid4(),
            subscription_id=s.subscription_id,
            mentee_id=s.mentee.id,
            mentor_id=s.mentor.id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=1),
            detected_at=self.now,
        )

    async def fetchval(self, sql: str, *args: object) -> int:
        conn = await asyncpg.connect(self.url)
        try:
            return int(await conn.fetchval(sql, *args))
        finally:
            await conn.close()

    async def activate_all(self) -> None:
        await publish(self.settings, *self.subscriptions)
        ids = [s.subscription_id for s in self.subscriptions]
        await eventually(
            lambda: self.fetchval(
                "SELECT count(*) FROM subscriptions WHERE subscription_id = ANY($1)", ids
            ),
            lambda n: n == SUBSCRIPTIONS,
            within=30,
        )

    async def hold_lock(self) -> asyncpg.Connection:
        """Hold the row lock of subscription LOCKED until the connection's transaction ends."""
        conn = await asyncpg.connect(self.url)
        await conn.execute("BEGIN")
        await conn.execute(
            "SELECT 1 FROM subscriptions WHERE subscription_id = $1 FOR UPDATE",
            self.subscriptions[LOCKED].subscription_id,
        )
        return conn

    async def waiting_for_the_lock(self) -> int:
        """Attendance's transactions waiting on a lock (the test's connection holds it)."""
        return await self.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            self.settings.naming.database("attendance"),
        )

    async def absences_recorded(self) -> int:
        return await self.fetchval(
            "SELECT count(*) FROM bookings WHERE status = 'absent' AND subscription_id = ANY($1)",
            [s.subscription_id for s in self.subscriptions],
        )


async def publish_absences(world: World, absences: list[BookingUnattended]) -> None:
    """The locked subscription's absence second: the first goes through alone, the rest
    queue up behind it and make the batch that meets the lock."""
    await publish(world.settings, absences[0])
    await asyncio.sleep(0.3)
    await publish(world.settings, *absences[1:])


@pytest.mark.asyncio(loop_scope="session")
async def test_attendance_killed_with_a_batch_in_hand_records_every_absence_once(
    settings: Settings, attendance: System
) -> None:
    world = World(settings)
    await world.activate_all()
    # Subscription LOCKED's absence rides second, inside a batch with most of the others.
    order = [1, LOCKED, *range(2, SUBSCRIPTIONS)]
    absences = [world.absence(world.subscriptions[i]) for i in order]
    holder = await world.hold_lock()
    try:
        await publish_absences(world, absences)
        await eventually(world.waiting_for_the_lock, lambda n: n >= 1, within=15)
        # Nothing of the blocked batch is committed: only the first absence is recorded.
        assert await world.absences_recorded() == 1
        process = attendance.processes["attendance"]
        process.kill()  # SIGKILL, by the pid this test started
        process.wait()
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()
    attendance.start_service("attendance")
    await attendance.wait_ready()

    await eventually(world.absences_recorded, lambda n: n == SUBSCRIPTIONS, within=30)
    handled = await world.fetchval(
        "SELECT count(*) FROM inbox WHERE consumer = 'attendance:booking.unattended'"
    )
    warnings = await world.fetchval(
        "SELECT count(*) FROM outbox WHERE routing_key = 'mentee.warned'"
    )
    assert (handled, warnings) == (SUBSCRIPTIONS, SUBSCRIPTIONS)
    assert (
        await world.fetchval("SELECT count(*) FROM subscriptions WHERE warned_streaks = '{}'") == 0
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_a_poison_message_in_a_batch_is_dead_lettered_alone(
    settings: Settings, attendance: System
) -> None:
    world = World(settings)
    await world.activate_all()
    stranger = world.absence(world.subscriptions[3]).model_copy(
        update={"subscription_id": uuid.uuid4()}  # a subscription attendance never heard of
    )
    absences = [world.absence(world.subscriptions[i]) for i in [1, LOCKED, *range(2, 20)]]
    holder = await world.hold_lock()
    try:
        await publish_absences(world, [*absences[:10], stranger, *absences[10:]])
        await publish_raw(settings, "booking.unattended", b"{not json")
        await eventually(world.waiting_for_the_lock, lambda n: n >= 1, within=15)
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()

    await eventually(world.absences_recorded, lambda n: n == len(absences), within=30)
    await eventually(lambda: dead_letters(settings), lambda d: len(d) == 2, within=30)
    dead = await dead_letters(settings)
    reasons = sorted(reason for reason, _ in dead)
    assert reasons[0].startswith("body is not JSON"), reasons
    assert reasons[1].startswith("failed 2 times, last error: SubscriptionNotKnownYet"), reasons
    assert str(stranger.subscription_id) in reasons[1]
    handled = await world.fetchval(
        "SELECT count(*) FROM inbox WHERE consumer = 'attendance:booking.unattended'"
    )
    assert handled == len(absences)  # the batch-mates once each; the poison never committed
    assert "batch failed, applying its messages one by one" in attendance.log_of("attendance")


async def publish_raw(settings: Settings, routing_key: str, body: bytes) -> None:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(settings.naming.exchange)
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )


async def dead_letters(settings: Settings) -> list[tuple[str, bytes]]:
    """The reasons and bodies in attendance's booking.unattended DLQ (left in place)."""
    queue_name = settings.naming.dead_letter_queue("attendance", "booking.unattended")
    connection = await aio_pika.connect(settings.rabbitmq_url)
    found: list[tuple[str, bytes]] = []
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name)
        messages = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            messages.append(message)
            found.append((str((message.headers or {}).get("x-dead-letter-reason")), message.body))
        for message in messages:
            await message.nack(requeue=True)
    return found

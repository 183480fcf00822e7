"""How fast one sweep's whole cascade completes.

Loads N subscriptions (default 10,000), each with two past sessions nobody
attended and two future ones, through the real services (booking and
attendance as separate processes, the real RabbitMQ and PostgreSQL). Then one
`sweep.tick` is sent, and the clock runs until every consequence is committed:
every absence recorded by attendance, every subscription reprobated, every
future booking cancelled by booking (and that cancellation seen by attendance).

Runs the same load twice: with the default consumer concurrency
(PREFETCH_COUNT=32) and with one sequential consumer per service
(PREFETCH_COUNT=1), so the scaling is visible. The last line is
`bookings_per_second=<swept bookings per second, default concurrency>`.

    python bench/sweep.py [--subscriptions 10000] [--modes concurrent,sequential]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts import Person, Slot, SubscriptionActivated, SweepTick
from services.kit.settings import Settings
from tests.support.infrastructure import clean_namespace
from tests.support.system import System

MODES = {"concurrent": 32, "sequential": 1}
PAST, FUTURE = 2, 2


@dataclass
class Result:
    mode: str
    subscriptions: int
    load_seconds: float
    cascade_seconds: float
    cancel_latencies: list[float]

    @property
    def swept(self) -> int:
        return self.subscriptions * PAST

    @property
    def bookings_per_second(self) -> float:
        return self.swept / self.cascade_seconds

    def report(self) -> str:
        q = statistics.quantiles(self.cancel_latencies, n=100) if self.cancel_latencies else []
        pct = f"p50={q[49]:.2f}s p95={q[94]:.2f}s p99={q[98]:.2f}s" if q else "n/a"
        return (
            f"[{self.mode}] {self.subscriptions} subscriptions, {self.swept} swept bookings: "
            f"load {self.load_seconds:.1f}s, cascade {self.cascade_seconds:.2f}s, "
            f"{self.bookings_per_second:.0f} bookings/s, "
            f"{self.subscriptions / self.cascade_seconds:.0f} reprobations/s; "
            f"tick→cancellation committed {pct}"
        )


def activations(n: int, now: datetime) -> list[SubscriptionActivated]:
    latest = (now - timedelta(hours=3)).replace(second=0, microsecond=0)
    first = latest - timedelta(weeks=PAST - 1)
    events = []
    for i in range(n):
        mentee_id, mentor_id = uuid.uuid4(), uuid.uuid4()
        events.append(
            SubscriptionActivated(
                occurred_at=first,
                subscription_id=uuid.uuid4(),
                mentee=Person(id=mentee_id, name=f"Mentee {i}", email=f"mentee{i}@example.com"),
                mentor=Person(id=mentor_id, name=f"Mentor {i}", email=f"mentor{i}@example.com"),
                slot=Slot(
                    weekday=latest.weekday(),
                    start_time=latest.strftime("%H:%M"),
                    duration_minutes=60,
                    timezone="UTC",
                ),
                cycle_starts_at=first - timedelta(minutes=1),
                cycle_ends_at=latest + timedelta(weeks=FUTURE, minutes=1),
            )
        )
    return events


class Progress:
    """Counts read from the kit's inbox and outbox tables of each service's database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conns: dict[str, asyncpg.Connection] = {}

    async def open(self) -> None:
        for service in ("booking", "attendance"):
            url = f"{self.settings.server_url()}/{self.settings.naming.database(service)}"
            self.conns[service] = await asyncpg.connect(url)

    async def close(self) -> None:
        for conn in self.conns.values():
            await conn.close()

    async def handled(self, service: str, routing_key: str) -> int:
        return int(
            await self.conns[service].fetchval(
                "SELECT count(*) FROM inbox WHERE consumer = $1", f"{service}:{routing_key}"
            )
        )

    async def written(self, service: str, routing_key: str) -> int:
        return int(
            await self.conns[service].fetchval(
                "SELECT count(*) FROM outbox WHERE routing_key = $1", routing_key
            )
        )

    async def written_at(self, service: str, routing_key: str) -> list[float]:
        rows = await self.conns[service].fetch(
            "SELECT extract(epoch FROM created_at) AS t FROM outbox WHERE routing_key = $1",
            routing_key,
        )
        return [float(r["t"]) for r in rows]


async def wait_until(label: str, probe: object, every: float = 2.0) -> None:
    started = time.monotonic()
    last = 0.0
    while True:
        done, status = await probe()  # type: ignore[operator]
        if done:
            return
        if time.monotonic() - last >= every:
            print(f"  {label}: {status} ({time.monotonic() - started:.0f}s)", flush=True)
            last = time.monotonic()
        await asyncio.sleep(0.1)


async def publish_all(
    settings: Settings, events: list[SubscriptionActivated] | list[SweepTick]
) -> None:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.naming.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for start in range(0, len(events), 500):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            e.body(),
                            message_id=str(e.event_id),
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=e.routing_key,
                    )
                    for e in events[start : start + 500]
                )
            )


async def absorb_notifications(settings: Settings) -> None:
    """Notifications is not part of this run: a queue takes its messages so they route."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.naming.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            f"{settings.naming.exchange}.bench.absorb",
            durable=True,
            arguments={"x-max-length": 1, "x-overflow": "drop-head"},
        )
        await queue.bind(exchange, routing_key="mentee.*")


async def run_mode(mode: str, n: int, base: Settings) -> Result:
    settings = base.model_copy(update={"mentorship_namespace": f"bench{uuid.uuid4().hex[:8]}"})
    system = System(
        settings,
        smtp_port=1,
        services=("booking", "attendance"),
        extra_env={"PREFETCH_COUNT": str(MODES[mode]), "LOG_LEVEL": "WARNING"},
    )
    print(f"[{mode}] starting booking and attendance (prefetch {MODES[mode]})", flush=True)
    progress = Progress(settings)
    try:
        await system.start()
        await absorb_notifications(settings)
        await progress.open()
        now = datetime.now(UTC)
        started = time.monotonic()
        await publish_all(settings, activations(n, now))

        async def loaded() -> tuple[bool, str]:
            scheduled = await progress.handled("attendance", "bookings.scheduled")
            return scheduled >= n, f"{scheduled}/{n} schedules at attendance"

        await wait_until(f"[{mode}] loading", loaded)
        load_seconds = time.monotonic() - started

        tick = SweepTick(occurred_at=now, tick_at=now)
        tick_wall = time.time()
        started = time.monotonic()
        await publish_all(settings, [tick])

        async def cascaded() -> tuple[bool, str]:
            absences = await progress.handled("attendance", "booking.unattended")
            reprobated = await progress.written("attendance", "mentee.reprobated")
            cancelled = await progress.written("booking", "bookings.cancelled")
            seen = await progress.handled("attendance", "bookings.cancelled")
            done = absences >= PAST * n and reprobated >= n and cancelled >= n and seen >= n
            return done, (
                f"absences {absences}/{PAST * n}, reprobated {reprobated}/{n}, "
                f"cancellations {cancelled}/{n} (seen by attendance {seen})"
            )

        await wait_until(f"[{mode}] cascade", cascaded)
        cascade_seconds = time.monotonic() - started
        latencies = [
            t - tick_wall for t in await progress.written_at("booking", "bookings.cancelled")
        ]
        return Result(mode, n, load_seconds, cascade_seconds, latencies)
    finally:
        await progress.close()
        system.stop()
        await clean_namespace(settings)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--modes", default="concurrent,sequential")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    results = []
    for mode in modes:
        results.append(await run_mode(mode, args.subscriptions, Settings()))
        print(results[-1].report(), flush=True)
    print()
    for result in results:
        print(result.report())
    headline = next((r for r in results if r.mode == "concurrent"), results[0])
    print(f"bookings_per_second={headline.bookings_per_second:.1f}")


if __name__ == "__main__":
    asyncio.run(main())

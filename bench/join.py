"""How fast a join through the gateway is marked present.

Starts the real system (gateway, booking and attendance as separate processes,
the real RabbitMQ and PostgreSQL) in a fresh namespace and loads one
subscription per join, each with one session that began a couple of minutes
ago, so that every booking's join window is open. Then it joins every booking
once through the gateway's HTTP API (`POST /api/bookings/{id}/join` with the
mentee's bearer token) at a steady open-loop rate: requests are sent on
schedule whether or not earlier ones have been answered.

For each join it measures the time from just before the HTTP request is sent
until `attendance.marked` for that booking is seen on the broker (a temporary
queue of its own bound to the namespace's exchange), and separately the HTTP
round trip. An error is a non-2xx answer, a request that raised, or a join
whose `attendance.marked` did not come within `--grace` seconds after the
last request. The last line is `join_p99_ms=<value> errors=<count>`.

    python bench/join.py [--rate 200] [--seconds 60] [--grace 10] [--samples joins.csv]

With `--samples`, every measured join is written to a CSV file (when it was sent,
in seconds from the first; its HTTP round trip and its time to `attendance.marked`,
in ms), to see whether the slowest cluster in time or spread evenly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import aiohttp
import asyncpg
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import postgres, processes
from contracts import Person, Slot, SubscriptionActivated
from services.gateway.auth import issue_token
from services.kit import heap
from services.kit.settings import Settings
from tests.support.infrastructure import clean_namespace
from tests.support.system import System

WARMUP = 50
SESSION_MINUTES = 120


@dataclass
class Join:
    booking_id: uuid.UUID
    token: str
    scheduled: float = 0.0
    sent: float = 0.0
    answered: float | None = None
    status: int | None = None
    error: str | None = None
    marked: float | None = None


@dataclass
class Listener:
    """Records when `attendance.marked` arrives for each booking."""

    settings: Settings
    marked: dict[uuid.UUID, float] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def start(self) -> None:
        self.connection = await aio_pika.connect_robust(self.settings.rabbitmq_url)
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(
            self.settings.naming.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="attendance.marked")
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        now = time.perf_counter()
        try:
            booking_id = uuid.UUID(json.loads(message.body)["booking_id"])
        except (ValueError, KeyError, TypeError):
            return
        self.marked.setdefault(booking_id, now)
        self.arrived.set()

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


def activations(n: int, starts_at: datetime) -> list[SubscriptionActivated]:
    """n subscriptions, each with exactly one session, at `starts_at` (UTC)."""
    return [
        SubscriptionActivated(
            occurred_at=starts_at,
            subscription_id=uuid.uuid4(),
            mentee=Person(id=uuid.uuid4(), name=f"Mentee {i}", email=f"mentee{i}@example.com"),
            mentor=Person(id=uuid.uuid4(), name=f"Mentor {i}", email=f"mentor{i}@example.com"),
            slot=Slot(
                weekday=starts_at.weekday(),
                start_time=starts_at.strftime("%H:%M"),
                duration_minutes=SESSION_MINUTES,
                timezone="UTC",
            ),
            cycle_starts_at=starts_at - timedelta(minutes=1),
            cycle_ends_at=starts_at + timedelta(days=6),
        )
        for i in range(n)
    ]


async def bookings_of(settings: Settings) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(booking_id, mentee_id) of every booking, from booking's own database."""
    url = f"{settings.server_url()}/{settings.naming.database('booking')}"
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT b.booking_id, s.mentee_id FROM bookings b "
            "JOIN subscriptions s USING (subscription_id) WHERE b.status = 'scheduled' "
            "ORDER BY b.booking_id"
        )
    finally:
        await conn.close()
    return [(r["booking_id"], r["mentee_id"]) for r in rows]


async def publish_all(settings: Settings, events: list[SubscriptionActivated]) -> None:
    """Publish `events` persistently with confirms, 500 at a time."""
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


async def wait_loaded(settings: Settings, total: int) -> None:
    """Until attendance has handled `total` bookings.scheduled (its inbox says so)."""
    url = f"{settings.server_url()}/{settings.naming.database('attendance')}"
    conn = await asyncpg.connect(url)
    started = last = time.monotonic()
    try:
        while True:
            handled = int(
                await conn.fetchval(
                    "SELECT count(*) FROM inbox WHERE consumer = $1",
                    "attendance:bookings.scheduled",
                )
            )
            if handled >= total:
                return
            if time.monotonic() - last >= 2.0:
                print(
                    f"  loading: {handled}/{total} schedules at attendance "
                    f"({time.monotonic() - started:.0f}s)",
                    flush=True,
                )
                last = time.monotonic()
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


def cpu_seconds(system: System) -> dict[str, float]:
    """CPU time each service, RabbitMQ, PostgreSQL and this benchmark used so far, and
    the whole machine's busy time (user, nice, system, irq, softirq, steal)."""
    used = processes.cpu_seconds({n: [p.pid] for n, p in system.processes.items()})
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    tick = os.sysconf("SC_CLK_TCK")
    used["machine (all processes)"] = sum(int(cpu[i]) for i in (0, 1, 2, 5, 6, 7)) / tick
    return used


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def describe(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return f"{label}: no samples"
    return (
        f"{label}: n={len(ms)} p50={percentile(ms, 50):.1f} ms p95={percentile(ms, 95):.1f} ms "
        f"p99={percentile(ms, 99):.1f} ms max={max(ms):.1f} ms"
    )


class Clients:
    """The load generator's HTTP client: one aiohttp session over a pool of kept-alive
    connections.

    It shares the machine's two cores with the system it measures, so it must cost
    little: httpx (with its pure-Python HTTP/1.1 and connection pool) used 5.3 ms of
    CPU per join at 200 joins/s, more than any service; aiohttp parses HTTP in C."""

    def __init__(self, base_url: str, connections: int = 256) -> None:
        # Idle connections are dropped before uvicorn's keep-alive timeout (5 s) closes
        # them, or a request sent just as the server closes one fails.
        connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=2.0)
        self.session = aiohttp.ClientSession(
            base_url=base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=30.0)
        )

    async def post(self, path: str, token: str) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.post(path, headers=headers) as response:
            return response.status, await response.text()

    async def aclose(self) -> None:
        await self.session.close()


async def drive(clients: Clients, joins: list[Join], rate: float) -> float:
    """Send every join on an open-loop schedule; returns the wall time of sending."""

    async def one(join: Join) -> None:
        join.sent = time.perf_counter()
        try:
            status, text = await clients.post(f"/api/bookings/{join.booking_id}/join", join.token)
            join.status = status
            if not 200 <= status < 300:
                join.error = f"HTTP {status}: {text[:200]}"
        except Exception as error:
            join.error = repr(error)
        join.answered = time.perf_counter()

    tasks = []
    start = time.perf_counter() + 0.05
    for i, join in enumerate(joins):
        join.scheduled = start + i / rate
        delay = join.scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(join)))
    sending = time.perf_counter() - start
    await asyncio.gather(*tasks)
    return sending


async def await_marks(joins: list[Join], listener: Listener, grace: float) -> None:
    deadline = time.perf_counter() + grace
    while time.perf_counter() < deadline:
        if all(j.booking_id in listener.marked for j in joins if j.error is None):
            return
        listener.arrived.clear()
        try:
            await asyncio.wait_for(listener.arrived.wait(), deadline - time.perf_counter())
        except TimeoutError:
            return


async def run(
    rate: float, seconds: float, grace: float, samples: Path | None, postgres_url: str
) -> tuple[float, int]:
    n = int(rate * seconds)
    settings = Settings().model_copy(
        update={
            "mentorship_namespace": f"benchjoin{uuid.uuid4().hex[:8]}",
            "postgres_url": postgres_url,
        }
    )
    system = System(
        settings,
        smtp_port=1,
        services=("booking", "attendance"),
        extra_env={"LOG_LEVEL": "WARNING"},
    )
    listener = Listener(settings)
    print(
        f"starting gateway, booking and attendance in {settings.mentorship_namespace}", flush=True
    )
    try:
        await system.start()
        total = n + WARMUP
        now = datetime.now(UTC)
        starts_at = (now - timedelta(minutes=2)).replace(second=0, microsecond=0)
        started = time.monotonic()
        await publish_all(settings, activations(total, starts_at))
        await wait_loaded(settings, total)
        print(f"loaded {total} bookings in {time.monotonic() - started:.1f}s", flush=True)
        found = await bookings_of(settings)
        if len(found) < total:
            raise RuntimeError(f"expected {total} bookings, booking holds {len(found)}")
        expires_at = datetime.now(UTC) + timedelta(hours=2)
        joins = [
            Join(b, issue_token(settings.jwt_secret, m, "mentee", expires_at))
            for b, m in found[:total]
        ]
        warmup, measured = joins[:WARMUP], joins[WARMUP:]
        await listener.start()

        clients = Clients(system.gateway_url)
        try:
            await drive(clients, warmup, 25.0)
            await await_marks(warmup, listener, grace)
            # The instrument's own pauses are not the system's: the bench's 12,000
            # joins and tokens, frozen, are not walked by every full collection.
            heap.freeze_startup_heap()
            print(f"offering {n} joins at {rate:g}/s for {seconds:g}s", flush=True)
            before = cpu_seconds(system)
            sending = await drive(clients, measured, rate)
            await await_marks(measured, listener, grace)
            used = {k: v - before.get(k, 0.0) for k, v in cpu_seconds(system).items()}
        finally:
            await clients.aclose()
        print(
            "CPU per join: "
            + ", ".join(f"{k} {v / len(measured) * 1000:.2f} ms" for k, v in sorted(used.items()))
        )
        if samples is not None:
            write_samples(samples, measured, listener)
        return report(measured, listener, sending, rate)
    finally:
        await listener.close()
        system.stop()
        await clean_namespace(settings)


def write_samples(path: Path, joins: list[Join], listener: Listener) -> None:
    first = min(j.sent for j in joins)
    with path.open("w", encoding="utf-8") as out:
        out.write("sent_s,http_ms,marked_ms\n")
        for j in joins:
            http = "" if j.answered is None else f"{(j.answered - j.sent) * 1000:.2f}"
            mark = listener.marked.get(j.booking_id)
            marked = "" if mark is None else f"{(mark - j.sent) * 1000:.2f}"
            out.write(f"{j.sent - first:.4f},{http},{marked}\n")
    print(f"samples written to {path}")


def report(joins: list[Join], listener: Listener, sending: float, rate: float) -> tuple[float, int]:
    http_errors = [j for j in joins if j.error is not None]
    unmarked = [j for j in joins if j.error is None and j.booking_id not in listener.marked]
    marked = [j for j in joins if j.error is None and j.booking_id in listener.marked]
    end_to_end = [listener.marked[j.booking_id] - j.sent for j in marked]
    http = [j.answered - j.sent for j in joins if j.answered is not None and j.error is None]
    lag = [j.sent - j.scheduled for j in joins]
    first = min(j.sent for j in joins)
    last_mark = max((listener.marked[j.booking_id] for j in marked), default=first)
    last_answer = max((j.answered or first for j in joins), default=first)
    print()
    print(
        f"offered {len(joins)} joins at {rate:g}/s: sent at {len(joins) / sending:.1f}/s "
        f"(schedule lag max {max(lag) * 1000:.1f} ms), answered at "
        f"{len(joins) / (last_answer - first):.1f}/s, marked at "
        f"{len(marked) / (last_mark - first):.1f}/s"
    )
    print(describe("join → attendance.marked", end_to_end))
    print(describe("HTTP round trip          ", http))
    print(
        describe(
            "HTTP answered → marked   ",
            [listener.marked[j.booking_id] - (j.answered or 0) for j in marked],
        )
    )
    statuses: dict[str, int] = {}
    for j in http_errors:
        key = str(j.status) if j.status is not None else (j.error or "?").split("(", 1)[0]
        statuses[key] = statuses.get(key, 0) + 1
    errors = len(http_errors) + len(unmarked)
    print(
        f"errors: {errors} ({len(http_errors)} failed requests {statuses or ''}, "
        f"{len(unmarked)} never marked)"
    )
    for j in http_errors[:3]:
        print(f"  e.g. {j.error}")
    p99 = percentile([s * 1000 for s in end_to_end], 99) if end_to_end else math.inf
    return p99, errors


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="joins per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to offer them")
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds to wait for the last marks"
    )
    parser.add_argument(
        "--samples", type=Path, default=None, help="write every measured join to this CSV file"
    )
    postgres.add_argument(parser)
    args = parser.parse_args()
    with postgres.postgres_url(args.postgres) as postgres_url:
        p99, errors = await run(args.rate, args.seconds, args.grace, args.samples, postgres_url)
    print(f"join_p99_ms={p99:.1f} errors={errors}")


if __name__ == "__main__":
    # On uvloop, as the services run: the load generator shares the two cores with
    # the system it measures, and its own loop's delays would count as latency.
    uvloop.run(main())

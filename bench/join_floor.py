"""The floor under a join's CPU: the path the contract requires, and nothing else.

Whatever the services do, a join that docs/design.md's guarantees hold for costs at
least this: `session.joined` published persistent, mandatory and confirmed to a
durable quorum queue; attendance's transaction (its inbox, the subscription locked,
the sessions read under the lock, the mark and its outbox row written, commit); the
row published confirmed, to booking's quorum queue and the observer's queue; every
delivery acknowledged; booking's transaction (inbox and mark) and the outbox rows
marked sent, both in batches.

This runs exactly that, on the same RabbitMQ and a PostgreSQL like `bench/join.py`'s,
in three processes (edge, attendance, booking) on raw aiormq and asyncpg under
uvloop: no HTTP, no token, no framework, no domain rules, no logging, the statements
merged as far as correctness allows. It offers `--rate` joins/s for `--seconds`,
prints the CPU seconds per join of each process, RabbitMQ and PostgreSQL, and their
total, and checks the database afterwards: every join marked and recorded, each
message once in an inbox, no outbox row unsent.

That total is about the least the contract's path costs on this machine at that rate:
the system's CPU per join (`bench/join.py`, run just before, as the machine's speed
drifts) adds its HTTP edge and its own code to it. Larger batches lower both, and the
system, queueing more, takes larger ones at the same rate: its broker costs less than
here. The options change one part of the contract to show what that part costs.

    python bench/join_floor.py [--rate 200] [--seconds 30] [--postgres own|machine]
                               [--queue-type quorum|classic] [--without-booking]
                               [--gather-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiormq
import asyncpg
import uvloop
from aiormq.abc import DeliveredMessage
from pamqp.common import FieldValue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import postgres, processes
from bench.join import machine_busy_seconds
from services.kit import amqp_wire
from services.kit.settings import Settings

PREFETCH = 256  # as the services' PREFETCH_COUNT
BOOKING_GATHER_SECONDS = 0.1  # as booking gathers its copy of the marks
MARK_SENT_EVERY_SECONDS = 0.1  # as the outbox marks rows published from memory

SCHEMA = """
CREATE TABLE inbox (consumer text, event_id uuid, PRIMARY KEY (consumer, event_id));
CREATE TABLE subscriptions (subscription_id uuid PRIMARY KEY, absences int NOT NULL DEFAULT 0);
CREATE TABLE sessions (booking_id uuid PRIMARY KEY, subscription_id uuid NOT NULL,
                       starts_at timestamptz NOT NULL, status text);
CREATE INDEX sessions_of_subscription ON sessions (subscription_id, starts_at);
CREATE TABLE outbox (id bigserial PRIMARY KEY, event_id uuid UNIQUE NOT NULL,
                     routing_key text NOT NULL, body jsonb NOT NULL, sent_at timestamptz);
CREATE TABLE bookings (booking_id uuid PRIMARY KEY, attended boolean);
"""

CLAIM = """
    INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])
    ON CONFLICT DO NOTHING RETURNING event_id
"""
LOCK = """
    SELECT subscription_id, absences FROM subscriptions
    WHERE subscription_id = ANY(ARRAY(
        SELECT subscription_id FROM sessions WHERE booking_id = ANY($1::uuid[])))
    ORDER BY subscription_id FOR UPDATE
"""
SESSIONS = """
    SELECT subscription_id, booking_id, starts_at, status FROM sessions
    WHERE subscription_id = ANY($1::uuid[]) ORDER BY subscription_id, starts_at
"""
# The mark and its outbox row in one statement: one round trip fewer than the service.
MARK_AND_ANNOUNCE = """
    WITH marked AS (
        UPDATE sessions SET status = 'present' WHERE booking_id = ANY($1::uuid[])
    )
    INSERT INTO outbox (event_id, routing_key, body)
    SELECT e, 'attendance.marked', b::jsonb FROM unnest($2::uuid[], $3::text[]) AS v(e, b)
    RETURNING id
"""
MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"
RECORD = """
    INSERT INTO bookings (booking_id, attended) SELECT unnest($1::uuid[]), true
    ON CONFLICT (booking_id) DO UPDATE SET attended = true
"""


async def _channel(url: str) -> tuple[aiormq.abc.AbstractConnection, aiormq.abc.AbstractChannel]:
    # As the services connect: the frames of one loop turn leave in one write.
    connection = await amqp_wire.connect_publishing(url, "bench join floor")
    channel = await connection.channel(publisher_confirms=True)
    return connection, channel


def _properties(event_id: uuid.UUID) -> aiormq.spec.Basic.Properties:
    return aiormq.spec.Basic.Properties(
        delivery_mode=2, message_id=str(event_id), content_type="application/json"
    )


async def edge(amqp: str, exchange: str, bookings: list[str], rate: float, go: Any) -> None:
    """Publishes one `session.joined` per booking at `rate`, each confirmed, from `go`."""
    _, channel = await _channel(amqp)
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    started = time.monotonic()
    pending: set[asyncio.Task[Any]] = set()
    for i, booking_id in enumerate(bookings):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        event_id = uuid.uuid4()
        body = json.dumps({"event_id": str(event_id), "booking_id": booking_id}).encode()
        publish = channel.basic_publish(
            body,
            exchange=exchange,
            routing_key="session.joined",
            properties=_properties(event_id),
            mandatory=True,
        )
        task = asyncio.ensure_future(publish)
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


class Consumer:
    """Deliveries put aside as they arrive, taken in batches by one task."""

    def __init__(self, channel: aiormq.abc.AbstractChannel, gather_seconds: float = 0.0):
        self.channel = channel
        self.gather_seconds = gather_seconds
        self.arrived: deque[DeliveredMessage] = deque()
        self.wakeup = asyncio.Event()

    async def arrive(self, message: DeliveredMessage) -> None:
        self.arrived.append(message)
        self.wakeup.set()

    async def batches(self) -> Any:
        while True:
            if not self.arrived:
                self.wakeup.clear()
                await self.wakeup.wait()
                if self.gather_seconds:
                    await asyncio.sleep(self.gather_seconds)
                continue
            batch = [self.arrived.popleft() for _ in range(min(128, len(self.arrived)))]
            yield batch

    async def ack(self, batch: list[DeliveredMessage]) -> None:
        await self.channel.basic_ack(batch[-1].delivery_tag or 0, multiple=True)


async def attendance(amqp: str, dsn: str, exchange: str, queue: str, gather: float) -> None:
    """Marks joins in a transaction with inbox and outbox, then publishes the marks;
    with `gather`, waits that long after a join reaches an idle queue (larger batches)."""
    db = await asyncpg.connect(dsn)
    marking = await asyncpg.connect(dsn)
    await marking.execute("SET synchronous_commit = off")
    _, consuming = await _channel(amqp)
    _, publishing = await _channel(amqp)
    await consuming.basic_qos(prefetch_count=PREFETCH)
    consumer = Consumer(consuming, gather)
    unmarked: list[int] = []

    async def mark_sent() -> None:
        while True:
            await asyncio.sleep(MARK_SENT_EVERY_SECONDS)
            ids, unmarked[:] = list(unmarked), []
            if ids:
                await marking.execute(MARK_SENT, ids)

    asyncio.get_running_loop().create_task(mark_sent())
    await consuming.basic_consume(queue, consumer.arrive)
    async for batch in consumer.batches():
        joins = [json.loads(m.body) for m in batch]
        marks = [(uuid.uuid4(), j["booking_id"]) for j in joins]
        bodies = [json.dumps({"event_id": str(e), "booking_id": b}) for e, b in marks]
        async with db.transaction():
            await db.fetch(CLAIM, "attendance", [j["event_id"] for j in joins])
            locked = await db.fetch(LOCK, [j["booking_id"] for j in joins])
            await db.fetch(SESSIONS, [r["subscription_id"] for r in locked])
            ids = await db.fetch(
                MARK_AND_ANNOUNCE, [b for _, b in marks], [e for e, _ in marks], bodies
            )
        await asyncio.gather(
            *(
                publishing.basic_publish(
                    body.encode(),
                    exchange=exchange,
                    routing_key="attendance.marked",
                    properties=_properties(event_id),
                    mandatory=True,
                )
                for (event_id, _), body in zip(marks, bodies, strict=True)
            )
        )
        unmarked.extend(r["id"] for r in ids)
        await consumer.ack(batch)


async def booking(amqp: str, dsn: str, queue: str) -> None:
    """Records attendance's marks in batches, each in a transaction with its inbox."""
    db = await asyncpg.connect(dsn)
    _, channel = await _channel(amqp)
    await channel.basic_qos(prefetch_count=PREFETCH)
    consumer = Consumer(channel, BOOKING_GATHER_SECONDS)
    await channel.basic_consume(queue, consumer.arrive)
    async for batch in consumer.batches():
        marks = [json.loads(m.body) for m in batch]
        async with db.transaction():
            await db.fetch(CLAIM, "booking", [m["event_id"] for m in marks])
            await db.execute(RECORD, [m["booking_id"] for m in marks])
        await consumer.ack(batch)


def _run(role: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
    uvloop.run(role(*args))


@dataclass(frozen=True)
class Variant:
    """The contract's path (the defaults), or one changed to see what a part costs."""

    queue_type: str = "quorum"
    with_booking: bool = True
    gather_seconds: float = 0.0

    def queues(self, exchange: str) -> list[tuple[str, str]]:
        """(queue, routing key) of each consuming service."""
        consumers = [("attendance", "session.joined")]
        if self.with_booking:
            consumers.append(("booking", "attendance.marked"))
        return [(f"{exchange}.{service}.{key}", key) for service, key in consumers]

    def __str__(self) -> str:
        changes = [f"{self.queue_type} queues"] if self.queue_type != "quorum" else []
        changes += [] if self.with_booking else ["no booking"]
        if self.gather_seconds:
            changes.append(f"attendance gathers {self.gather_seconds * 1000:g} ms")
        return "the contract's path" + (f", changed: {', '.join(changes)}" if changes else "")


async def prepare(amqp: str, dsn: str, exchange: str, n: int, variant: Variant) -> list[str]:
    """The exchange, the queues, the schema and n subscriptions with one session each."""
    connection, channel = await _channel(amqp)
    await channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    for queue, key in variant.queues(exchange):
        arguments: dict[str, FieldValue] = {"x-queue-type": variant.queue_type}
        await channel.queue_declare(queue, durable=True, arguments=arguments)
        await channel.queue_bind(queue, exchange, routing_key=key)
    await connection.close()
    db = await asyncpg.connect(dsn)
    await db.execute(SCHEMA)
    subscriptions = [uuid.uuid4() for _ in range(n)]
    bookings = [uuid.uuid4() for _ in range(n)]
    await db.execute(
        "INSERT INTO subscriptions (subscription_id) SELECT unnest($1::uuid[])", subscriptions
    )
    await db.execute(
        "INSERT INTO sessions SELECT b, s, now() FROM unnest($1::uuid[], $2::uuid[]) AS v(b, s)",
        bookings,
        subscriptions,
    )
    await db.execute("ANALYZE")
    await db.close()
    return [str(b) for b in bookings]


async def observe(amqp: str, exchange: str, n: int, ready: asyncio.Event) -> float:
    """Waits until n `attendance.marked` are seen; returns when the last came."""
    connection, channel = await _channel(amqp)
    declared = await channel.queue_declare(exclusive=True, auto_delete=True)
    queue = declared.queue or ""
    await channel.queue_bind(queue, exchange, routing_key="attendance.marked")
    seen = 0
    done = asyncio.get_running_loop().create_future()

    async def count(_: DeliveredMessage) -> None:
        nonlocal seen
        seen += 1
        if seen == n and not done.done():
            done.set_result(time.monotonic())

    await channel.basic_consume(queue, count, no_ack=True)
    ready.set()
    try:
        return float(await done)
    finally:
        await connection.close()


async def clean(amqp: str, exchange: str, variant: Variant) -> None:
    connection, channel = await _channel(amqp)
    for queue, _ in variant.queues(exchange):
        await channel.queue_delete(queue)
    await channel.exchange_delete(exchange)
    await connection.close()


async def measure(settings: Settings, rate: float, seconds: float, variant: Variant) -> None:
    amqp = settings.rabbitmq_url
    exchange = f"benchfloor{uuid.uuid4().hex[:8]}"
    database = exchange
    admin = await asyncpg.connect(settings.postgres_dsn("postgres"))
    await admin.execute(f'CREATE DATABASE "{database}"')
    db_dsn = settings.postgres_dsn(database)
    n = int(rate * seconds)
    spawn = multiprocessing.get_context("spawn")
    workers: dict[str, multiprocessing.process.BaseProcess] = {}
    try:
        print(f"{variant}: {n} joins at {rate:g}/s", flush=True)
        bookings = await prepare(amqp, db_dsn, exchange, n, variant)
        workers["attendance"] = spawn.Process(
            target=_run,
            args=(
                attendance,
                amqp,
                db_dsn,
                exchange,
                f"{exchange}.attendance.session.joined",
                variant.gather_seconds,
            ),
        )
        if variant.with_booking:
            workers["booking"] = spawn.Process(
                target=_run, args=(booking, amqp, db_dsn, f"{exchange}.booking.attendance.marked")
            )
        go = spawn.Event()
        workers["edge"] = spawn.Process(
            target=_run, args=(edge, amqp, exchange, bookings, rate, go)
        )
        for worker in workers.values():
            worker.start()
        ready = asyncio.Event()
        observing = asyncio.create_task(observe(amqp, exchange, n, ready))
        await ready.wait()
        await asyncio.sleep(3.0)  # every process connected, the consumers consuming
        named = {name: [w.pid or 0] for name, w in workers.items()}
        before = processes.cpu_seconds(named)
        machine_before = machine_busy_seconds()
        started = time.monotonic()
        go.set()
        last = await asyncio.wait_for(observing, seconds + 60.0)
        # booking's last batch and the last rows marked sent
        await asyncio.sleep(BOOKING_GATHER_SECONDS + MARK_SENT_EVERY_SECONDS + 0.5)
        used = processes.cpu_used(before, processes.cpu_seconds(named))
        machine = machine_busy_seconds() - machine_before
        report(n, last - started, used, machine)
        await check(db_dsn, n, variant)
    finally:
        for worker in workers.values():
            if worker.is_alive():
                worker.kill()
            worker.join()
        await clean(amqp, exchange, variant)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


async def check(dsn: str, n: int, variant: Variant) -> None:
    """That the path did its whole work: every join marked, recorded by booking, each
    message handled once, every outbox row marked sent."""
    db = await asyncpg.connect(dsn)
    try:
        counts = await db.fetchrow(
            """SELECT (SELECT count(*) FROM sessions WHERE status = 'present') AS marked,
                      (SELECT count(*) FROM bookings WHERE attended) AS recorded,
                      (SELECT count(*) FROM inbox) AS handled,
                      (SELECT count(*) FROM outbox WHERE sent_at IS NULL) AS unsent"""
        )
    finally:
        await db.close()
    found = dict(counts or {})
    recorded = n if variant.with_booking else 0
    expected = {"marked": n, "recorded": recorded, "handled": n + recorded, "unsent": 0}
    if found != expected:
        raise SystemExit(f"the path did not do its whole work: {found}, expected {expected}")
    print(
        f"checked: {n} marked, {recorded} recorded by booking, {n + recorded} inbox rows, 0 unsent"
    )


def report(n: int, took: float, used: dict[str, float], machine: float) -> None:
    parts = ("edge", "attendance", "booking", "rabbitmq", "postgresql")
    per_join = {name: used.get(name, 0.0) / n * 1000 for name in parts}
    total = sum(per_join.values())
    print(f"{n} joins marked in {took:.1f} s ({n / took:.1f}/s)")
    print(
        "CPU per join: floor "
        f"{total:.2f} ms ("
        + ", ".join(f"{name} {ms:.2f}" for name, ms in per_join.items())
        + f"); not counted: this process {used.get('bench', 0.0) / n * 1000:.2f}; "
        f"the machine {machine / n * 1000:.2f} ms"
    )
    print(
        f"floor_cpu_per_join_ms={total:.2f} rabbitmq_and_postgresql_ms="
        f"{per_join['rabbitmq'] + per_join['postgresql']:.2f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="joins per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to offer them")
    parser.add_argument(
        "--gather-ms",
        type=float,
        default=0.0,
        help="attendance waits this long after a join reaches its idle queue (0: none, "
        "as the service)",
    )
    parser.add_argument(
        "--queue-type",
        choices=("quorum", "classic"),
        default="quorum",
        help="the work queues' type (the contract: quorum)",
    )
    parser.add_argument(
        "--without-booking",
        action="store_true",
        help="no booking: attendance.marked goes to the observer only",
    )
    postgres.add_argument(parser)
    args = parser.parse_args()
    variant = Variant(args.queue_type, not args.without_booking, args.gather_ms / 1000)
    with postgres.postgres_url(args.postgres) as url:
        await measure(Settings(postgres_url=url), args.rate, args.seconds, variant)


if __name__ == "__main__":
    uvloop.run(main())

"""How fast one sweep's whole cascade completes, emails included.

Loads N subscriptions (default 10,000), each with two past sessions nobody
attended and two future ones, through the real services (booking, attendance
and notifications as separate processes, the real RabbitMQ and PostgreSQL, and
a local aiosmtpd sink that counts what it receives). Then one `sweep.tick` is
sent, and the clock runs until every consequence is committed and delivered:
every absence recorded by attendance, every subscription warned and
reprobated, every future booking cancelled by booking (and that cancellation
seen by attendance), and every email received by the sink: per subscription a
warning and a reprobation, each to the mentee and to the mentor (4 emails).

Prints, per stage, how many rows it wrote or handled, when its first and last
one happened after the tick, and its rate (from the services' own inbox,
outbox and email tables, and the sink's receive times); tick → cancellation
and tick → last email of each subscription p50/p95/p99; the peak RSS of each
service process. When `bench/broker.py` ran recently, the figure is also
printed as a fraction of the broker-bound limit (its msgs/s / 2.75). The last
line is `bookings_per_second=<swept bookings settled end to end per second>`.

Modes: `concurrent` (the services' default consumer settings) and, on request,
`sequential` (PREFETCH_COUNT=1 and BATCH_SIZE=1: one message at a time).

    python bench/sweep.py [--subscriptions 10000] [--modes concurrent[,sequential]]
                          [--replicas notifications=2] [--postgres own|machine]

`--postgres own` (the default) measures a PostgreSQL of its own with a deployment's
settings (`bench/postgres.py`); `machine` the one at POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import statistics
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import postgres, processes
from bench.baseline import MESSAGES_PER_BOOKING, TARGET_FRACTION, recent_baseline
from bench.sink import CountingSink
from contracts import Event, Person, Slot, SubscriptionActivated, SweepTick
from services.kit.settings import Settings
from tests.support.infrastructure import clean_namespace
from tests.support.system import System, free_port

MODES: dict[str, dict[str, str]] = {
    "concurrent": {},
    "sequential": {"PREFETCH_COUNT": "1", "BATCH_SIZE": "1"},
}
SERVICES = ("booking", "attendance", "notifications")
PAST, FUTURE = 2, 2
# mentee.warned (first absence) and mentee.reprobated (second): each emailed to the
# mentee and to the mentor (services/notifications/domain.py, `recipients`).
EMAILS_PER_SUBSCRIPTION = 4
# What the sweep's cascade consumes, for the batch sizes it reports.
CASCADE_KEYS = (
    "booking.unattended",
    "mentee.warned",
    "mentee.reprobated",
    "bookings.cancelled",
)
CHUNK = 500
REPORT_EVERY = 5.0


@dataclass
class Stage:
    """What one stage did: `count` rows, the first and last at these epoch seconds."""

    label: str
    count: int
    first: float | None
    last: float | None

    @property
    def rate(self) -> float | None:
        if self.first is None or self.last is None or self.last <= self.first:
            return None
        return self.count / (self.last - self.first)

    def line(self, tick: float) -> str:
        if self.first is None or self.last is None:
            return f"    {self.label:<50} {self.count:>8}"
        rate = f"{self.rate:8.0f}/s" if self.rate is not None else " (one transaction)"
        return (
            f"    {self.label:<50} {self.count:>8}  +{self.first - tick:7.2f}s → "
            f"+{self.last - tick:7.2f}s {rate}"
        )


@dataclass
class Result:
    mode: str
    subscriptions: int
    load_seconds: float
    cascade_seconds: float
    emails: int
    expected_emails: int
    tick: float
    stages: list[Stage] = field(default_factory=list)
    cancel_latencies: list[float] | None = None  # p50, p95, p99
    email_latencies: list[float] | None = None
    peak_rss_mb: dict[str, tuple[float, float]] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    emails_per_subscription: Counter[int] = field(default_factory=Counter)
    unknown_recipients: int = 0
    batches: dict[str, tuple[int, float]] = field(default_factory=dict)  # count, mean size

    @property
    def swept(self) -> int:
        return self.subscriptions * PAST

    @property
    def bookings_per_second(self) -> float:
        return self.swept / self.cascade_seconds

    def details(self) -> str:
        lines = [
            f"[{self.mode}] stages (rows, first → last after the tick as the tables date "
            "them, i.e. transaction starts, and the sink's receive times; rate):"
        ]
        lines += [stage.line(self.tick) for stage in self.stages]
        lines.append(
            f"[{self.mode}] emails: {self.emails} received, {self.expected_emails} expected "
            f"({self.expected_emails / self.subscriptions:g} per subscription); subscriptions that "
            "received: "
            + ", ".join(
                f"{v} with {k} emails" for k, v in sorted(self.emails_per_subscription.items())
            )
            + (f"; {self.unknown_recipients} to unknown addresses" * bool(self.unknown_recipients))
        )
        lines.append(
            f"[{self.mode}] peak RSS (VmHWM, MB): "
            + ", ".join(f"{name} {hwm:.0f}" for name, (hwm, _) in self.peak_rss_mb.items())
        )
        if self.batches:
            lines.append(
                f"[{self.mode}] batches applied (count, mean messages), from each service's "
                "metrics: "
                + ", ".join(
                    f"{key} {count} of {mean:.1f}"
                    for key, (count, mean) in sorted(self.batches.items())
                )
            )
        total = sum(self.cpu_seconds.values())
        lines.append(
            f"[{self.mode}] CPU seconds from the tick until settled ({total:.0f} s in all, "
            f"{total / self.cascade_seconds:.2f} cores of the machine's {os.cpu_count()}): "
            + ", ".join(
                f"{name} {sec:.0f}"
                for name, sec in sorted(self.cpu_seconds.items(), key=lambda kv: -kv[1])
            )
        )
        return "\n".join(lines)

    def report(self) -> str:
        return (
            f"[{self.mode}] {self.subscriptions} subscriptions, {self.swept} swept bookings, "
            f"{self.emails} emails: load {self.load_seconds:.1f}s, "
            f"tick → all settled {self.cascade_seconds:.2f}s, "
            f"{self.bookings_per_second:.0f} bookings/s, "
            f"{self.subscriptions / self.cascade_seconds:.0f} reprobations/s; "
            f"tick→cancellation {_pct(self.cancel_latencies)}; "
            f"tick→last email {_pct(self.email_latencies)}"
        )


def _pct(q: list[float] | None) -> str:
    if not q:
        return "n/a"
    return f"p50={q[0]:.2f}s p95={q[1]:.2f}s p99={q[2]:.2f}s"


def activations(n: int, now: datetime) -> Iterator[SubscriptionActivated]:
    """Generated one at a time: subscription `i` writes to mentee<i>@ and mentor<i>@."""
    latest = (now - timedelta(hours=3)).replace(second=0, microsecond=0)
    first = latest - timedelta(weeks=PAST - 1)
    slot = Slot(
        weekday=latest.weekday(),
        start_time=latest.strftime("%H:%M"),
        duration_minutes=60,
        timezone="UTC",
    )
    for i in range(n):
        yield SubscriptionActivated(
            occurred_at=first,
            subscription_id=uuid.uuid4(),
            mentee=Person(id=uuid.uuid4(), name=f"Mentee {i}", email=f"mentee{i}@example.com"),
            mentor=Person(id=uuid.uuid4(), name=f"Mentor {i}", email=f"mentor{i}@example.com"),
            slot=slot,
            cycle_starts_at=first - timedelta(minutes=1),
            cycle_ends_at=latest + timedelta(weeks=FUTURE, minutes=1),
        )


async def publish_all(settings: Settings, events: Iterable[Event], label: str = "") -> None:
    """Publish with confirms, CHUNK at a time awaited together, drawing events lazily."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.naming.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        events = iter(events)
        published, last = 0, time.monotonic()
        while chunk := list(itertools.islice(events, CHUNK)):
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
                    for e in chunk
                )
            )
            published += len(chunk)
            if label and time.monotonic() - last >= REPORT_EVERY:
                print(f"  {label}: published {published}", flush=True)
                last = time.monotonic()


class Tables:
    """Counts and timestamps read from each service's own database (inbox, outbox,
    emails), aggregated in SQL: no table is ever loaded into the benchmark."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conns: dict[str, asyncpg.Connection] = {}

    async def open(self) -> None:
        for service in SERVICES:
            url = self.settings.postgres_dsn(self.settings.naming.database(service))
            self.conns[service] = await asyncpg.connect(url)

    async def close(self) -> None:
        for conn in self.conns.values():
            await conn.close()

    async def handled(self, service: str, *routing_keys: str) -> int:
        consumers = [f"{service}:{key}" for key in routing_keys]
        sql = "SELECT count(*) FROM inbox WHERE consumer = ANY($1::text[])"
        return int(await self.conns[service].fetchval(sql, consumers))

    async def written(self, service: str, routing_key: str) -> int:
        sql = "SELECT count(*) FROM outbox WHERE routing_key = $1"
        return int(await self.conns[service].fetchval(sql, routing_key))

    async def written_each(self, service: str, *routing_keys: str) -> list[int]:
        """How many outbox rows of each routing key, in one scan."""
        counts = ", ".join(
            f"count(*) FILTER (WHERE routing_key = ${i})" for i in range(1, len(routing_keys) + 1)
        )
        row = await self.conns[service].fetchrow(f"SELECT {counts} FROM outbox", *routing_keys)
        return [int(value) for value in row]

    async def _span(self, service: str, label: str, sql: str, *args: Any) -> Stage:
        row = await self.conns[service].fetchrow(sql, *args)
        return Stage(label, int(row["n"]), row["first"], row["last"])

    async def handled_span(self, service: str, label: str, *routing_keys: str) -> Stage:
        consumers = [f"{service}:{key}" for key in routing_keys]
        return await self._span(
            service,
            label,
            "SELECT count(*) AS n, extract(epoch FROM min(handled_at))::float8 AS first, "
            "extract(epoch FROM max(handled_at))::float8 AS last "
            "FROM inbox WHERE consumer = ANY($1::text[])",
            consumers,
        )

    async def written_span(self, service: str, label: str, routing_key: str) -> Stage:
        return await self._span(
            service,
            label,
            "SELECT count(*) AS n, extract(epoch FROM min(created_at))::float8 AS first, "
            "extract(epoch FROM max(created_at))::float8 AS last "
            "FROM outbox WHERE routing_key = $1",
            routing_key,
        )

    async def emails_span(self, label: str, column: str) -> Stage:
        assert column in ("created_at", "sent_at")
        return await self._span(
            "notifications",
            label,
            f"SELECT count({column}) AS n, extract(epoch FROM min({column}))::float8 AS first, "
            f"extract(epoch FROM max({column}))::float8 AS last FROM emails",
        )

    async def written_percentiles(
        self, service: str, routing_key: str, since: float
    ) -> list[float] | None:
        """p50/p95/p99 of (created_at - since) over the outbox rows of `routing_key`."""
        value = await self.conns[service].fetchval(
            "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP "
            "(ORDER BY extract(epoch FROM created_at)::float8 - $2::float8) "
            "FROM outbox WHERE routing_key = $1",
            routing_key,
            since,
        )
        return list(value) if value else None


# The SMTP relay's processes (`--sink-processes`): one, so that the figures compare
# with the earlier ones; more, to see whether the sink holds the last emails.
SINK_PROCESSES = 1


def _pids(system: System, sink: CountingSink) -> dict[str, list[int]]:
    pids = {name: [process.pid] for name, process in system.processes.items()}
    if sink.pids:
        pids["smtp sink"] = sink.pids
    return pids


def check_alive(system: System) -> None:
    for name, process in system.processes.items():
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode} "
                f"(log: {system.logs / f'{name}.log'}):\n{system.log_of(name)[-4000:]}"
            )


def _batch_sizes(system: System) -> dict[str, tuple[int, float]]:
    """How many batches each service applied of each routing key the cascade consumes,
    and their mean size, read from the services' `mentorship_batch_messages`
    histograms."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for name in SERVICES:
        url = f"http://127.0.0.1:{system.metrics_ports[name]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            if family.name != "mentorship_batch_messages":
                continue
            for sample in family.samples:
                routing_key = sample.labels.get("routing_key")
                if routing_key not in CASCADE_KEYS:
                    continue
                key = f"{name} {routing_key}"
                if sample.name.endswith("_sum"):
                    sums[key] = sample.value
                elif sample.name.endswith("_count"):
                    counts[key] = sample.value
    return {k: (int(c), sums.get(k, 0.0) / c) for k, c in counts.items() if c}


class Stalled(RuntimeError):
    pass


async def run_mode(
    mode: str,
    n: int,
    base: Settings,
    stall_seconds: float,
    replicas: dict[str, int] | None = None,
    sink_processes: int = SINK_PROCESSES,
) -> Result:
    settings = base.model_copy(update={"mentorship_namespace": f"bench{uuid.uuid4().hex[:8]}"})
    sink = CountingSink(n, free_port(), processes=sink_processes)
    sink.start()
    system = System(
        settings,
        smtp_port=sink.port,
        services=SERVICES,
        # The figures are the sweep's cascade: the activations' schedule emails, sent
        # while loading, would be counted and timed with it.
        extra_env={**MODES[mode], "LOG_LEVEL": "WARNING", "SCHEDULE_EMAILS": "false"},
    )
    overrides = ", ".join(f"{k}={v}" for k, v in MODES[mode].items()) or "default settings"
    if replicas:
        overrides += "; replicas " + ", ".join(f"{k}={v}" for k, v in replicas.items())
    print(
        f"[{mode}] starting {', '.join(SERVICES)} ({overrides}); namespace "
        f"{settings.mentorship_namespace}, SMTP sink on port {sink.port} "
        f"({sink.processes} processes)",
        flush=True,
    )
    tables = Tables(settings)
    try:
        await system.start()
        for service, count in (replicas or {}).items():
            for replica in range(2, count + 1):
                system.start_service(f"{service}#{replica}")
        await system.wait_ready()
        await tables.open()
        now = datetime.now(UTC)
        started = time.monotonic()

        async def loaded() -> tuple[bool, str]:
            if publishing.done() and publishing.exception() is not None:
                raise RuntimeError("publishing the activations failed") from publishing.exception()
            scheduled = await tables.handled("attendance", "bookings.scheduled")
            contacts = await tables.handled("notifications", "subscription.activated")
            # Notifications keeps the sessions for the calendar feeds: loaded too, or that
            # work would run into the measured cascade.
            feeds = await tables.handled("notifications", "bookings.scheduled")
            return scheduled >= n and contacts >= n and feeds >= n, (
                f"{scheduled}/{n} schedules at attendance, {contacts}/{n} contacts and "
                f"{feeds}/{n} schedules at notifications"
            )

        publishing = asyncio.create_task(
            publish_all(settings, activations(n, now), f"[{mode}] loading")
        )
        await wait_until(f"[{mode}] loading", loaded, system, stall_seconds, every=1.0)
        await publishing
        load_seconds = time.monotonic() - started

        tick = SweepTick(occurred_at=now, tick_at=now)
        cpu_before = processes.cpu_seconds(_pids(system, sink))
        tick_wall = time.time()
        await publish_all(settings, [tick])
        expected = EMAILS_PER_SUBSCRIPTION * n

        async def cascaded() -> tuple[bool, str]:
            nonlocal expected
            absences = await tables.handled("attendance", "booking.unattended")
            warned, reprobated = await tables.written_each(
                "attendance", "mentee.warned", "mentee.reprobated"
            )
            cancelled = await tables.written("booking", "bookings.cancelled")
            seen = await tables.handled("attendance", "bookings.cancelled")
            # Its inbox, not its wide emails table: each event queues 2 emails.
            notified = await tables.handled("notifications", "mentee.warned", "mentee.reprobated")
            if absences >= PAST * n and 2 * (warned + reprobated) != expected:
                # Attendance is done: the warnings and reprobations it wrote are final.
                print(
                    f"  [{mode}] attendance wrote {warned} warnings and {reprobated} "
                    f"reprobations for {n} subscriptions: expecting "
                    f"{2 * (warned + reprobated)} emails, not {expected}",
                    flush=True,
                )
                expected = 2 * (warned + reprobated)
            done = (
                absences >= PAST * n
                and reprobated >= n
                and cancelled >= n
                and seen >= n
                and sink.count >= expected
            )
            return done, (
                f"absences {absences}/{PAST * n}, warned {warned}, reprobated {reprobated}/{n}, "
                f"cancellations {cancelled}/{n} (seen by attendance {seen}), "
                f"emails queued {2 * notified}, received {sink.count}/{expected}"
            )

        await wait_until(
            f"[{mode}] cascade",
            cascaded,
            system,
            stall_seconds,
            ready=lambda: sink.count >= expected,
        )
        peaks = processes.peak_rss_mb({n: p.pid for n, p in system.processes.items()})
        batches = await asyncio.to_thread(_batch_sizes, system)
        cpu = processes.cpu_used(cpu_before, processes.cpu_seconds(_pids(system, sink)))
        stages = [
            await tables.written_span(
                "booking", "booking: sweep, booking.unattended written", "booking.unattended"
            ),
            await tables.handled_span(
                "attendance", "attendance: booking.unattended handled", "booking.unattended"
            ),
            await tables.written_span(
                "attendance", "attendance: mentee.warned written", "mentee.warned"
            ),
            await tables.written_span(
                "attendance", "attendance: mentee.reprobated written", "mentee.reprobated"
            ),
            await tables.handled_span(
                "booking", "booking: mentee.reprobated handled", "mentee.reprobated"
            ),
            await tables.written_span(
                "booking", "booking: bookings.cancelled written", "bookings.cancelled"
            ),
            await tables.handled_span(
                "attendance", "attendance: bookings.cancelled handled", "bookings.cancelled"
            ),
            await tables.handled_span(
                "notifications",
                "notifications: mentee.warned/reprobated handled",
                "mentee.warned",
                "mentee.reprobated",
            ),
            await tables.emails_span("notifications: emails queued", "created_at"),
            await tables.emails_span("notifications: emails sent (recorded)", "sent_at"),
            Stage("sink: emails received", sink.count, sink.first or None, sink.last or None),
        ]
        end = max(s.last for s in stages if s.last is not None)
        email_lasts = [t - tick_wall for t in sink.last_of if t > 0.0]
        return Result(
            mode=mode,
            subscriptions=n,
            load_seconds=load_seconds,
            cascade_seconds=end - tick_wall,
            emails=sink.count,
            expected_emails=expected,
            tick=tick_wall,
            stages=stages,
            cancel_latencies=await tables.written_percentiles(
                "booking", "bookings.cancelled", tick_wall
            ),
            email_latencies=_quantiles(email_lasts),
            peak_rss_mb=peaks,
            cpu_seconds=cpu,
            emails_per_subscription=Counter(sink.per_subscription),
            unknown_recipients=sink.unknown,
            batches=batches,
        )
    finally:
        await tables.close()
        system.stop()
        sink.stop()
        await clean_namespace(settings)


def _quantiles(values: list[float]) -> list[float] | None:
    if len(values) < 2:
        return None
    q = statistics.quantiles(values, n=100)
    return [q[49], q[94], q[98]]


async def wait_until(
    label: str,
    probe: Any,
    system: System,
    stall_seconds: float,
    *,
    every: float = REPORT_EVERY,
    ready: Any = None,
) -> None:
    """Until `probe()` says done. The database is asked every `every` seconds (and as
    soon as `ready()`, a cheap in-memory check, says it may be done), so that
    polling takes little from the services; progress is printed every
    REPORT_EVERY seconds, and the run is stopped when nothing moved for
    `stall_seconds`."""
    started = time.monotonic()
    asked = changed = printed = started
    last_status = ""
    while True:
        check_alive(system)
        now = time.monotonic()
        if now - asked >= every or (ready is not None and ready()):
            asked = now
            done, status = await probe()
            if done:
                return
            if now - printed >= REPORT_EVERY - 0.05:
                print(f"  {label}: {status} ({now - started:.0f}s)", flush=True)
                printed = now
            if status != last_status:
                last_status, changed = status, now
            elif now - changed > stall_seconds:
                raise Stalled(f"{label}: nothing moved for {stall_seconds:.0f}s; see {system.logs}")
        await asyncio.sleep(0.1)


def broker_fraction(bookings_per_second: float) -> str | None:
    baseline = recent_baseline()
    if baseline is None:
        return None
    broker = float(baseline["broker_messages_per_second"])
    limit = broker / MESSAGES_PER_BOOKING
    return (
        f"fraction of broker-bound limit = {bookings_per_second:.1f} / "
        f"({broker:.0f} broker msgs/s / {MESSAGES_PER_BOOKING}) = "
        f"{bookings_per_second / limit:.2f} (target {TARGET_FRACTION}; "
        f"baseline measured {baseline['measured_at']})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--modes", default="concurrent", help="concurrent,sequential")
    parser.add_argument(
        "--stall-seconds",
        type=float,
        help="give up when nothing moves this long (default: 180, or N/200 when longer: "
        "the sweep is one transaction, invisible until it commits)",
    )
    parser.add_argument(
        "--replicas",
        default="",
        help="processes per service besides one, e.g. notifications=2 (replicas share queues)",
    )
    parser.add_argument(
        "--sink-processes",
        type=int,
        default=SINK_PROCESSES,
        help="aiosmtpd processes sharing the sink's port (SO_REUSEPORT)",
    )
    postgres.add_argument(parser)
    args = parser.parse_args()
    replicas = {
        name: int(count)
        for name, _, count in (item.partition("=") for item in args.replicas.split(",") if item)
    }
    unknown_services = set(replicas) - set(SERVICES)
    if unknown_services:
        parser.error(f"unknown services: {', '.join(sorted(unknown_services))}")
    stall = args.stall_seconds or max(180.0, args.subscriptions / 200)
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    results = []
    print(
        f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs): anything else "
        "running skews the figures",
        flush=True,
    )
    with postgres.postgres_url(args.postgres) as postgres_url:
        base = Settings(postgres_url=postgres_url)
        for mode in modes:
            result = await run_mode(
                mode, args.subscriptions, base, stall, replicas, args.sink_processes
            )
            results.append(result)
            print(result.details(), flush=True)
            print(result.report(), flush=True)
    print()
    for result in results:
        print(result.report())
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"benchmark process peak RSS: {own:.0f} MB; load average now {os.getloadavg()[0]:.2f}")
    headline = next((r for r in results if r.mode == "concurrent"), results[0])
    fraction = broker_fraction(headline.bookings_per_second)
    if fraction:
        print(fraction)
    print(f"bookings_per_second={headline.bookings_per_second:.1f}")


if __name__ == "__main__":
    asyncio.run(main())

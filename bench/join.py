"""How fast joins through the gateway are marked present, and what each costs.

Starts the whole system as `make run` does (gateway, booking, attendance,
notifications and scheduler as separate processes, the real RabbitMQ and a
PostgreSQL) in a fresh namespace. For each rate of `--rate` (by default 100, 200,
300 and 400 joins/s), it loads one subscription per join, each with one session
that began a couple of minutes ago (everyone joins the same session time, as at
the top of the hour), makes every mentee's bearer token, then joins every booking
once through the gateway's HTTP API (`POST /api/bookings/{id}/join`) at a steady
open-loop rate: requests are sent on schedule whether or not earlier ones have
been answered.

For each join it measures the HTTP round trip, and the time from just before the
request is sent until `attendance.marked` for that booking is seen on the broker
by a process of its own (`bench/observer.py`). An error is a non-2xx answer, a
request that raised, or a join whose `attendance.marked` did not come within
`--grace` seconds after the last request. Each step reports the rate actually
offered, p50/p99 of both times, and the CPU seconds per join of every process of
the system (each service, RabbitMQ, PostgreSQL; from /proc) and their total; the
load generator and the observer are reported apart and not counted. The steps
stop after the first one whose p99 exceeds `--target-ms` or that has errors; the
knee is the highest rate that met it. The last line is
`knee_joins_per_s=<rate> join_p99_ms=<p99 of the last step met> cpu_per_join_ms=<…>`.

    python bench/join.py [--rate 100,200,300,400] [--seconds 60] [--grace 10]
                         [--samples DIR] [--profile DIR] [--postgres own|machine]

With `--samples DIR`, every measured join of a step is written to `DIR/<rate>.csv`
(when it was sent, in seconds from the first; its HTTP round trip and its time to
`attendance.marked`, in ms). With `--profile DIR`, py-spy samples each service
while a step is offered (`DIR/<rate>-<service>.txt`) and the step's CPU per join
is broken down by part (`bench/stacks.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
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

from bench import postgres, processes, stacks
from bench.sink import CountingSink
from contracts import Person, Slot, SubscriptionActivated
from services.gateway.auth import issue_token
from services.kit import heap
from services.kit.settings import Settings
from tests.support.infrastructure import clean_namespace
from tests.support.system import SERVICES, System, free_port

WARMUP = 50
SESSION_MINUTES = 120
STEPS = (100.0, 200.0, 300.0, 400.0)
TARGET_P99_MS = 25.0
# Not the system: they are reported, not counted in its CPU per join.
INSTRUMENTS = ("bench", "observer", "smtp sink")


@dataclass
class Join:
    booking_id: uuid.UUID
    token: str
    scheduled: float = 0.0
    sent: float = 0.0
    answered: float | None = None
    status: int | None = None
    error: str | None = None


@dataclass
class Observer:
    """`bench/observer.py` in a process of its own; `marked` holds when each booking's
    `attendance.marked` was seen, on this process's `time.monotonic()` clock."""

    settings: Settings
    marked: dict[uuid.UUID, float] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    process: asyncio.subprocess.Process | None = None
    reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("observer.py")),
            self.settings.rabbitmq_url,
            self.settings.naming.exchange,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        first = await asyncio.wait_for(self.process.stdout.readline(), 30.0)
        if first.strip() != b"ready":
            raise RuntimeError(f"the observer did not start: {first!r}")
        self.reader = asyncio.create_task(self._read(self.process.stdout))

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        async for line in stdout:
            booking_id, _, at = line.decode().partition(" ")
            self.marked.setdefault(uuid.UUID(booking_id), int(at) / 1e9)
            self.arrived.set()

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        if self.reader is not None:
            self.reader.cancel()


def activations(first: int, n: int, starts_at: datetime) -> list[SubscriptionActivated]:
    """n subscriptions (numbered from `first`), each with exactly one session, at
    `starts_at` (UTC)."""
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
        for i in range(first, first + n)
    ]


async def bookings_of(settings: Settings) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(booking_id, mentee_id) of every booking, from booking's own database."""
    url = settings.postgres_dsn(settings.naming.database("booking"))
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


# What must have handled every activation before a step is timed: its work is
# loading, not joining. (inbox consumer, database)
LOADED_BY = (
    ("attendance:bookings.scheduled", "attendance"),
    ("booking:subscription.activated", "booking"),
    ("notifications:subscription.activated", "notifications"),
    ("notifications:bookings.scheduled", "notifications"),
)


async def wait_loaded(settings: Settings, total: int) -> None:
    """Until every service has handled `total` activations and their schedules (their
    inboxes say so)."""
    conns = {
        db: await asyncpg.connect(settings.postgres_dsn(settings.naming.database(db)))
        for db in {db for _, db in LOADED_BY}
    }
    started = last = time.monotonic()
    try:
        while True:
            handled = {
                consumer: int(
                    await conns[db].fetchval(
                        "SELECT count(*) FROM inbox WHERE consumer = $1", consumer
                    )
                )
                for consumer, db in LOADED_BY
            }
            if all(n >= total for n in handled.values()):
                return
            if time.monotonic() - last >= 2.0:
                print(
                    f"  loading ({time.monotonic() - started:.0f}s): "
                    + ", ".join(f"{c} {n}/{total}" for c, n in handled.items()),
                    flush=True,
                )
                last = time.monotonic()
            await asyncio.sleep(0.2)
    finally:
        for conn in conns.values():
            await conn.close()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


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
        join.sent = time.monotonic()
        try:
            status, text = await clients.post(f"/api/bookings/{join.booking_id}/join", join.token)
            join.status = status
            if not 200 <= status < 300:
                join.error = f"HTTP {status}: {text[:200]}"
        except Exception as error:
            join.error = repr(error)
        join.answered = time.monotonic()

    tasks = []
    start = time.monotonic() + 0.05
    for i, join in enumerate(joins):
        join.scheduled = start + i / rate
        delay = join.scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(join)))
    sending = time.monotonic() - start
    await asyncio.gather(*tasks)
    return sending


async def await_marks(joins: list[Join], observer: Observer, grace: float) -> None:
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if all(j.booking_id in observer.marked for j in joins if j.error is None):
            return
        observer.arrived.clear()
        try:
            await asyncio.wait_for(observer.arrived.wait(), deadline - time.monotonic())
        except TimeoutError:
            return


@dataclass
class Step:
    rate: float
    joins: int
    offered: float  # joins/s actually sent
    http_p50: float
    http_p99: float
    marked_p50: float
    marked_p99: float
    errors: int
    cpu_ms: dict[str, float]  # CPU per join, per process

    @property
    def system_cpu_ms(self) -> float:
        return sum(v for k, v in self.cpu_ms.items() if k not in INSTRUMENTS and k != "machine")

    def met(self, target_ms: float) -> bool:
        return self.errors == 0 and self.marked_p99 <= target_ms


def machine_busy_seconds() -> float:
    """The whole machine's busy time so far (user, nice, system, irq, softirq, steal)."""
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(cpu[i]) for i in (0, 1, 2, 5, 6, 7)) / os.sysconf("SC_CLK_TCK")


@dataclass
class Bench:
    """One system, loaded and joined step by step."""

    settings: Settings
    system: System
    observer: Observer
    sink: CountingSink
    grace: float
    loaded: int = 0
    used: set[uuid.UUID] = field(default_factory=set)

    def pids(self) -> dict[str, list[int]]:
        named = {name: [p.pid] for name, p in self.system.processes.items()}
        named["observer"] = [self.observer.pid]
        named["smtp sink"] = list(self.sink.pids)
        return named

    def cpu(self) -> dict[str, float]:
        used = processes.cpu_seconds(self.pids())
        used["machine"] = machine_busy_seconds()
        return used

    async def load(self, n: int) -> list[Join]:
        """n more subscriptions with a session open for joining, and their tokens."""
        now = datetime.now(UTC)
        starts_at = (now - timedelta(minutes=2)).replace(second=0, microsecond=0)
        started = time.monotonic()
        await publish_all(self.settings, activations(self.loaded, n, starts_at))
        self.loaded += n
        await wait_loaded(self.settings, self.loaded)
        fresh = [(b, m) for b, m in await bookings_of(self.settings) if b not in self.used]
        if len(fresh) < n:
            raise RuntimeError(f"expected {n} new bookings, booking holds {len(fresh)}")
        print(f"  loaded {n} bookings in {time.monotonic() - started:.1f}s", flush=True)
        expires_at = now + timedelta(hours=2)
        joins = [
            Join(b, issue_token(self.settings.jwt_secret, m, "mentee", expires_at))
            for b, m in fresh[:n]
        ]
        self.used.update(j.booking_id for j in joins)
        return joins

    async def warm_up(self, clients: Clients) -> None:
        joins = await self.load(WARMUP)
        await drive(clients, joins, 25.0)
        await await_marks(joins, self.observer, self.grace)

    async def step(
        self, clients: Clients, rate: float, seconds: float, profile: Path | None
    ) -> tuple[Step, list[Join]]:
        joins = await self.load(int(rate * seconds))
        # The instrument's own pauses are not the system's: its joins and tokens,
        # frozen, are not walked by every full collection.
        heap.freeze_startup_heap()
        await asyncio.sleep(1.0)  # the relays' and the directory's last loading work
        print(f"  offering {len(joins)} joins at {rate:g}/s for {seconds:g}s", flush=True)
        spies = start_profilers(self.system, profile, rate, seconds) if profile else []
        before = self.cpu()
        sending = await drive(clients, joins, rate)
        await await_marks(joins, self.observer, self.grace)
        after = self.cpu()
        step = summarize(rate, joins, self.observer, sending, processes.cpu_used(before, after))
        for spy in spies:
            spy.wait()
        return step, joins


def start_profilers(
    system: System, directory: Path, rate: float, seconds: float
) -> list[subprocess.Popen[bytes]]:
    """py-spy on each service for the step's duration. It samples from outside the
    process without stopping it (`--nonblocking`), and only while the process holds
    the GIL (`--gil`): uvloop waits for I/O without it, so idle time is not sampled."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(process.pid),
                "--rate",
                "250",
                "--nonblocking",
                "--gil",
                "--format",
                "raw",
                "--duration",
                str(math.ceil(seconds)),
                "--output",
                str(directory / f"{rate:g}-{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, process in system.processes.items()
    ]


def summarize(
    rate: float, joins: list[Join], observer: Observer, sending: float, cpu: dict[str, float]
) -> Step:
    failed = [j for j in joins if j.error is not None]
    unmarked = [j for j in joins if j.error is None and j.booking_id not in observer.marked]
    marked = [j for j in joins if j.error is None and j.booking_id in observer.marked]
    to_marked = [(observer.marked[j.booking_id] - j.sent) * 1000 for j in marked]
    http = [(j.answered - j.sent) * 1000 for j in joins if j.answered and j.error is None]
    step = Step(
        rate=rate,
        joins=len(joins),
        offered=len(joins) / sending,
        http_p50=percentile(http, 50),
        http_p99=percentile(http, 99),
        marked_p50=percentile(to_marked, 50),
        marked_p99=percentile(to_marked, 99) if to_marked else math.inf,
        errors=len(failed) + len(unmarked),
        cpu_ms={k: v / len(joins) * 1000 for k, v in cpu.items()},
    )
    lag = max(j.sent - j.scheduled for j in joins)
    print(
        f"  offered {step.offered:.1f}/s (schedule lag max {lag * 1000:.1f} ms); "
        f"HTTP round trip p50 {step.http_p50:.1f} ms p99 {step.http_p99:.1f} ms; "
        f"join → attendance.marked p50 {step.marked_p50:.1f} ms p99 {step.marked_p99:.1f} ms"
    )
    statuses: dict[str, int] = {}
    for j in failed:
        key = str(j.status) if j.status is not None else (j.error or "?").split("(", 1)[0]
        statuses[key] = statuses.get(key, 0) + 1
    print(
        f"  errors: {step.errors} ({len(failed)} failed requests {statuses or ''}, "
        f"{len(unmarked)} never marked)"
    )
    for j in failed[:3]:
        print(f"    e.g. {j.error}")
    system = {k: v for k, v in step.cpu_ms.items() if k not in INSTRUMENTS and k != "machine"}
    print(
        f"  CPU per join: system {step.system_cpu_ms:.2f} ms ("
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(system.items(), key=lambda kv: -kv[1]))
        + "); not counted: "
        + ", ".join(f"{k} {step.cpu_ms.get(k, 0.0):.2f}" for k in INSTRUMENTS)
        + f"; the machine {step.cpu_ms['machine']:.2f} ms",
        flush=True,
    )
    return step


def write_samples(path: Path, joins: list[Join], observer: Observer) -> None:
    first = min(j.sent for j in joins)
    with path.open("w", encoding="utf-8") as out:
        out.write("sent_s,http_ms,marked_ms\n")
        for j in joins:
            http = "" if j.answered is None else f"{(j.answered - j.sent) * 1000:.2f}"
            mark = observer.marked.get(j.booking_id)
            marked = "" if mark is None else f"{(mark - j.sent) * 1000:.2f}"
            out.write(f"{j.sent - first:.4f},{http},{marked}\n")
    print(f"  samples written to {path}")


def print_profile(directory: Path, step: Step) -> None:
    """Each service's CPU per join, by part (py-spy's shares of /proc's seconds)."""
    print(f"  where each service's CPU per join goes at {step.rate:g}/s (py-spy):")
    for name in ("gateway", *SERVICES):
        path = directory / f"{step.rate:g}-{name}.txt"
        if not path.exists():
            continue
        cpu = step.cpu_ms.get(name, 0.0)
        top = [(part, share * cpu) for part, share in stacks.shares(path).items()][:8]
        print(
            f"    {name} {cpu:.2f} ms: "
            + ", ".join(f"{part} {ms:.2f}" for part, ms in top if ms >= 0.01)
        )


def print_table(steps: list[Step], target_ms: float) -> None:
    print()
    print(
        "rate/s  offered/s  HTTP p50/p99 ms  marked p50/p99 ms  errors  "
        "CPU/join ms (system; gateway booking attendance notifications scheduler "
        "rabbitmq postgresql)"
    )
    for s in steps:
        parts = " ".join(
            f"{s.cpu_ms.get(k, 0.0):.2f}" for k in ("gateway", *SERVICES, "rabbitmq", "postgresql")
        )
        print(
            f"{s.rate:6g}  {s.offered:9.1f}  {s.http_p50:6.1f}/{s.http_p99:<7.1f}  "
            f"{s.marked_p50:7.1f}/{s.marked_p99:<9.1f}  {s.errors:6d}  "
            f"{s.system_cpu_ms:.2f}; {parts}" + ("" if s.met(target_ms) else "  (missed)")
        )


async def run(args: argparse.Namespace, postgres_url: str) -> list[Step]:
    settings = Settings().model_copy(
        update={
            "mentorship_namespace": f"benchjoin{uuid.uuid4().hex[:8]}",
            "postgres_url": postgres_url,
        }
    )
    sink = CountingSink(1, free_port())
    sink.start()
    system = System(
        settings,
        smtp_port=sink.port,
        # Schedule emails are the activations' work, done while loading; left on, a
        # step's timing would start while the last of them are still being sent.
        extra_env={"LOG_LEVEL": "WARNING", "SCHEDULE_EMAILS": "false"},
    )
    observer = Observer(settings)
    bench = Bench(settings, system, observer, sink, args.grace)
    steps: list[Step] = []
    print(f"starting {', '.join(('gateway', *SERVICES))} in {settings.mentorship_namespace}")
    try:
        await system.start()
        await observer.start()
        clients = Clients(system.gateway_url)
        try:
            await bench.warm_up(clients)
            for rate in args.rate:
                print(f"step: {rate:g} joins/s", flush=True)
                step, joins = await bench.step(clients, rate, args.seconds, args.profile)
                steps.append(step)
                if args.samples is not None:
                    args.samples.mkdir(parents=True, exist_ok=True)
                    write_samples(args.samples / f"{rate:g}.csv", joins, observer)
                if args.profile is not None:
                    print_profile(args.profile, step)
                if not step.met(args.target_ms):
                    print(f"  p99 over {args.target_ms:g} ms or errors: the steps stop here")
                    break
        finally:
            await clients.aclose()
    finally:
        await observer.close()
        system.stop()
        sink.stop()
        await clean_namespace(settings)
    return steps


def rates(text: str) -> list[float]:
    return [float(r) for r in text.split(",") if r.strip()]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rate",
        type=rates,
        default=list(STEPS),
        help="joins per second, one step each, comma-separated (default 100,200,300,400)",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each step lasts")
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds to wait for a step's last marks"
    )
    parser.add_argument(
        "--target-ms", type=float, default=TARGET_P99_MS, help="the p99 a step must meet"
    )
    parser.add_argument(
        "--samples", type=Path, default=None, help="write each step's joins to DIR/<rate>.csv"
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy each service, raw stacks in DIR"
    )
    postgres.add_argument(parser)
    args = parser.parse_args()
    with postgres.postgres_url(args.postgres) as postgres_url:
        steps = await run(args, postgres_url)
    print_table(steps, args.target_ms)
    met = [s for s in steps if s.met(args.target_ms)]
    knee = max(met, key=lambda s: s.rate) if met else None
    if knee is None:
        print(f"knee: none of the steps met p99 ≤ {args.target_ms:g} ms with no errors")
    cpu = [s.system_cpu_ms for s in steps]
    print(
        f"knee_joins_per_s={knee.rate if knee else 0:g} "
        f"join_p99_ms={knee.marked_p99 if knee else math.inf:.1f} "
        f"cpu_per_join_ms={min(cpu) if cpu else math.nan:.2f}-{max(cpu) if cpu else math.nan:.2f}"
    )


if __name__ == "__main__":
    # On uvloop, as the services run: the load generator shares the two cores with
    # the system it measures, and its own loop's delays would count as latency.
    uvloop.run(main())

"""The lifecycle cascade the fault scenarios break, and how its end state is checked.

N subscriptions, each with two past sessions nobody attended and FUTURE sessions
to come; one sweep tick then causes, per subscription: two `booking.unattended`,
a `mentee.warned` and a `mentee.reprobated` (attendance), one `bookings.cancelled`
of the FUTURE bookings (booking), and four emails (warning and reprobation, each
to mentee and mentor).

The end state is read where it lives: the services' databases (each consequence
is one outbox row, whose event_id is derived from the facts, so a replay that
decided anything twice would show as a second row), the SMTP server (copies of
each Message-ID), and the broker (every work queue empty and nothing
unacknowledged, the dead-letter queues).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import httpx

from contracts import SubscriptionActivated, SweepTick
from services.kit.messaging import REASON_HEADER
from services.kit.settings import Settings
from tests.support.faulty_smtp import FaultySMTPServer
from tests.support.listening import publish
from tests.support.nodes import PrivateRabbitMQ
from tests.support.system import System
from tests.support.world import User, user, weekly_subscription

# The services a scenario runs (System always adds the gateway); no scheduler,
# whose ticks would interleave with the scenario's own.
SERVICES = ("booking", "attendance", "notifications")
SUBSCRIPTIONS = 30
FUTURE = 2
EMAILS_PER_SUBSCRIPTION = 4  # warning and reprobation, each to mentee and mentor

# The emails a crash may send twice: the SMTP server accepted them, and the sender
# died (or lost its database) before recording them as sent. Each of the sender's
# EMAIL_SENDERS workers records its email before it sends the next, so the window
# is one email per worker.
DUPLICATES_PER_NOTIFICATIONS_CRASH = Settings().email_senders
DUPLICATES_PER_DATABASE_CRASH = Settings().email_senders
# The deployed wait after creating quorum queues (the rest of the suite runs without it):
# these scenarios kill broker nodes.
QUORUM_REGISTRY_SECONDS = Settings.model_fields["quorum_registry_seconds"].default


def scenario_settings(rabbitmq_url: str, postgres_url: str, namespace: str) -> Settings:
    """A scenario's settings: its own namespace on the nodes it breaks."""
    return Settings(
        quorum_registry_seconds=QUORUM_REGISTRY_SECONDS,
        rabbitmq_url=rabbitmq_url,
        postgres_url=postgres_url,
        mentorship_namespace=namespace,
        outbox_poll_seconds=0.2,
    )


def scenario_system(settings: Settings, smtp: FaultySMTPServer) -> System:
    """The SERVICES on `settings`, sending to `smtp`. The scenarios count the sweep
    cascade's emails; the activations' schedules are not part of it (tests/e2e and
    tests/integration cover them)."""
    return System(
        settings,
        smtp_port=smtp.port,
        services=SERVICES,
        extra_env={
            "SCHEDULE_EMAILS": "false",
            "QUORUM_REGISTRY_SECONDS": str(QUORUM_REGISTRY_SECONDS),
        },
    )


@dataclass
class Progress:
    """How far the cascade got, for this scenario's subscriptions."""

    unattended: int = 0
    cancelled: int = 0
    scheduled: int = 0
    cancellations: int = 0  # bookings.cancelled events (booking's outbox)
    cancellation_reasons: set[str] = field(default_factory=set)
    warned: int = 0  # mentee.warned events (attendance's outbox)
    reprobated: int = 0  # mentee.reprobated events (attendance's outbox)
    reprobated_subscriptions: int = 0
    attendance_cancelled: int = 0  # bookings attendance knows to be cancelled
    emails: dict[str, int] = field(default_factory=dict)  # notifications: status → rows
    unsent_outbox: int = 0  # every service, every row of the namespace
    accepted: int = 0  # distinct Message-IDs the SMTP server accepted
    copies: int = 0  # every acceptance, copies included

    def brief(self) -> str:
        return (
            f"warned {self.warned}, reprobated {self.reprobated}, "
            f"cancellations {self.cancellations}, emails accepted {self.accepted}"
        )


@dataclass
class Figures:
    scenario: str
    converged_seconds: float
    expected: int
    received: int
    duplicated: int
    allowed_duplicates: int
    dead_lettered: dict[str, int]
    at_fault: str = ""
    fault_seconds: float = 0.0

    def line(self) -> str:
        dead = ", ".join(f"{q.split('.', 1)[1]}: {n}" for q, n in self.dead_lettered.items())
        return (
            f"FAULTS {self.scenario}: converged in {self.converged_seconds:.1f}s"
            + (f" (fault took {self.fault_seconds:.1f}s)" if self.fault_seconds else "")
            + f"; emails expected {self.expected} / received {self.received}"
            f" / duplicated {self.duplicated} (allowed {self.allowed_duplicates})"
            f"; dead-lettered {sum(self.dead_lettered.values())}"
            + (f" [{dead}]" if dead else "")
            + (f"; fault injected at: {self.at_fault}" if self.at_fault else "")
        )


class Cascade:
    def __init__(
        self,
        settings: Settings,
        system: System,
        smtp: FaultySMTPServer,
        rabbitmq: PrivateRabbitMQ,
        *,
        subscriptions: int = SUBSCRIPTIONS,
        future: int = FUTURE,
    ) -> None:
        self.settings = settings
        self.system = system
        self.smtp = smtp
        self.rabbitmq = rabbitmq
        self.n = subscriptions
        self.future = future
        self.now = datetime.now(UTC)
        self.pairs: list[tuple[User, User]] = [
            (
                user(settings.jwt_secret, "mentee", f"Mentee {i}"),
                user(settings.jwt_secret, "mentor", f"Mentor {i}"),
            )
            for i in range(subscriptions)
        ]
        self.subscriptions: list[SubscriptionActivated] = [
            weekly_subscription(
                mentee,
                mentor,
                now=self.now,
                session_started_ago=timedelta(hours=3),
                past_sessions=2,
                future_sessions=future,
            )
            for mentee, mentor in self.pairs
        ]
        self.ids = [s.subscription_id for s in self.subscriptions]
        self.addresses = [p.person.email for pair in self.pairs for p in pair]
        self.ticked_at = 0.0

    @property
    def expected_emails(self) -> int:
        return self.n * EMAILS_PER_SUBSCRIPTION

    def database(self, service: str) -> str:
        return self.settings.postgres_dsn(self.settings.naming.database(service))

    async def prepare(self, within: float = 60.0) -> None:
        """Activate every subscription and wait until all three services know it."""
        await publish(self.settings, *self.subscriptions)
        bookings = self.n * (2 + self.future)

        async def ready() -> bool:
            booking = await self._fetchval(
                "booking", "SELECT count(*) FROM bookings WHERE subscription_id = ANY($1)"
            )
            attendance = await self._fetchval(
                "attendance", "SELECT count(*) FROM bookings WHERE subscription_id = ANY($1)"
            )
            contacts = await self._fetchval(
                "notifications", "SELECT count(*) FROM contacts WHERE subscription_id = ANY($1)"
            )
            return booking == bookings and attendance == bookings and contacts == self.n

        await self.wait_until(ready, within=within, what="subscriptions activated")

    async def tick(self) -> None:
        self.ticked_at = time.monotonic()
        await publish(self.settings, SweepTick(occurred_at=self.now, tick_at=self.now))

    async def _fetchval(self, service: str, sql: str) -> int:
        conn = await asyncpg.connect(self.database(service), timeout=5)
        try:
            return int(await conn.fetchval(sql, self.ids))
        finally:
            await conn.close()

    async def progress(self) -> Progress | None:
        """The cascade's state now, or None while a database cannot be read."""
        try:
            return await self._progress()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return None

    async def _progress(self) -> Progress:
        p = Progress()
        conns = {
            s: await asyncpg.connect(self.database(s), timeout=5)
            for s in ("booking", "attendance", "notifications")
        }
        try:
            booking, attendance, notifications = (
                conns["booking"],
                conns["attendance"],
                conns["notifications"],
            )
            statuses = dict(
                await booking.fetch(  # type: ignore[arg-type]
                    "SELECT status, count(*) FROM bookings WHERE subscription_id = ANY($1)"
                    " GROUP BY status",
                    self.ids,
                )
            )
            p.unattended = statuses.get("unattended", 0)
            p.cancelled = statuses.get("cancelled", 0)
            p.scheduled = statuses.get("scheduled", 0)
            for row in await booking.fetch(
                "SELECT body->>'reason' AS reason FROM outbox"
                " WHERE routing_key = 'bookings.cancelled'"
                " AND (body->>'subscription_id')::uuid = ANY($1)",
                self.ids,
            ):
                p.cancellations += 1
                p.cancellation_reasons.add(row["reason"])
            events = dict(
                await attendance.fetch(  # type: ignore[arg-type]
                    "SELECT routing_key, count(*) FROM outbox"
                    " WHERE (body->>'subscription_id')::uuid = ANY($1) GROUP BY routing_key",
                    self.ids,
                )
            )
            p.warned = events.get("mentee.warned", 0)
            p.reprobated = events.get("mentee.reprobated", 0)
            p.reprobated_subscriptions = await attendance.fetchval(
                "SELECT count(*) FROM subscriptions WHERE is_reprobated"
                " AND subscription_id = ANY($1)",
                self.ids,
            )
            p.attendance_cancelled = await attendance.fetchval(
                "SELECT count(*) FROM bookings WHERE cancelled AND subscription_id = ANY($1)",
                self.ids,
            )
            p.emails = dict(
                await notifications.fetch(  # type: ignore[arg-type]
                    "SELECT status, count(*) FROM emails"
                    " WHERE (event_body->>'subscription_id')::uuid = ANY($1) GROUP BY status",
                    self.ids,
                )
            )
            for conn in conns.values():
                p.unsent_outbox += await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
                )
        finally:
            for conn in conns.values():
                await conn.close()
        copies = self.smtp.copies(self.addresses)
        p.accepted = len(copies)
        p.copies = sum(copies.values())
        return p

    async def wait_until(
        self, done: Callable[[], Any], *, within: float, what: str, every: float = 0.05
    ) -> None:
        deadline = time.monotonic() + within
        while True:
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if await done():
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"not {what} within {within}s; {await self.progress()}")
            await asyncio.sleep(every)

    async def reach(self, until: Callable[[Progress], bool], *, within: float = 30.0) -> Progress:
        """Wait until the cascade's progress satisfies `until` (the moment to break something)."""
        deadline = time.monotonic() + within
        while True:
            p = await self.progress()
            if p is not None and until(p):
                return p
            if time.monotonic() > deadline:
                raise AssertionError(f"cascade never reached the fault point: {p}")
            await asyncio.sleep(0.02)

    def finished(self, p: Progress, *, undeliverable: int = 0) -> bool:
        n, future = self.n, self.future
        return (
            p.unattended == 2 * n
            and p.cancelled == n * future
            and p.scheduled == 0
            and p.cancellations == n
            and p.warned == n
            and p.reprobated == n
            and p.reprobated_subscriptions == n
            and p.attendance_cancelled == n * future
            and p.emails.get("sent", 0) == self.expected_emails - undeliverable
            and p.emails.get("failed", 0) == undeliverable
            and p.unsent_outbox == 0
            and p.accepted == self.expected_emails - undeliverable
        )

    async def converge(self, *, undeliverable: int = 0, within: float = 90.0) -> Progress:
        """Wait for the end state the cascade has without any fault, then for the broker's
        work queues to be empty and nothing unacknowledged; returns the final progress."""
        deadline = time.monotonic() + within
        while True:
            p = await self.progress()
            if p is not None and self.finished(p, undeliverable=undeliverable):
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not converged within {within}s: {p}\n"
                    + "\n".join(
                        f"--- {s}\n{self.system.log_of(s)[-1500:]}"
                        for s in ("booking", "attendance", "notifications")
                    )
                    + f"\n--- the broker node\n{self.rabbitmq.node_log_tail(4000)}"
                )
            await asyncio.sleep(0.1)
        self.converged_at = time.monotonic()
        await self.wait_until(self._queues_idle, within=30, what="work queues idle", every=0.3)
        final = await self.progress()
        assert final is not None and self.finished(final, undeliverable=undeliverable), final
        assert final.cancellation_reasons == {"reprobation"}, final.cancellation_reasons
        return final

    async def _queues_idle(self) -> bool:
        queues = await asyncio.to_thread(self.rabbitmq.queues)
        namespace = f"{self.settings.mentorship_namespace}."
        return all(
            ready == 0 and unacked == 0
            for name, (ready, unacked) in queues.items()
            if name.startswith(namespace) and not name.endswith(".dlq")
        )

    async def dead_lettered(self) -> dict[str, int]:
        queues = await asyncio.to_thread(self.rabbitmq.queues)
        namespace = f"{self.settings.mentorship_namespace}."
        return {
            name: ready + unacked
            for name, (ready, unacked) in sorted(queues.items())
            if name.startswith(namespace) and name.endswith(".dlq") and ready + unacked
        }

    async def dead_letter_reasons(self, queue: str) -> list[tuple[str, bytes]]:
        """(reason, body) of every message in `queue`, left in place."""
        connection = await aio_pika.connect(self.settings.rabbitmq_url)
        reasons: list[tuple[str, bytes]] = []
        try:
            channel = await connection.channel()
            dlq = await channel.declare_queue(queue, passive=True)
            while (message := await dlq.get(no_ack=False, fail=False)) is not None:
                reasons.append((str((message.headers or {}).get(REASON_HEADER, "")), message.body))
            # Not acked: closing the channel returns them to the queue.
        finally:
            await connection.close()
        return reasons

    def figures(
        self,
        scenario: str,
        final: Progress,
        dead: dict[str, int],
        *,
        allowed: int,
        at_fault: Progress | None = None,
        fault_seconds: float = 0.0,
        expected: int | None = None,
    ) -> Figures:
        return Figures(
            scenario=scenario,
            converged_seconds=self.converged_at - self.ticked_at,
            expected=self.expected_emails if expected is None else expected,
            received=final.copies,
            duplicated=final.copies - final.accepted,
            allowed_duplicates=allowed,
            dead_lettered=dead,
            at_fault=at_fault.brief() if at_fault else "",
            fault_seconds=fault_seconds,
        )


@dataclass
class Redone:
    """Work done twice, from each service's counters (valid while no service restarted:
    the counters start again at zero)."""

    republished: int  # outbox rows published again: their `sent` mark was lost
    absorbed: int  # deliveries the inbox found applied already

    def brief(self) -> str:
        return f"{self.republished} republished, {self.absorbed} duplicates absorbed"


def _total(metrics: str, name: str, outcome: str | None = None) -> int:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") and (outcome is None or f'outcome="{outcome}"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


async def redone(cascade: Cascade) -> Redone:
    published = absorbed = rows = 0
    async with httpx.AsyncClient() as client:
        for service in SERVICES:
            port = cascade.system.metrics_ports[service]
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            published += _total(metrics, "mentorship_outbox_published_total")
            absorbed += _total(metrics, "mentorship_messages_handled_total", "duplicate")
            conn = await asyncpg.connect(cascade.database(service), timeout=5)
            try:
                rows += await conn.fetchval("SELECT count(*) FROM outbox")
            finally:
                await conn.close()
    return Redone(republished=published - rows, absorbed=absorbed)

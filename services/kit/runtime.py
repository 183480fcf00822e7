"""How a service runs: database, broker, consumers with inbox, outbox relay,
background loops, all started and stopped by one FastStream application
(which answers requests itself; events are consumed in batches by
`services.kit.consuming`).

A service's `app.py` creates a `ServiceRuntime` with what its handlers need,
registers from a table what it consumes, answers and publishes (`register`),
adds its loops (`in_background`), and returns `runtime.app()`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar
from uuid import UUID

from faststream import FastStream

from contracts import Event
from contracts.rpc import Reply, Request
from services.kit import health, inbox, metrics, outbox
from services.kit.consuming import QueueConsumer
from services.kit.database import Database, Tx
from services.kit.logs import configure_logging, debug_enabled, get_logger
from services.kit.messaging import Messaging
from services.kit.outbox import OutboxRelay
from services.kit.settings import Settings

E = TypeVar("E", bound=Event)
Q = TypeVar("Q", bound=Request)
N = TypeVar("N")  # what a service's handlers need besides the transaction (policy, templates…)

BatchHandler = Callable[[Tx, Sequence[E], N], Awaitable[Sequence[str]]]

log = get_logger(__name__)

# How long a stopping service waits for each consumer's batch in hand.
SHUTDOWN_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class Consumes(Generic[E, N]):
    """`handler` applies one `message` in a transaction and returns a short outcome
    for the log ("marked present", "outside the window"). The messages of a batch
    are applied one after the other in the batch's one transaction."""

    message: type[E]
    handler: Callable[[Tx, E, N], Awaitable[str | None]]

    def for_batches(self) -> BatchHandler[E, N]:
        handler = self.handler

        async def one_by_one(tx: Tx, msgs: Sequence[E], needs: N) -> list[str]:
            return [await handler(tx, msg, needs) or "handled" for msg in msgs]

        return one_by_one


# For the queues no one waits on by the tenth of a second (the sweep's cascade and its
# emails): larger batches, less CPU per message (docs/benchmarks.md, "Why the kit's hot
# paths look as they do").
CASCADE_GATHER_SECONDS = 0.1


@dataclass(frozen=True)
class ConsumesBatches(Generic[E, N]):
    """`handler` applies a batch of `message`s (new ones, in delivery order) in one
    transaction, set-based, and returns one outcome per message. Applying a batch
    must leave what applying its messages one by one, in that order, would.

    With `gather_seconds`, a queue off any latency path that matters waits that long
    after a message arrives on an idle queue, so that a trickle (a booking's copy of
    joins at 200/s) is applied in batches rather than one transaction per message."""

    message: type[E]
    handler: BatchHandler[E, N]
    gather_seconds: float = 0.0

    def for_batches(self) -> BatchHandler[E, N]:
        return self.handler


@dataclass(frozen=True)
class Answers(Generic[Q, N]):
    """`handler` answers one `request` (RabbitMQ request/reply) in a transaction; with
    `one_read`, a handler that only reads, in one statement sent to the driver, gets a
    connection outside any transaction (see `Database.reading`)."""

    request: type[Q]
    handler: Callable[[Tx, Q, N], Awaitable[Reply]]
    one_read: bool = False


class ServiceRuntime(Generic[N]):
    def __init__(self, name: str, settings: Settings, migrations: Path, needs: N) -> None:
        configure_logging(name, settings.log_format, settings.log_level)
        self.name = name
        self.settings = settings
        self.migrations = migrations
        self.needs = needs
        self.db = Database(settings, name)
        self.messaging = Messaging(settings, name)
        self.relay = OutboxRelay(
            self.db,
            self.messaging.publish,
            name=name,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
        )
        self._loops: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("outbox relay", self.relay.run)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._consumers: list[QueueConsumer[Any]] = []

    def register(
        self,
        *,
        consumes: Sequence[Consumes[Any, N] | ConsumesBatches[Any, N]] = (),
        answers: Sequence[Answers[Any, N]] = (),
        publishes: Sequence[type[Event]] = (),
    ) -> None:
        """The service's list of what it consumes, answers and publishes (through its outbox)."""
        for consumer in consumes:
            self._consume(consumer)
        for answer in answers:
            self._answer(answer)
        self.messaging.documents_publishing(*publishes)

    def _consume(self, consumer: Consumes[Any, N] | ConsumesBatches[Any, N]) -> None:
        """Apply each event_id once (inbox), in batches, each in the transaction of its effect."""
        routing_key = consumer.message.routing_key
        inbox_name = f"{self.name}:{routing_key}"
        handler = consumer.for_batches()

        async def apply(msgs: Sequence[Any]) -> None:
            with (
                metrics.HANDLER_SECONDS.labels(self.name, routing_key).time(),
                outbox.collecting(self.relay.room()) as written,
            ):
                async with self.db.transaction() as tx:
                    fresh = await inbox.claim_many(tx, inbox_name, [m.event_id for m in msgs])
                    # In delivery order: a batch leaves what its messages one by one
                    # would. (Batch handlers lock their subscriptions in one statement,
                    # in id order, so batches of different queues do not deadlock.)
                    new = _first_of_each(msgs, fresh)
                    outcomes = list(await handler(tx, new, self.needs)) if new else []
            self.relay.hand_over(written)
            _report(self.name, routing_key, msgs, new, outcomes)

        # Only documents the queue (AsyncAPI: no docstring, or it would be the
        # queue's description); `QueueConsumer` does the consuming.
        async def consume(msg: Any) -> None:
            return None

        documented = _subscriber(consume, f"on_{routing_key}", msg=consumer.message)
        self.messaging.documents_consuming(
            routing_key, documented, description=consumer.handler.__doc__
        )
        self._consumers.append(
            QueueConsumer(
                self.messaging,
                routing_key,
                consumer.message,
                apply,
                max_size=self.settings.batch_size,
                gather_seconds=(
                    consumer.gather_seconds if isinstance(consumer, ConsumesBatches) else 0.0
                ),
            )
        )

    def _answer(self, answer: Answers[Any, N]) -> None:
        routing_key = answer.request.routing_key
        handler = answer.handler
        connection = self.db.reading if answer.one_read else self.db.transaction

        async def respond(request: Any) -> None:
            # From the context, not a `RabbitMessage` parameter: FastStream resolves
            # that in a thread pool, a thread hop per request.
            message = self.messaging.broker.context.get_local("message")
            with outbox.collecting(self.relay.room()) as written:
                async with connection() as tx:
                    reply = await handler(tx, request, self.needs)
            self.relay.hand_over(written)
            outcome = reply.error.code if reply.error else "ok"
            log.info("request answered", routing_key=routing_key, outcome=outcome)
            await self.messaging.reply(message, reply.model_dump_json().encode())

        subscriber = _subscriber(respond, f"answer_{routing_key}", request=answer.request)
        self.messaging.subscribe(
            routing_key, subscriber, description=handler.__doc__, no_reply=True
        )

    def in_background(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `loop` while the service runs; restarted if it crashes."""
        self._loops.append((name, loop))

    async def migrations_applied(self) -> bool:
        try:
            return await self.db.migrations_applied(self.migrations)
        except Exception:
            return False

    async def _observe_outbox(self) -> None:
        """Keep the outbox gauges current for /metrics."""
        while True:
            count, oldest = await outbox.backlog(self.db)
            metrics.OUTBOX_BACKLOG.labels(self.name).set(count)
            metrics.OUTBOX_OLDEST_AGE.labels(self.name).set(health.age_seconds(oldest))
            await asyncio.sleep(5.0)

    def app(self) -> FastStream:
        return FastStream(
            self.messaging.broker,
            on_startup=[self._prepare],
            after_startup=[self._start_consumers, self._start_loops],
            on_shutdown=[self._stop_consumers, self._stop_loops],
            after_shutdown=[self.messaging.close, self.db.dispose],
        )

    async def _prepare(self) -> None:
        self.settings.warn_about_dev_secrets()
        await self.db.prepare(self.migrations)
        await self.messaging.declare()
        log.info("service starting", namespace=self.settings.mentorship_namespace)

    async def _start_consumers(self) -> None:
        if self._consumers:
            connection = await self.messaging.consuming_connection()
            for consumer in self._consumers:
                await consumer.start(connection)

    async def _stop_consumers(self) -> None:
        await asyncio.gather(*(c.stop(SHUTDOWN_GRACE_SECONDS) for c in self._consumers))

    async def _start_loops(self) -> None:
        loops = [*self._loops, ("outbox gauges", self._observe_outbox)]
        if self.settings.metrics_port:
            checks: dict[str, health.Check] = {
                "broker": self.messaging.ping,
                "database": self.db.ping,
                "migrations": self.migrations_applied,
            }
            app = health.health_app(self.name, checks)
            port = self.settings.metrics_port
            # No lifespan: this app has no startup work, and a cancelled lifespan
            # task would log a traceback on every clean shutdown.
            host = self.settings.metrics_host
            serve = partial(health.serve, app, host, port, lifespan="off")
            loops.append(("metrics and health", serve))
        for name, loop in loops:
            self._tasks.append(asyncio.create_task(_supervise(name, loop), name=name))
        log.info("service ready", consumers=len(self.messaging.queue_names))

    async def _stop_loops(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


async def _supervise(name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
    while True:
        try:
            await loop()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background loop crashed, restarting", loop=name)
            await asyncio.sleep(1.0)


def _subscriber(
    func: Callable[..., Awaitable[None]], name: str, **parameters: Any
) -> Callable[..., Awaitable[None]]:
    """State the signature FastStream should see: it parses and validates each
    message into the model its subscriber's signature names, and names the
    subscriber in the AsyncAPI document after the function."""
    func.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=t)
            for p, t in parameters.items()
        ],
        return_annotation=None,
    )
    func.__name__ = name.replace(".", "_")
    return func


def _first_of_each(msgs: Sequence[Any], fresh: set[UUID]) -> list[Any]:
    """The messages claimed now, each event_id once (a republished event may come twice)."""
    new = []
    for msg in msgs:
        if msg.event_id in fresh:
            fresh.discard(msg.event_id)
            new.append(msg)
    return new


def _report(
    service: str, routing_key: str, msgs: Sequence[Any], new: Sequence[Any], outcomes: list[str]
) -> None:
    """One line per batch at INFO (one per message at DEBUG); a lone message's line
    says whom it concerned, as before batching."""
    duplicates = len(msgs) - len(new)
    metrics.BATCH_SIZE.labels(service, routing_key).observe(len(msgs))
    metrics.MESSAGES_HANDLED.labels(service, routing_key, "handled").inc(len(new))
    if duplicates:
        metrics.MESSAGES_HANDLED.labels(service, routing_key, "duplicate").inc(duplicates)
    if len(msgs) == 1:
        outcome = outcomes[0] if outcomes else "duplicate"
        log.info("message handled", routing_key=routing_key, outcome=outcome, **_ids(msgs[0]))
        return
    if debug_enabled(__name__):
        for msg, outcome in zip(new, outcomes, strict=False):
            log.debug("message handled", routing_key=routing_key, outcome=outcome, **_ids(msg))
    counted = Counter(outcomes)
    if duplicates:
        counted["duplicate"] = duplicates
    log.info(
        "batch handled",
        routing_key=routing_key,
        messages=len(msgs),
        outcomes="; ".join(f"{n} x {outcome}" for outcome, n in counted.most_common()),
    )


def _ids(msg: Any) -> dict[str, str]:
    """Whom a message concerns, for its log line (a tick concerns a moment)."""
    ids = {"event_id": str(msg.event_id)}
    for field in ("subscription_id", "booking_id", "tick_at"):
        value = getattr(msg, field, None)
        if value is not None:
            ids[field] = value.isoformat() if isinstance(value, datetime) else str(value)
    return ids

"""The broker as every service uses it (docs/design.md, "The services" and
"Delivery guarantees").

- one durable topic exchange per namespace; one durable quorum queue per
  (service, routing key) with a delivery limit, dead-lettering to `<queue>.dlq`;
- persistent messages, publisher confirms, unroutable publishes raise;
- a message that cannot be parsed or validated goes straight to its DLQ with
  the reason in the `x-dead-letter-reason` header and is acked, so it never
  blocks the queue; a handler failure is retried with backoff, and on the last
  allowed delivery it is dead-lettered with the error as the reason.

Events are consumed by `services.kit.consuming` (in batches, straight from
aio-pika, on a connection of their own); requests are answered by FastStream's
subscribers. Both follow the dead-letter rules here (`dead_letter_reason`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import aio_pika
import aiormq
from aio_pika import IncomingMessage
from faststream import AckPolicy
from faststream.exceptions import AckMessage, HandlerException
from faststream.middlewares import BaseMiddleware
from faststream.rabbit import (
    ExchangeType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
    RabbitRouter,
)
from faststream.rabbit.schemas import Channel
from faststream.rabbit.schemas.queue import QueueType
from pydantic import ValidationError

from contracts import Event
from services.kit import amqp_wire, metrics
from services.kit.backoff import backoff
from services.kit.errors import describe_validation_error
from services.kit.logs import get_logger
from services.kit.settings import Settings

log = get_logger(__name__)

REASON_HEADER = "x-dead-letter-reason"
JSON = "application/json"


# How long after a failed connect a publish fails at once rather than connect again
# (as long as aio-pika's robust connections wait between attempts).
RECONNECT_SECONDS = 5.0


@dataclass(frozen=True)
class _Publisher:
    connection: aiormq.abc.AbstractConnection
    channel: aiormq.Channel  # the class: its `basic_publish` takes `wait`


class Messaging:
    """The broker of one service, with the naming of its namespace."""

    def __init__(self, settings: Settings, service: str) -> None:
        amqp_wire.require_pinned_versions()
        self.settings = settings
        self.service = service
        self.naming = settings.naming
        self.exchange = RabbitExchange(self.naming.exchange, type=ExchangeType.TOPIC, durable=True)
        self.dead_letter_exchange = RabbitExchange(
            self.naming.dead_letter_exchange, type=ExchangeType.DIRECT, durable=True
        )
        self.queue_names: list[str] = []
        self.quorum_queues: list[RabbitQueue] = []
        self._publishing: _Publisher | None = None
        self._publishing_lock = asyncio.Lock()
        self._publishing_retry_at = 0.0
        self._connections: dict[str, aio_pika.abc.AbstractRobustConnection] = {}
        self._connections_lock = asyncio.Lock()
        self.broker = self._faststream_broker()
        # Never started: what the AsyncAPI document describes, i.e. the events this
        # service consumes (which `services.kit.consuming` does without FastStream),
        # the requests it answers and the events it publishes.
        self.documentation = self._faststream_broker()

    def _faststream_broker(self) -> RabbitBroker:
        return RabbitBroker(
            self.settings.rabbitmq_url,
            default_channel=Channel(
                prefetch_count=self.settings.prefetch_count, on_return_raises=True
            ),
            # Requeue on error (the queue's delivery limit ends the loop);
            # success acks only after the handler, i.e. after its commit.
            ack_policy=AckPolicy.NACK_ON_ERROR,
            # A logger of ours, so that FastStream adds no handler of its own and its
            # lines (errors with tracebacks included) go out in the service's format.
            logger=logging.getLogger(f"faststream.access.{self.service}"),
            log_level=logging.DEBUG,
            graceful_timeout=15.0,
        )

    def queue(self, routing_key: str) -> RabbitQueue:
        name = self.naming.queue(self.service, routing_key)
        return RabbitQueue(
            name,
            queue_type=QueueType.QUORUM,
            routing_key=routing_key,
            arguments={
                "x-delivery-limit": self.settings.delivery_limit,
                "x-dead-letter-exchange": self.naming.dead_letter_exchange,
                "x-dead-letter-routing-key": f"{name}.dlq",
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )

    def subscribe(
        self,
        routing_key: str,
        func: Callable[..., Any],
        *,
        description: str | None = None,
        no_reply: bool = False,
    ) -> None:
        """Answer requests on `routing_key` through FastStream (and document it)."""
        queue = self.queue(routing_key)
        self.queue_names.append(queue.name)
        self.quorum_queues.append(queue)
        # A router of its own, so that its dead-letter middleware knows the queue.
        router = RabbitRouter(middlewares=(_dead_letter_middleware(self, queue.name),))
        for registrator in (router, self.documentation):
            registrator.subscriber(
                queue, self.exchange, description=description, no_reply=no_reply, decoder=_decode
            )(func)
        self.broker.include_router(router)

    def documents_consuming(
        self, routing_key: str, func: Callable[..., Any], *, description: str | None = None
    ) -> None:
        """Name a queue this service consumes (with `services.kit.consuming`), so that
        its dead-letter queue is declared and its AsyncAPI document lists it."""
        queue = self.queue(routing_key)
        self.queue_names.append(queue.name)
        self.quorum_queues.append(queue)
        self.documentation.subscriber(queue, self.exchange, description=description)(func)

    def documents_publishing(self, *event_types: type[Event]) -> None:
        """Name what this service publishes, so that its AsyncAPI document lists it.

        Publishing itself goes through `publish` (from the outbox, or the
        gateway's confirmed publish); these publishers only describe it.
        """
        for event_type in event_types:
            self.documentation.publisher(
                exchange=self.exchange,
                routing_key=event_type.routing_key,
                persist=True,
                title=f"{event_type.routing_key}:publish",
                description=(event_type.__doc__ or "").strip() or None,
                schema=event_type,
            )

    def keep_dead_letters_for(self, routing_key: str) -> None:
        """Declare `<queue>.dlq` for a routing key this service does not consume, to
        hold messages it rejects after accepting them (e.g. a webhook it cannot use)."""
        self.queue_names.append(self.naming.queue(self.service, routing_key))

    async def declare(self) -> None:
        """Connect and declare the exchanges, every queue's dead-letter queue, and the
        quorum queues (unbound: consumers bind them); if that created any, wait until
        the broker has recorded them (`Settings.quorum_registry_seconds`)."""
        await self.broker.connect()
        await self.broker.declare_exchange(self.exchange)
        dlx = await self.broker.declare_exchange(self.dead_letter_exchange)
        for name in self.queue_names:
            dlq = await self.broker.declare_queue(RabbitQueue(f"{name}.dlq", durable=True))
            await dlq.bind(dlx, routing_key=f"{name}.dlq")
        # RabbitMQ 3.10's Ra (2.2) records a new quorum queue's member in a dets table that it
        # writes to disk lazily: once nothing has touched it for 0.5 s (auto_save), at the latest
        # 3 s after the last write (dets's delayed write). A node killed before then restarts
        # that queue as a new, empty member which never calls an election, so the queue has no
        # leader, every basic.consume on it waits 65 s and closes its connection with 541, and
        # what it held is lost (docs/operations.md, "A quorum queue without a leader"). Hence the
        # wait before the consumers bind and consume what was just created.
        created = await self._create_quorum_queues()
        if created and self.settings.quorum_registry_seconds > 0:
            log.info(
                "quorum queues created, waiting until the broker has recorded them",
                queues=len(created),
                seconds=self.settings.quorum_registry_seconds,
            )
            await asyncio.sleep(self.settings.quorum_registry_seconds)

    async def _create_quorum_queues(self) -> list[str]:
        """Declare the quorum queues that do not exist yet; their names."""
        if not self.quorum_queues:
            return []
        connection = await amqp_wire.connect_publishing(
            self.settings.rabbitmq_url, f"{self.service} declaring"
        )
        created: list[str] = []
        try:
            channel = await connection.channel()
            for queue in self.quorum_queues:
                try:
                    await channel.queue_declare(queue.name, passive=True)
                    continue
                except aiormq.exceptions.ChannelNotFoundEntity:
                    channel = await connection.channel()  # the broker closed that one
                await channel.queue_declare(queue.name, durable=True, arguments=queue.arguments)
                created.append(queue.name)
        finally:
            await _close_quietly(connection)
        return created

    async def publish(self, routing_key: str, body: bytes, event_id: UUID) -> None:
        """Publish persistently to the topic exchange; raises unless confirmed and routed.

        Straight to aiormq, the outbox relay's hot path: no FastStream middleware and
        encoding per publish, and no waiting, holding the channel's lock, until the frame
        is written out, which made each of a pipelined batch wait for the one before
        (figures: docs/benchmarks.md, "Why the kit's hot paths look as they do"). A
        return or a nack raises, as from aio-pika's `Exchange.publish`.
        """
        publisher = await self._publisher()
        await publisher.channel.basic_publish(
            body,
            exchange=self.naming.exchange,
            routing_key=routing_key,
            properties=aiormq.spec.Basic.Properties(
                delivery_mode=2,  # persistent
                message_id=str(event_id),
                content_type=JSON,
            ),
            mandatory=True,
            wait=False,
        )

    async def _publisher(self) -> _Publisher:
        """The publishing channel, reopened with its connection when either closed (the
        broker went away, or refused a publish); confirms on, returns raise."""
        async with self._publishing_lock:
            current = self._publishing
            if current is not None and not current.channel.is_closed:
                return current
            self._publishing = None
            if current is not None:
                await _close_quietly(current.connection)
            if time.monotonic() < self._publishing_retry_at:
                raise aiormq.exceptions.AMQPConnectionError("publishing: the broker was down")
            try:
                self._publishing = await self._open_publisher()
            except Exception:
                self._publishing_retry_at = time.monotonic() + RECONNECT_SECONDS
                raise
            return self._publishing

    async def _open_publisher(self) -> _Publisher:
        connection = await amqp_wire.connect_publishing(self.settings.rabbitmq_url, self.service)
        try:
            channel = cast(
                aiormq.Channel,
                await connection.channel(publisher_confirms=True, on_return_raises=True),
            )
            await channel.exchange_declare(
                exchange=self.naming.exchange, exchange_type="topic", durable=True
            )
        except BaseException:
            await _close_quietly(connection)
            raise
        return _Publisher(connection, channel)

    async def consuming_connection(self) -> aio_pika.abc.AbstractRobustConnection:
        """The connection every event queue of this service is consumed on, a channel
        each. Robust: reopened after the broker comes back, with its channels, their
        prefetch, queues, bindings and consumers."""
        return await self._connection("consumers")

    async def requests_connection(self) -> aio_pika.abc.AbstractRobustConnection:
        """The connection this service's requests to others go on (their replies come
        back on it). Robust, as `consuming_connection`."""
        return await self._connection("requests")

    async def _connection(self, purpose: str) -> aio_pika.abc.AbstractRobustConnection:
        async with self._connections_lock:
            if purpose not in self._connections:
                self._connections[purpose] = await amqp_wire.connect(
                    self.settings.rabbitmq_url, f"{self.service} {purpose}"
                )
            return self._connections[purpose]

    async def close(self) -> None:
        """Close the connections of this module (FastStream closes its own)."""
        if self._publishing is not None:
            publishing = self._publishing.connection
            self._publishing = None
            await publishing.close()
        robust, self._connections = self._connections, {}
        for connection in robust.values():
            await connection.close()

    async def reply(self, request: Any, body: bytes) -> None:
        """Answer a request on its reply-to address (through the publishing connection:
        RabbitMQ routes a direct reply from any channel).

        Not mandatory: RabbitMQ (3.10) returns mandatory publishes to direct
        reply-to even when it delivers them, and a requester that gave up is
        no reason to retry the request.
        """
        if not request.reply_to:
            return
        publisher = await self._publisher()
        await publisher.channel.basic_publish(
            body,
            exchange="",
            routing_key=request.reply_to,
            properties=aiormq.spec.Basic.Properties(
                correlation_id=request.correlation_id, content_type=JSON
            ),
            mandatory=False,
        )

    async def dead_letter_body(
        self, service: str, routing_key: str, body: bytes, reason: str, *, message_id: str
    ) -> None:
        """Put a stored message body into its queue's DLQ with the reason (a failure
        found after the message was acked, e.g. an email rejected for good)."""
        await self.broker.publish(
            body,
            exchange=self.dead_letter_exchange,
            routing_key=self.naming.dead_letter_queue(service, routing_key),
            persist=True,
            mandatory=True,
            message_id=message_id,
            content_type=JSON,
            headers={REASON_HEADER: reason[:4000], "x-original-routing-key": routing_key},
        )
        metrics.MESSAGES_DEAD_LETTERED.labels(service, routing_key).inc()

    async def dead_letter(
        self, queue: str, raw: aio_pika.abc.AbstractIncomingMessage, reason: str
    ) -> None:
        headers: dict[str, Any] = dict(raw.headers or {})
        headers[REASON_HEADER] = reason[:4000]
        headers["x-original-routing-key"] = raw.routing_key or ""
        await self.broker.publish(
            raw.body,
            exchange=self.dead_letter_exchange,
            routing_key=f"{queue}.dlq",
            persist=True,
            mandatory=True,
            message_id=raw.message_id,
            content_type=raw.content_type,
            headers=headers,
        )

    async def ping(self) -> bool:
        try:
            return bool(await self.broker.ping(timeout=2.0))
        except Exception:
            return False


class UndecodableBody(Exception):
    """The body cannot be decoded at all: not UTF-8, not JSON, nested deeper than
    the interpreter's recursion limit, an integer of more than 4300 digits."""


async def _decode(message: Any, decode: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's own decoding, with whatever it raises named for what it is: the
    body's fault, which no retry can fix (`JSONDecodeError` is one of many)."""
    try:
        return await decode(message)
    except (ValueError, RecursionError) as error:
        raise UndecodableBody(f"{type(error).__name__}: {error}") from error


class InvalidMessage(Exception):
    """Valid JSON, but not the contract's shape; the message says every problem."""


def is_poison(error: BaseException) -> bool:
    """A message that no retry can fix: not decodable, or not the contract's shape."""
    return isinstance(error, ValidationError | UndecodableBody | InvalidMessage)


def describe(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        return f"invalid message: {describe_validation_error(error, skip_model=True)}"
    if isinstance(error, InvalidMessage):
        return f"invalid message: {error}"
    if isinstance(error, UndecodableBody):
        return f"body is not JSON: {error}"
    return f"{type(error).__name__}: {error}"


def dead_letter_reason(error: BaseException, deliveries: int, limit: int) -> str | None:
    """Why a message that failed on its `deliveries`-th delivery goes to its DLQ now,
    or None when it is to be retried."""
    if is_poison(error):
        return describe(error)
    if deliveries >= limit:
        return f"failed {deliveries} times, last error: {describe(error)}"
    return None


def retry_delay(deliveries: int) -> float:
    """The backoff before a failed message is requeued, after its `deliveries`-th."""
    return backoff(deliveries, base=0.25, cap=10.0)


def _dead_letter_middleware(messaging: Messaging, queue: str) -> type[BaseMiddleware]:
    class DeadLetterMiddleware(BaseMiddleware):  # type: ignore[type-arg,unused-ignore]
        msg: IncomingMessage

        async def after_processed(
            self,
            exc_type: type[BaseException] | None = None,
            exc_val: BaseException | None = None,
            exc_tb: Any = None,
        ) -> bool | None:
            if exc_val is None or isinstance(exc_val, HandlerException | asyncio.CancelledError):
                return False
            raw: IncomingMessage = self.msg
            deliveries = delivery_count(raw) + 1
            routing_key = raw.routing_key or ""
            metrics.MESSAGES_FAILED.labels(messaging.service, routing_key).inc()
            reason = dead_letter_reason(exc_val, deliveries, messaging.settings.delivery_limit)
            if reason is None:
                log.warning(
                    "handler failed, will retry",
                    queue=queue,
                    routing_key=routing_key,
                    event_id=raw.message_id,
                    delivery=deliveries,
                    error=describe(exc_val),
                )
                await asyncio.sleep(retry_delay(deliveries))
                return False  # the ack policy requeues it
            await messaging.dead_letter(queue, raw, reason)
            metrics.MESSAGES_DEAD_LETTERED.labels(messaging.service, routing_key).inc()
            log.error(
                "message dead-lettered", queue=queue, message_id=raw.message_id, reason=reason
            )
            raise AckMessage()

    return DeadLetterMiddleware


async def _close_quietly(connection: aiormq.abc.AbstractConnection) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5.0):
            await connection.close()


def delivery_count(raw: aio_pika.abc.AbstractIncomingMessage) -> int:
    """How often a quorum queue delivered this message before."""
    value = (raw.headers or {}).get("x-delivery-count")
    return value if isinstance(value, int) else 0

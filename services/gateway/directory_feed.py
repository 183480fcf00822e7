"""Keeping the gateway's `BookingDirectory` current from the broker.

Each gateway process binds a queue of its own (exclusive, deleted with its
connection: what it holds is a cache, rebuilt from booking's answers when lost)
to the events that say who owns a booking and which are cancelled. When the
connection drops, cancellations may be missed meanwhile, so the directory
starts over.
"""

from __future__ import annotations

from uuid import uuid4

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError

from contracts import BookingCancelled, BookingsCancelled, BookingsScheduled
from services.gateway.directory import BookingDirectory
from services.kit import amqp_wire
from services.kit.logs import get_logger
from services.kit.settings import Settings

log = get_logger(__name__)

ROUTING_KEYS = (
    BookingsScheduled.routing_key,
    BookingsCancelled.routing_key,
    BookingCancelled.routing_key,
)


class DirectoryFeed:
    def __init__(self, settings: Settings, directory: BookingDirectory) -> None:
        self.settings = settings
        self.directory = directory
        self._connection: AbstractRobustConnection | None = None

    async def start(self) -> None:
        connection = await amqp_wire.connect(self.settings.rabbitmq_url, "gateway directory")
        self._connection = connection
        connection.reconnect_callbacks.add(lambda *_: self._reconnected())
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self.settings.prefetch_count)
        exchange = await channel.declare_exchange(
            self.settings.naming.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        name = self.settings.naming.queue("gateway", f"directory.{uuid4().hex[:12]}")
        queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
        for routing_key in ROUTING_KEYS:
            await queue.bind(exchange, routing_key=routing_key)
        await queue.consume(self._on_message, no_ack=True)

    async def stop(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    def _reconnected(self) -> None:
        log.warning("booking directory reset after a lost connection")
        self.directory.forget_all()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            if message.routing_key == BookingsScheduled.routing_key:
                self.directory.scheduled(BookingsScheduled.model_validate_json(message.body))
            elif message.routing_key == BookingsCancelled.routing_key:
                cancelled = BookingsCancelled.model_validate_json(message.body)
                self.directory.cancelled(cancelled.booking_ids)
            elif message.routing_key == BookingCancelled.routing_key:
                one = BookingCancelled.model_validate_json(message.body)
                self.directory.cancelled([one.booking_id])
        except ValidationError:
            # Not the gateway's to dead-letter: the owning consumers keep it with the
            # reason. Unknown here, the booking is asked about when joined.
            log.debug("booking event ignored: not the contract's shape", key=message.routing_key)

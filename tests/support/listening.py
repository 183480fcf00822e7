"""Watching what a service publishes: a temporary queue bound to the namespace's exchange."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from typing import Any

import aio_pika

from contracts import Event, message_type_for
from services.kit.settings import Settings

MARKER_HEADER = "x-test-marker"


class Listener:
    """Collects every message published with the given routing keys."""

    def __init__(self) -> None:
        self.messages: list[Event] = []
        self.raw: list[aio_pika.abc.AbstractIncomingMessage] = []
        self._arrived = asyncio.Condition()
        self._markers: set[str] = set()
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._queue_name = ""

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            marker = (message.headers or {}).get(MARKER_HEADER)
            if marker is not None:
                async with self._arrived:
                    self._markers.add(str(marker))
                    self._arrived.notify_all()
                return
            model = message_type_for(message.routing_key or "")
            event = model.model_validate(json.loads(message.body))
            async with self._arrived:
                self.raw.append(message)
                self.messages.append(event)
                self._arrived.notify_all()

    def of(self, event_type: type[Event], **fields: Any) -> list[Any]:
        """The messages of `event_type` whose fields equal `fields`."""
        return [
            m
            for m in self.messages
            if isinstance(m, event_type) and all(getattr(m, k) == v for k, v in fields.items())
        ]

    async def wait_for(
        self, event_type: type[Event], count: int = 1, *, within: float = 10.0, **fields: Any
    ) -> list[Any]:
        """Wait until at least `count` matching messages arrived; return them all."""

        def enough() -> bool:
            return len(self.of(event_type, **fields)) >= count

        async with self._arrived:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait_for(enough), timeout=within)
        return self.of(event_type, **fields)

    async def caught_up(self, *, within: float = 10.0) -> None:
        """Return once everything routed to this listener's queue before now has arrived:
        a marker sent to the queue now comes out of it after all of that."""
        assert self._channel is not None, "not listening"
        marker = uuid.uuid4().hex
        await self._channel.default_exchange.publish(
            aio_pika.Message(b"", headers={MARKER_HEADER: marker}), routing_key=self._queue_name
        )
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: marker in self._markers), timeout=within
            )


@asynccontextmanager
async def listening(settings: Settings, routing_keys: Iterable[str]) -> AsyncIterator[Listener]:
    """A Listener on an exclusive auto-deleted queue bound for `routing_keys`."""
    listener = Listener()
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.naming.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in routing_keys:
            await queue.bind(exchange, routing_key=key)
        await queue.consume(listener._on_message)
        listener._channel, listener._queue_name = channel, queue.name
        yield listener
    finally:
        await connection.close()


async def publish_raw(
    settings: Settings, routing_key: str, body: bytes, message_id: str | None = None
) -> None:
    """Publish a body as it is (a poison message, a request) to the namespace's exchange."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(settings.naming.exchange)
        await exchange.publish(
            aio_pika.Message(body, message_id=message_id, content_type="application/json"),
            routing_key=routing_key,
        )


async def publish(settings: Settings, *events: Event) -> None:
    """Publish events as a producing service would (persistent, message_id = event_id)."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.naming.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for event in events:
            await exchange.publish(
                aio_pika.Message(
                    event.body(),
                    message_id=str(event.event_id),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=event.routing_key,
            )

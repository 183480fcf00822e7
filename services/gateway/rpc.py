"""Request/reply over RabbitMQ's direct reply-to, with many requests in flight.

FastStream 0.7's `broker.request` serializes every request behind one lock
and, per request, starts a consumer on `amq.rabbitmq.reply-to`, publishes and
waits for the publisher confirm, waits for the reply and cancels the consumer:
four round trips to the broker plus the answer, one request at a time. Under
a burst of joins that capped the gateway at about 30 requests/s, and requests
queued on the lock without any timeout.

Here one consumer on `amq.rabbitmq.reply-to` (a channel of its own on the
service's requests connection, `Messaging.requests_connection`) serves every
request, and many requests are in flight at once; replies are matched to their
request by `correlation_id`. Requests are published `mandatory` with confirms,
so one that no queue takes (or that a full queue refuses) fails at once instead
of waiting for the timeout. The channel is a robust one: after a reconnection
aio-pika restores the reply consumer, and requests in flight meanwhile time out.
"""

from __future__ import annotations

import asyncio
import weakref
from uuid import uuid4

from aio_pika import Message
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from services.kit.messaging import JSON, Messaging

REPLY_TO = "amq.rabbitmq.reply-to"


class RpcClient:
    def __init__(self, messaging: Messaging, timeout: float) -> None:
        self.messaging = messaging
        self.timeout = timeout

    @property
    def in_flight(self) -> int:
        """How many requests of this service are waiting for their reply."""
        replies = _REPLIES.get(self.messaging)
        return 0 if replies is None else len(replies.pending)

    async def request(self, body: bytes, routing_key: str) -> bytes:
        """Publish `body` to the namespace's exchange and return the reply's body.

        Raises `TimeoutError` when no reply came within `self.timeout` seconds,
        `aio_pika.exceptions.PublishError` when no queue took the request, or
        what else the broker raised."""
        replies = _REPLIES.get(self.messaging)
        if replies is None:
            replies = _REPLIES[self.messaging] = _Replies(self.messaging)
        async with asyncio.timeout(self.timeout):
            channel = await replies.channel()
            exchange = await channel.get_exchange(self.messaging.exchange.name, ensure=False)
            correlation_id = uuid4().hex
            reply: asyncio.Future[AbstractIncomingMessage] = (
                asyncio.get_running_loop().create_future()
            )
            replies.pending[correlation_id] = reply
            try:
                await exchange.publish(
                    Message(
                        body,
                        content_type=JSON,
                        correlation_id=correlation_id,
                        # aiormq matches a returned message to its publish by message_id.
                        message_id=correlation_id,
                        reply_to=REPLY_TO,
                    ),
                    routing_key=routing_key,
                    mandatory=True,
                )
                return (await reply).body
            finally:
                replies.pending.pop(correlation_id, None)


class _Replies:
    """The one consumer of direct replies of a service (RabbitMQ allows one per channel),
    shared by every client of its `Messaging`."""

    def __init__(self, messaging: Messaging) -> None:
        self.messaging = messaging
        self.pending: dict[str, asyncio.Future[AbstractIncomingMessage]] = {}
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def channel(self) -> AbstractChannel:
        """The channel to publish requests on, consuming their replies: direct reply-to
        needs both on one channel. Confirms, because aiormq hands a returned (unroutable)
        message back only for a confirmed publish; the confirm comes when the request is
        queued, so waiting for it costs nothing the reply would not wait for anyway."""
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                connection = await self.messaging.requests_connection()
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                queue = await channel.declare_queue(REPLY_TO, passive=True)
                await queue.consume(self._on_reply, no_ack=True)
                self._channel = channel
            return self._channel

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        waiting = self.pending.pop(message.correlation_id or "", None)
        if waiting is not None and not waiting.done():
            waiting.set_result(message)


_REPLIES: weakref.WeakKeyDictionary[Messaging, _Replies] = weakref.WeakKeyDictionary()

"""AMQP frames written out once per event-loop turn, not once per frame.

aiormq writes each frame (a publish, an acknowledgement) to the socket as it takes
it from its queue: with hundreds of publishes pipelined by the outbox relay, that
was one `send()` per message, and on loopback each wakes RabbitMQ to read a few
hundred bytes. That write was a sixth of attendance's and booking's CPU during the
sweep. Here the frames written within one turn of the loop leave in one `send()`:
the bytes and their order are unchanged, and none waits longer than that turn.
Measured with `make bench`: RabbitMQ's CPU during the sweep 18 -> 8 s, the
machine's 92 -> 78 s, 399 -> 467 swept bookings/s (docs/benchmarks.md).

The hooks are public: aio-pika's `connection_class`, and aiormq's
`transport_factory` (aio-pika hands aiormq only the parameters it knows, so the
connection class adds it), building the stream as `asyncio.open_connection` does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import aiormq
from aiormq.connection import TransportFactory
from aiormq.exceptions import AMQPConnectionError
from yarl import URL

# aiormq queues at most ten frames for its writer (FRAME_BUFFER_SIZE). A batch of
# publishes beyond that waits on the queue, each then on the channel's lock: one
# publish per loop turn, so one write each, whatever the writer does. Room for
# the relay's batches lets them all reach the writer in one turn. (A class
# constant, set here because aio-pika constructs aiormq's connection itself.)
aiormq.Connection.FRAME_BUFFER_SIZE = 1024


class CoalescingWriter(asyncio.StreamWriter):
    """A stream writer whose writes within one loop turn reach the socket together."""

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: asyncio.StreamReaderProtocol,
        reader: asyncio.StreamReader,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(transport, protocol, reader, loop)
        self._event_loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._event_loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, data: Any) -> None:
        for chunk in data:
            self.write(chunk)

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    async def drain(self) -> None:
        self._flush()
        await super().drain()

    def write_eof(self) -> None:
        self._flush()
        super().write_eof()

    def close(self) -> None:
        self._flush()
        super().close()


class CoalescingTcp(TransportFactory):
    """aiormq's plain TCP transport, written through a `CoalescingWriter`."""

    async def create(
        self, url: URL, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        kwargs.pop("ssl_context_provider", None)
        limit = kwargs.pop("limit", 2**16)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        host, port = url.host or "localhost", url.port or 5672
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol, host, port, ssl=None, **kwargs
            )
        except OSError as error:
            raise AMQPConnectionError(*error.args) from error
        return reader, CoalescingWriter(transport, protocol, reader, loop)


class CoalescingConnection(aio_pika.RobustConnection):
    """aio-pika's robust connection, over `CoalescingTcp` for plain `amqp://` (TLS as
    it was)."""

    def __init__(self, url: URL, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        if self.url.scheme == "amqp":
            self.kwargs["transport_factory"] = CoalescingTcp()


async def connect(url: str, name: str) -> aio_pika.abc.AbstractRobustConnection:
    """A robust connection named `name` in RabbitMQ's management views."""
    return await aio_pika.connect_robust(
        url, client_properties={"connection_name": name}, connection_class=CoalescingConnection
    )

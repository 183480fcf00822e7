"""AMQP frames written out once per event-loop turn, not once per frame.

aiormq writes each frame (a publish, an acknowledgement) to the socket as it takes it
from its queue: one `send()` per message, each waking RabbitMQ. Here the frames written
within one turn of the loop leave in one `send()`, bytes and order unchanged, none
waiting longer than that turn (figures: docs/benchmarks.md, "Why the kit's hot paths
look as they do").

Public hooks only: aiormq's `transport_factory`, and its `FRAME_BUFFER_SIZE` in a
subclass for the publishing connection alone; for aio-pika's robust connections, a
subclass with one more of its `PARAMETERS`. That aio-pika hands such a parameter on to
aiormq, and that aiormq writes through the stream writer as it does, hold for the
versions in `PINNED` (pyproject.toml pins them): `require_pinned_versions` refuses to
start with others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any, Protocol, TypeVar

import aio_pika
import aiormq
from aio_pika.abc import ConnectionParameter
from aiormq.exceptions import AMQPConnectionError
from yarl import URL

PINNED = {"aio-pika": "10.2.1", "aiormq": "7.2.4"}


def require_pinned_versions() -> None:
    """Refuse to run on other versions of aio-pika and aiormq than the ones this module
    was written and measured against."""
    installed = {name: metadata.version(name) for name in PINNED}
    wrong = [
        f"{name} {installed[name]} is installed, {pinned} is required"
        for name, pinned in PINNED.items()
        if installed[name] != pinned
    ]
    if wrong:
        raise RuntimeError(
            "; ".join(wrong) + ": services/kit/amqp_wire.py relies on how exactly these "
            "versions pass a transport factory on and write frames (pyproject.toml pins "
            "them; reinstall with `make install`, or check the module and move the pins)"
        )


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


class CoalescingTcp(aiormq.TransportFactory):
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


def _transport_factory(url: URL) -> aiormq.TransportFactory | None:
    """Coalescing for plain `amqp://`; TLS as aiormq makes it."""
    return CoalescingTcp() if url.scheme == "amqp" else None


def _as_given(value: Any) -> Any:
    return value


class CoalescingConnection(aio_pika.RobustConnection):
    """aio-pika's robust connection, which hands a `transport_factory` on to aiormq."""

    PARAMETERS = (
        *aio_pika.RobustConnection.PARAMETERS,
        ConnectionParameter(name="transport_factory", parser=_as_given, is_kwarg=True),
    )


async def connect(url: str, name: str) -> aio_pika.abc.AbstractRobustConnection:
    """A robust connection named `name` in RabbitMQ's management views."""
    return await _opened(CoalescingConnection, url, name)


class PublishingConnection(aiormq.Connection):
    """aiormq's connection with room in its frame queue for a batch of publishes: with
    aiormq's ten, each publish past the tenth waits on the queue, then on the channel's
    lock, so a batch leaves one publish per loop turn, one write each."""

    FRAME_BUFFER_SIZE = 1024


async def connect_publishing(url: str, name: str) -> aiormq.abc.AbstractConnection:
    """A connection to publish on (not robust: the caller opens another when it closed)."""
    return await _opened(PublishingConnection, url, name)


class _Connects(Protocol):
    def connect(self) -> Awaitable[object]: ...


C = TypeVar("C", bound=_Connects)


async def _opened(kind: Callable[..., C], url: str, name: str) -> C:
    parsed = URL(url)
    connection = kind(
        parsed,
        client_properties={"connection_name": name},
        transport_factory=_transport_factory(parsed),
    )
    await connection.connect()
    return connection

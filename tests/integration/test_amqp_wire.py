"""AMQP frames coalesced per loop turn (`services/kit/amqp_wire.py`), on the real
RabbitMQ and on a real loopback socket."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from services.kit import amqp_wire
from services.kit.amqp_wire import CoalescingWriter
from services.kit.messaging import Messaging
from services.kit.settings import Settings


class _Counted(CoalescingWriter):
    """Counts what reaches the socket."""

    sends: list[int] = []

    def _flush(self) -> None:
        if self._pending:
            _Counted.sends.append(len(self._pending))
        super()._flush()


async def _queue_of(
    settings: Settings, routing_key: str
) -> tuple[aio_pika.abc.AbstractRobustConnection, aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect_robust(settings.rabbitmq_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        settings.naming.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True)  # gone with the connection
    await queue.bind(exchange, routing_key)
    return connection, queue


async def _received(queue: aio_pika.abc.AbstractQueue, count: int) -> list[str]:
    ids: list[str] = []
    async with queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            ids.append(message.message_id or "")
            if len(ids) == count:
                return ids
    return ids


async def test_a_batch_of_publishes_leaves_in_a_few_writes_in_its_order(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """500 publishes gathered as the outbox relay gathers them: all confirmed, received
    in the order they were made, in a handful of socket writes (one per publish, 500,
    before: aiormq's queue of ten frames made the rest wait a loop turn each)."""
    monkeypatch.setattr(amqp_wire, "CoalescingWriter", _Counted)
    routing_key = f"wire.{uuid.uuid4().hex[:8]}"
    connection, queue = await _queue_of(settings, routing_key)
    messaging = Messaging(settings, f"wire{uuid.uuid4().hex[:6]}")
    try:
        await messaging.publish(routing_key, b"{}", uuid.uuid4())  # connects
        assert await _received(queue, 1)
        _Counted.sends.clear()
        ids = [uuid.uuid4() for _ in range(500)]
        results = await asyncio.gather(*(messaging.publish(routing_key, b"{}", i) for i in ids))
        assert results == [None] * 500  # each confirmed and routed
        assert sum(_Counted.sends) >= 500
        assert len(_Counted.sends) <= 10, _Counted.sends
        received = await asyncio.wait_for(_received(queue, 500), 30)
        assert received == [str(i) for i in ids]
    finally:
        await messaging.close()
        await connection.close()


@pytest.fixture
async def socket_pair() -> AsyncIterator[tuple[CoalescingWriter, asyncio.StreamReader]]:
    """A CoalescingWriter on a loopback connection, and the server end's reader."""
    accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(reader)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, "127.0.0.1", port)
    writer = CoalescingWriter(transport, protocol, reader, loop)  # type: ignore[arg-type]
    try:
        yield writer, await accepted.get()
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


async def test_writes_of_one_turn_leave_together_and_in_order(
    socket_pair: tuple[CoalescingWriter, asyncio.StreamReader],
) -> None:
    writer, peer = socket_pair
    for n in range(100):
        writer.write(b"%03d," % n)
    assert writer._pending  # held until the turn ends
    await asyncio.sleep(0)
    assert not writer._pending
    expected = b"".join(b"%03d," % n for n in range(100))
    assert await asyncio.wait_for(peer.readexactly(len(expected)), 5) == expected


async def test_drain_and_close_send_what_is_held(
    socket_pair: tuple[CoalescingWriter, asyncio.StreamReader],
) -> None:
    writer, peer = socket_pair
    writer.writelines([b"a", b"b"])
    await writer.drain()
    assert not writer._pending
    assert await asyncio.wait_for(peer.readexactly(2), 5) == b"ab"
    writer.write(b"last")
    writer.close()
    assert await asyncio.wait_for(peer.read(), 5) == b"last"

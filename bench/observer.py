"""Sees `attendance.marked` for `bench/join.py`, from a process of its own.

In the load generator's process, each mark's arrival waited behind the generator's
own work on one event loop, and the generator's CPU mixed with the observer's. Here
a queue of its own (exclusive, auto-deleted) is bound to the namespace's exchange;
for each mark it writes `<booking_id> <CLOCK_MONOTONIC in ns>` on a line of standard
output, the clock the generator reads too (it is the machine's, not the process's).
The first line, `ready`, says the queue is bound.

    python bench/observer.py <rabbitmq_url> <exchange>
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aio_pika
import uvloop


async def observe(rabbitmq_url: str, exchange_name: str) -> None:
    out = sys.stdout.buffer
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="attendance.marked")

        async def seen(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            at = time.monotonic_ns()
            try:
                booking_id = json.loads(message.body)["booking_id"]
            except (ValueError, KeyError, TypeError):
                return
            out.write(f"{booking_id} {at}\n".encode())
            out.flush()

        await queue.consume(seen, no_ack=True)
        out.write(b"ready\n")
        out.flush()
        await asyncio.Event().wait()  # until the generator terminates this process


if __name__ == "__main__":
    uvloop.run(observe(sys.argv[1], sys.argv[2]))

"""What RabbitMQ alone does here: the raw baseline for every other figure.

Plain aio-pika, no service code: M persistent messages (default 27,500, the
2.75 broker messages per swept booking of `bench/sweep.py` times 10,000) of
about 400 bytes of JSON go through a durable quorum queue declared for this
run (and deleted at the end). Publisher confirms are on and publishing is
pipelined (batches awaited together), while one consumer on a second
connection takes them with manual acks (prefetch 256).

Prints the published msgs/s (first publish to last confirm), the end-to-end
msgs/s (first publish to last ack), and the broker-bound limit of the sweep
cascade: end-to-end msgs/s / 2.75 swept bookings/s. Writes the figures to
artifacts/bench/broker.json, so that `bench/sweep.py`, run right after,
prints its bookings/s as a fraction of that limit. The last line is
`broker_messages_per_second=<end-to-end msgs/s>`.

    python bench/broker.py [--messages 27500] [--batch 500] [--prefetch 256]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aio_pika

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baseline import BASELINE, MESSAGES_PER_BOOKING
from services.kit.settings import Settings


def body(i: int) -> bytes:
    """About 400 bytes of JSON, shaped like a `booking.unattended`."""
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-11-25T09:00:00+00:00",
            "booking_id": str(uuid.uuid4()),
            "subscription_id": str(uuid.uuid4()),
            "mentee_id": str(uuid.uuid4()),
            "mentor_id": str(uuid.uuid4()),
            "starts_at": "2026-11-25T08:00:00+00:00",
            "ends_at": "2026-11-25T09:00:00+00:00",
            "detected_at": "2026-11-25T09:30:00+00:00",
            "sequence": i,
        }
    ).encode()


async def run(messages: int, batch: int, prefetch: int, settings: Settings) -> dict[str, float]:
    name = f"bench.broker.{uuid.uuid4().hex[:8]}"
    publishing = await aio_pika.connect(settings.rabbitmq_url)
    consuming = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await publishing.channel(publisher_confirms=True)
        await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        consumer_channel = await consuming.channel()
        await consumer_channel.set_qos(prefetch_count=prefetch)
        consumer_queue = await consumer_channel.get_queue(name, ensure=False)

        acked = 0
        all_acked = asyncio.Event()
        last_ack = 0.0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal acked, last_ack
            json.loads(message.body)  # a consumer reads what it takes
            await message.ack()
            acked += 1
            if acked >= messages:
                last_ack = time.perf_counter()
                all_acked.set()

        tag = await consumer_queue.consume(on_message)
        bodies = [body(i) for i in range(min(batch, messages))]

        async def report() -> None:
            while True:
                await asyncio.sleep(2)
                print(f"  published {published}/{messages}, acked {acked}", flush=True)

        published = 0
        reporter = asyncio.create_task(report())
        first_publish = time.perf_counter()
        for start in range(0, messages, batch):
            count = min(batch, messages - start)
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(
                            bodies[i],
                            message_id=str(uuid.uuid4()),
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=name,
                    )
                    for i in range(count)
                )
            )
            published += count
        last_confirm = time.perf_counter()
        await asyncio.wait_for(all_acked.wait(), timeout=max(120.0, messages / 100))
        reporter.cancel()
        await consumer_queue.cancel(tag)
    finally:
        with contextlib.suppress(Exception):
            cleanup = await publishing.channel()
            await cleanup.queue_delete(name)
        await consuming.close()
        await publishing.close()
    published_rate = messages / (last_confirm - first_publish)
    end_to_end = messages / (last_ack - first_publish)
    return {
        "messages": messages,
        "publish_seconds": last_confirm - first_publish,
        "end_to_end_seconds": last_ack - first_publish,
        "published_per_second": published_rate,
        "broker_messages_per_second": end_to_end,
        "broker_bound_bookings_per_second": end_to_end / MESSAGES_PER_BOOKING,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=27_500)
    parser.add_argument("--batch", type=int, default=500, help="publishes awaited together")
    parser.add_argument("--prefetch", type=int, default=256)
    args = parser.parse_args()
    settings = Settings()
    print(
        f"raw broker: {args.messages} persistent messages through a quorum queue, "
        f"confirms on, batches of {args.batch}, one consumer (prefetch {args.prefetch}, "
        "manual ack)",
        flush=True,
    )
    load_before = os.getloadavg()
    figures = await run(args.messages, args.batch, args.prefetch, settings)
    load_after = os.getloadavg()
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        f"({os.cpu_count()} CPUs): anything else running skews the baseline"
    )
    print(
        f"published {figures['published_per_second']:.0f} msgs/s "
        f"({figures['publish_seconds']:.2f}s to the last confirm)"
    )
    print(
        f"end to end {figures['broker_messages_per_second']:.0f} msgs/s "
        f"({figures['end_to_end_seconds']:.2f}s from the first publish to the last ack)"
    )
    print(
        f"broker-bound limit of the sweep cascade: "
        f"{figures['broker_bound_bookings_per_second']:.0f} swept bookings/s "
        f"({MESSAGES_PER_BOOKING} broker messages per swept booking)"
    )
    BASELINE.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **figures,
        "batch": args.batch,
        "prefetch": args.prefetch,
        "measured_at": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before[0],
        "load_average_after": load_after[0],
    }
    BASELINE.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {BASELINE}")
    print(f"broker_messages_per_second={figures['broker_messages_per_second']:.1f}")


if __name__ == "__main__":
    asyncio.run(main())

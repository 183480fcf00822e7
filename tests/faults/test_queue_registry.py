"""A RabbitMQ node SIGKILLed right after a service created its quorum queues.

RabbitMQ 3.10's Ra writes a new queue member's registration to disk lazily (its
`names.dets`, 0.5 s after the last access, 3 s after the last write at the latest).
A node killed before then restarts the queue as a new, empty member that never calls
an election: no leader, a basic.consume waits 65 s and closes the connection with 541
(docs/operations.md, "A quorum queue without a leader"). `Messaging.declare` waits
`Settings.quorum_registry_seconds` (3.5 s) after creating queues; here the node is
killed the moment it returns, and every queue must have a leader after the restart.
The control, queues created without that wait and the node killed at once, shows the
fault is there to be seen: at least one queue comes back without a leader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aio_pika
import pytest

from services.kit.messaging import Messaging
from services.kit.settings import Settings
from tests.conftest import NAMESPACE
from tests.faults.cascade import QUORUM_REGISTRY_SECONDS
from tests.support.nodes import PrivateRabbitMQ, private_nodes_available, remove, temporary_base

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

ROUTING_KEYS = [f"registry.key{i}" for i in range(12)]
# A leader answers a basic.consume at once; a queue without one, after 65 s.
CONSUME_BOUND_SECONDS = 5.0


@pytest.fixture
def node() -> Iterator[PrivateRabbitMQ]:
    why_not = private_nodes_available()
    if why_not:
        pytest.skip(f"needs a broker node of its own: {why_not}")
    base = temporary_base("faults-registry-")
    node = PrivateRabbitMQ(base / "rabbitmq")
    try:
        node.start()
        yield node
    finally:
        node.stop()
        remove(base)


def _messaging(node: PrivateRabbitMQ, suffix: str) -> Messaging:
    settings = Settings(
        rabbitmq_url=node.url,
        mentorship_namespace=f"{NAMESPACE}{suffix}",
        quorum_registry_seconds=QUORUM_REGISTRY_SECONDS,
    )
    messaging = Messaging(settings, "registry")
    for routing_key in ROUTING_KEYS:
        messaging.documents_consuming(routing_key, lambda message: None)
    return messaging


async def _ignore(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    return None


async def _without_a_leader(url: str, names: list[str]) -> list[str]:
    """The queues whose basic.consume is not answered within the bound."""
    stuck: list[str] = []
    connection = await aio_pika.connect(url)
    try:
        for name in names:
            channel = await connection.channel()
            queue = await channel.declare_queue(name, passive=True)
            try:
                await asyncio.wait_for(queue.consume(_ignore), CONSUME_BOUND_SECONDS)
            except TimeoutError:
                stuck.append(name)
                await connection.close()
                connection = await aio_pika.connect(url)
            else:
                await channel.close()
    finally:
        await connection.close()
    return stuck


async def _first_start(messaging: Messaging, *, wait: bool) -> list[str]:
    try:
        if wait:
            await messaging.declare()
        else:
            await messaging._create_quorum_queues()
    finally:
        await messaging.broker.stop()
        await messaging.close()
    return [queue.name for queue in messaging.quorum_queues]


async def test_queues_a_service_created_have_a_leader_after_the_node_is_killed_at_once(
    node: PrivateRabbitMQ,
) -> None:
    # The control: created without the wait, and the node killed at once.
    unwaited = await _first_start(_messaging(node, "regunwaited"), wait=False)
    await asyncio.to_thread(node.restart)
    assert await _without_a_leader(node.url, unwaited)

    waited = await _first_start(_messaging(node, "regwaited"), wait=True)
    await asyncio.to_thread(node.restart)
    assert await _without_a_leader(node.url, waited) == []

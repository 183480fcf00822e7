"""Where the tests find RabbitMQ and PostgreSQL, and how a test run cleans up.

Testcontainers start both only when a Docker engine is reachable and no
service URL is configured; otherwise (as on CI here) the local services are
used. Every run works in its own MENTORSHIP_NAMESPACE and removes its queues,
exchanges and databases at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator

import aio_pika
import aiormq
import asyncpg

from services.kit.settings import Settings

LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def _docker_reachable() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def infrastructure() -> Iterator[tuple[str, str]]:
    """Yield (rabbitmq_url, postgres_url) for this test run."""
    configured = "RABBITMQ_URL" in os.environ or "POSTGRES_URL" in os.environ
    if configured or not _docker_reachable():
        yield (
            os.environ.get("RABBITMQ_URL", LOCAL_RABBITMQ),
            os.environ.get("POSTGRES_URL", LOCAL_POSTGRES),
        )
        return
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.community.rabbitmq import RabbitMqContainer

    with (
        PostgresContainer("postgres:16-alpine", username="postgres", password="postgres") as pg,
        RabbitMqContainer("rabbitmq:3.13-management-alpine") as mq,
    ):
        host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
        rabbit = f"amqp://guest:guest@{mq.get_container_host_ip()}:{mq.get_exposed_port(5672)}/"
        yield rabbit, f"postgresql://postgres:postgres@{host}:{port}"


async def clean_namespace(settings: Settings) -> None:
    """Delete the queues and exchanges and drop the databases of the namespace and of
    every namespace derived from it (`<namespace><suffix>`)."""
    namespace = settings.mentorship_namespace
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        queues = [*services_queues(settings), *_listed("list_queues", namespace)]
        await _each_on_a_channel(connection, dict.fromkeys(queues), "queue_delete")
        exchanges = {namespace, f"{namespace}.dlx", *_listed("list_exchanges", namespace)}
        await _each_on_a_channel(connection, exchanges, "exchange_delete")
    finally:
        await connection.close()
    conn = await asyncpg.connect(settings.postgres_dsn("postgres"))
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{namespace}%"
        )
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def services_queues(settings: Settings) -> list[str]:
    """Every queue the services declare in the namespace, and its dead-letter queue.

    Deleted by name: listing them takes rabbitmqctl, which times out on a busy broker,
    and a namespace left behind keeps its classic dead-letter queues' file handles; the
    machine's broker (1,024 of them) stops accepting connections once they run out."""
    from services.attendance.app import create_runtime as attendance
    from services.booking.app import create_runtime as booking
    from services.gateway.stripe_webhooks import REJECTED_ROUTING_KEY
    from services.notifications.app import create_runtime as notifications
    from services.scheduler.app import create_runtime as scheduler

    names = [settings.naming.queue("gateway", REJECTED_ROUTING_KEY)]
    for create_runtime in (attendance, booking, notifications, scheduler):
        names.extend(create_runtime(settings).messaging.queue_names)
    return [each for name in names for each in (name, f"{name}.dlq")]


async def _each_on_a_channel(
    connection: aio_pika.abc.AbstractConnection, names: Iterable[str], method: str
) -> None:
    """`channel.<method>(name)` for each name; a refusal (another connection's exclusive
    queue) closes the channel, so the rest go on a new one."""
    channel = await connection.channel()
    for name in names:
        try:
            await getattr(channel, method)(name)
        except (aio_pika.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError):
            channel = await connection.channel()


def _listed(what: str, prefix: str) -> list[str]:
    """Names of queues or exchanges starting with `prefix` (empty without rabbitmqctl)."""
    if shutil.which("rabbitmqctl") is None:
        return []
    out = subprocess.run(
        ["rabbitmqctl", what, "-q", "--no-table-headers", "name"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip().startswith(prefix)]

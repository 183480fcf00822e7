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
from collections.abc import Iterator

import aio_pika
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
        channel = await connection.channel()
        for name in _listed("list_queues", namespace):
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
        for exchange in {namespace, f"{namespace}.dlx", *_listed("list_exchanges", namespace)}:
            with contextlib.suppress(Exception):
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()
    conn = await asyncpg.connect(f"{settings.server_url()}/postgres")
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{namespace}%"
        )
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


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

"""What a running service shows about itself: Prometheus metrics, liveness and readiness."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest_asyncio

from contracts import SubscriptionEnded
from services.kit.runtime import ServiceRuntime
from services.kit.settings import Settings
from tests.integration.toy.service import create_runtime
from tests.support.listening import publish
from tests.support.system import free_port
from tests.support.waiting import eventually

NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def toy(settings: Settings) -> AsyncIterator[tuple[ServiceRuntime, str]]:
    port = free_port()
    runtime = create_runtime(
        settings.model_copy(update={"metrics_port": port}), f"toyobs{uuid.uuid4().hex[:6]}"
    )
    app = runtime.app()
    await app.start()
    try:
        yield runtime, f"http://127.0.0.1:{port}"
    finally:
        await app.stop()


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format (0 when absent)."""
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_service_exposes_its_metrics_and_health(
    settings: Settings, toy: tuple[ServiceRuntime, str]
) -> None:
    runtime, base = toy
    async with httpx.AsyncClient(base_url=base) as client:

        async def ready() -> int:
            try:
                return (await client.get("/readyz")).status_code
            except httpx.HTTPError:
                return 0

        assert await eventually(ready, lambda code: code == 200) == 200
        readiness = (await client.get("/readyz")).json()
        assert readiness["checks"] == {"broker": True, "database": True, "migrations": True}
        assert (await client.get("/livez")).status_code == 200

        event = SubscriptionEnded(occurred_at=NOW, subscription_id=uuid.uuid4(), ended_at=NOW)
        await publish(settings, event, event)

        async def handled() -> str:
            return (await client.get("/metrics")).text

        labels = {"service": runtime.name, "routing_key": "subscription.ended"}
        # The relay publishes what the handler wrote after its commit: wait for both.
        metrics = await eventually(
            handled,
            lambda text: (
                sample(text, "mentorship_messages_handled_total", **labels, outcome="duplicate")
                >= 1
                and sample(text, "mentorship_outbox_published_total", service=runtime.name) >= 1
            ),
        )
    assert sample(metrics, "mentorship_messages_handled_total", **labels, outcome="handled") >= 1
    assert sample(metrics, "mentorship_handler_seconds_count", **labels) >= 2
    assert "mentorship_outbox_backlog" in metrics
    assert "mentorship_outbox_oldest_unsent_age_seconds" in metrics
    assert sample(metrics, "mentorship_outbox_published_total", service=runtime.name) >= 1


async def test_the_health_server_binds_only_the_configured_host(settings: Settings) -> None:
    port = free_port()
    configured = settings.model_copy(update={"metrics_port": port, "metrics_host": "127.0.0.2"})
    runtime = create_runtime(configured, f"toyhost{uuid.uuid4().hex[:6]}")
    app = runtime.app()
    await app.start()
    try:
        async with httpx.AsyncClient() as client:

            async def live(host: str) -> int:
                try:
                    return (await client.get(f"http://{host}:{port}/livez")).status_code
                except httpx.HTTPError:
                    return 0

            assert await eventually(lambda: live("127.0.0.2"), lambda code: code == 200) == 200
            assert await live("127.0.0.1") == 0  # not every interface
    finally:
        await app.stop()

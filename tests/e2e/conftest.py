"""The whole system, every service its own process, for the end-to-end tests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import pytest
import pytest_asyncio

from contracts import SweepTick
from services.kit.settings import Settings
from tests.conftest import derived
from tests.support.listening import publish
from tests.support.outbound import OutboundRecorder
from tests.support.smtp import RecordingSMTPServer
from tests.support.system import System
from tests.support.waiting import eventually


@pytest.fixture(scope="session")
def smtp() -> Iterator[RecordingSMTPServer]:
    server = RecordingSMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def outbound() -> AsyncIterator[OutboundRecorder]:
    recorder = OutboundRecorder()
    await recorder.start()
    try:
        yield recorder
    finally:
        await recorder.stop()


@pytest.fixture(scope="session")
def settings(settings: Settings) -> Settings:
    """The whole system in a namespace of its own, untouched by the in-process suites."""
    return derived(settings, "e2e", for_session=True)


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def system(
    settings: Settings, smtp: RecordingSMTPServer, outbound: OutboundRecorder
) -> AsyncIterator[System]:
    system = System(
        settings,
        smtp_port=smtp.port,
        extra_env={
            "HTTP_PROXY": outbound.url,
            "HTTPS_PROXY": outbound.url,
            "NO_PROXY": "127.0.0.1,localhost",
            "LOG_FORMAT": "json",
        },
    )
    try:
        await system.start()
        await _first_tick_swept(system)
        yield system
    finally:
        system.stop()


async def _first_tick_swept(system: System) -> None:
    """Until booking has handled the scheduler's start-up tick.

    The scheduler ticks as it starts, possibly before booking's queue is bound;
    its outbox then retries with backoff, and the tick could land seconds later,
    in the middle of a test whose past sessions it would sweep with its own
    `tick_at`. Tests send their own ticks; this one is out of the way first.
    """
    url = f"http://127.0.0.1:{system.metrics_ports['booking']}/metrics"
    handled = re.compile(
        r'mentorship_messages_handled_total\{[^}]*routing_key="sweep\.tick"[^}]*\} [1-9]'
    )

    async def metrics() -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).text

    text = await eventually(metrics, lambda text: handled.search(text) is not None, within=30)
    assert handled.search(text), "booking never handled the scheduler's start-up tick"


@pytest_asyncio.fixture(loop_scope="session")
async def gateway(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=15) as client:
        yield client


@asynccontextmanager
async def system_with(
    settings: Settings, smtp: RecordingSMTPServer, env: Mapping[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """Booking, attendance, notifications and the gateway under settings of a module's
    own (`env`), with no scheduler: the tests send their own ticks. Yields a client of
    its gateway."""
    system = System(
        settings,
        smtp_port=smtp.port,
        extra_env=dict(env),
        services=("booking", "attendance", "notifications"),
    )
    try:
        await system.start()
        async with httpx.AsyncClient(base_url=system.gateway_url, timeout=15) as client:
            yield client
    finally:
        system.stop()


async def tick(settings: Settings, at: datetime) -> SweepTick:
    """A sweep tick at `at`, as the scheduler would publish it."""
    sent = SweepTick(occurred_at=at, tick_at=at)
    await publish(settings, sent)
    return sent

"""The whole system, every service its own process, for the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from services.kit.settings import Settings
from tests.conftest import derived
from tests.support.outbound import OutboundRecorder
from tests.support.smtp import RecordingSMTPServer
from tests.support.system import System


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
    return derived(settings, "e2e")


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
        yield system
    finally:
        system.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def gateway(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=15) as client:
        yield client

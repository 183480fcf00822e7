"""The fault suite's own RabbitMQ node and PostgreSQL cluster, and a whole system on them.

Never the machine's broker or database: those are shared, and these get killed.
Each scenario runs the services (booking, attendance, notifications; the gateway
as `System` always starts it; no scheduler, whose ticks would interleave) in a
namespace of its own on the private nodes, with a recording SMTP server whose
faults it switches on.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from services.kit.settings import Settings
from tests.conftest import NAMESPACE
from tests.faults.cascade import Cascade, Figures, scenario_settings, scenario_system
from tests.support.faulty_smtp import FaultySMTPServer
from tests.support.nodes import (
    PrivatePostgres,
    PrivateRabbitMQ,
    private_nodes_available,
    remove,
    temporary_base,
)
from tests.support.system import System

FIGURES: list[Figures] = []
_scenarios = itertools.count()


@pytest.fixture(scope="session")
def private_nodes() -> Iterator[tuple[PrivateRabbitMQ, PrivatePostgres]]:
    why_not = private_nodes_available()
    if why_not:
        pytest.skip(f"fault suite needs its own broker and database: {why_not}")
    base = temporary_base("faults-")
    rabbitmq = PrivateRabbitMQ(base / "rabbitmq")
    postgres = PrivatePostgres(base / "postgres")
    try:
        postgres.start()
        rabbitmq.start()
        yield rabbitmq, postgres
    finally:
        rabbitmq.stop()
        postgres.stop()
        remove(base)


@pytest.fixture
def rabbitmq(private_nodes: tuple[PrivateRabbitMQ, PrivatePostgres]) -> PrivateRabbitMQ:
    return private_nodes[0]


@pytest.fixture
def postgres(private_nodes: tuple[PrivateRabbitMQ, PrivatePostgres]) -> PrivatePostgres:
    return private_nodes[1]


@pytest.fixture
def fault_settings(rabbitmq: PrivateRabbitMQ, postgres: PrivatePostgres) -> Settings:
    return scenario_settings(rabbitmq.url, postgres.url, f"{NAMESPACE}flt{next(_scenarios)}")


@pytest.fixture
def fault_smtp() -> Iterator[FaultySMTPServer]:
    server = FaultySMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def fault_system(
    fault_settings: Settings, fault_smtp: FaultySMTPServer
) -> AsyncIterator[System]:
    system = scenario_system(fault_settings, fault_smtp)
    try:
        await system.start()
        yield system
    finally:
        system.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def cascade(
    fault_settings: Settings,
    fault_system: System,
    fault_smtp: FaultySMTPServer,
    rabbitmq: PrivateRabbitMQ,
) -> Cascade:
    cascade = Cascade(fault_settings, fault_system, fault_smtp, rabbitmq)
    await cascade.prepare()
    return cascade


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Iterator[list[Figures]]:
    """Figures a scenario reports: printed at once (even without -s) and in the summary."""
    reported: list[Figures] = []
    yield reported
    for figures in reported:
        FIGURES.append(figures)
        with capsys.disabled():
            print(f"\n{figures.line()}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault scenarios")
        for figures in FIGURES:
            terminalreporter.write_line(figures.line())

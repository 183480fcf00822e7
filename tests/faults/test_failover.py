"""The PostgreSQL primary dies mid-cascade and its streaming standby is promoted.

A primary and a standby of the test's own (tests/support/nodes.py), the standby a
base backup of the primary streaming its WAL. The services reach them through one
POSTGRES_URL listing both hosts (asyncpg's `target_session_attrs=read-write`, which
Settings adds for several hosts): while the primary lives, asyncpg passes over the
standby, a host in recovery; once the primary is gone (every process of it SIGKILLed, as
a machine that dies) and the standby promoted, the same URL reaches it. The end
state must be the one without the fault.

Asynchronous replication (PostgreSQL's default) and synchronous (the primary's
`synchronous_standby_names` naming the standby, `synchronous_commit = on`): with the
first, a commit the primary acknowledged may not have reached the standby when the
primary dies. How many commits the promoted standby lacks is measured, not assumed:
the old primary's WAL (pg_waldump) after the position the standby had received.
docs/operations.md, "Running on a cluster", reports the figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
import pytest_asyncio

from services.kit.database import create_database_if_missing
from services.kit.settings import Settings
from tests.conftest import NAMESPACE
from tests.faults.cascade import (
    DUPLICATES_PER_DATABASE_CRASH,
    SERVICES,
    SUBSCRIPTIONS,
    Cascade,
    Figures,
    redone,
    scenario_settings,
    scenario_system,
)
from tests.support.faulty_smtp import FaultySMTPServer
from tests.support.nodes import (
    STANDBY_NAME,
    PrivatePostgres,
    PrivateRabbitMQ,
    remove,
    temporary_base,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

REPLICATION = {
    "asynchronous": {},
    "synchronous": {"synchronous_standby_names": STANDBY_NAME},
}


@dataclass
class Pair:
    primary: PrivatePostgres
    standby: PrivatePostgres
    replication: str

    @property
    def url(self) -> str:
        """Both hosts, the standby first in one of the runs: connections pass over a host
        in recovery before the failover (that run) or one that refuses after it (the other)."""
        hosts = [f"127.0.0.1:{self.primary.port}", f"127.0.0.1:{self.standby.port}"]
        if self.replication == "asynchronous":
            hosts.reverse()
        return f"postgresql://postgres@{','.join(hosts)}"


async def _replicating(pair: Pair, within: float = 30.0) -> None:
    """Until the primary sees the standby streaming (and, if so set, as synchronous)."""
    wanted = "sync" if pair.replication == "synchronous" else "async"
    deadline = time.monotonic() + within
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pair.primary.port}/postgres")
    try:
        while True:
            states = await conn.fetch("SELECT state, sync_state FROM pg_stat_replication")
            if [(r["state"], r["sync_state"]) for r in states] == [("streaming", wanted)]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"standby not streaming ({wanted}): {states}")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def _databases_on_both(pair: Pair, settings: Settings, within: float = 30.0) -> None:
    """The services' databases created on the primary and replayed by the standby, as
    in a deployment after its first start. asyncpg moves on to the next host only when
    one refuses or cannot accept connections yet: a standby listed first that does not
    have a database created a moment ago fails the connection instead of being passed
    over (docs/operations.md, "Running on a cluster")."""
    names = [settings.naming.database(service) for service in SERVICES]
    for name in names:
        await create_database_if_missing(settings, name)
    deadline = time.monotonic() + within
    standby = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:{pair.standby.port}/postgres", timeout=5
    )
    try:
        while await standby.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", names
        ) < len(names):
            if time.monotonic() > deadline:
                raise AssertionError(f"the standby has not replayed {names} within {within}s")
            await asyncio.sleep(0.1)
    finally:
        await standby.close()


@pytest.fixture(params=list(REPLICATION))
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    replication: str = request.param
    base = temporary_base(f"faults-failover-{replication}-")
    primary = PrivatePostgres(base / "primary", settings=REPLICATION[replication])
    standby = PrivatePostgres(base / "standby", standby_of=primary)
    try:
        primary.start()
        standby.start()
        yield Pair(primary, standby, replication)
    finally:
        standby.stop()
        primary.stop()
        remove(base)


@pytest_asyncio.fixture(loop_scope="session")
async def replicated(
    pair: Pair,
    private_nodes: tuple[PrivateRabbitMQ, PrivatePostgres],
    fault_smtp: FaultySMTPServer,
) -> AsyncIterator[Cascade]:
    await _replicating(pair)
    rabbitmq = private_nodes[0]
    settings = scenario_settings(
        rabbitmq.url, pair.url, f"{NAMESPACE}fltfailover{pair.replication[0]}"
    )
    system = scenario_system(settings, fault_smtp)
    await _databases_on_both(pair, settings)
    try:
        await system.start()
        cascade = Cascade(settings, system, fault_smtp, rabbitmq)
        await cascade.prepare()
        yield cascade
    finally:
        system.stop()


async def _received(standby: PrivatePostgres) -> str:
    """How far the standby has received the primary's WAL (an LSN, "0/3A1F2B8")."""
    conn = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:{standby.port}/postgres", timeout=5
    )
    try:
        return str(await conn.fetchval("SELECT pg_last_wal_receive_lsn()::text"))
    finally:
        await conn.close()


async def test_the_primary_dies_and_its_standby_is_promoted_mid_cascade(
    replicated: Cascade,
    pair: Pair,
    fault_smtp: FaultySMTPServer,
    report: list[Figures],
) -> None:
    fault_smtp.delay = 0.02
    before = await _received(pair.standby)
    await replicated.tick()
    # Attendance and booking deciding: reprobations on their way to booking.
    at_fault = await replicated.reach(lambda p: p.reprobated >= SUBSCRIPTIONS // 4)
    began = time.monotonic()
    await asyncio.to_thread(pair.primary.crash)
    received = await _received(pair.standby)
    await asyncio.to_thread(pair.standby.promote)
    fault_seconds = time.monotonic() - began
    lost = await asyncio.to_thread(pair.primary.commits_after, received)
    # The measure sees commits where there are some: the cascade's, since the tick.
    assert await asyncio.to_thread(pair.primary.commits_after, before) > 0

    final = await replicated.converge(within=120)
    dead = await replicated.dead_lettered()
    assert dead == {}
    duplicated = final.copies - final.accepted
    assert duplicated <= DUPLICATES_PER_DATABASE_CRASH
    figures = replicated.figures(
        f"PostgreSQL failover ({pair.replication} replication,"
        f" {'standby' if pair.replication == 'asynchronous' else 'primary'} listed first):"
        " primary SIGKILL,"
        f" standby promoted; {lost} commits the standby lacked;"
        f" {(await redone(replicated)).brief()}",
        final,
        dead,
        allowed=DUPLICATES_PER_DATABASE_CRASH,
        at_fault=at_fault,
        fault_seconds=fault_seconds,
    )
    report.append(figures)

"""Network partitions mid-cascade: a three-node RabbitMQ cluster on a network of the
test's own, links cut and healed, Jepsen-style.

The network (tests/support/network.py): five namespaces on one bridge, 10.77.0.0/24
inside them only. `ctl` holds this test's thread, its PostgreSQL, its SMTP server and
the services; `r0`, `r1`, `r2` hold one RabbitMQ node each, clustered as a deployment
would be: `cluster_partition_handling = pause_minority`, quorum queues (the services
declare nothing else) with leaders spread (`queue_leader_locator = balanced`), Erlang's
default `net_ticktime` (60 s). Each service connects to a node of its own
(BROKER_OF), with a 10 s AMQP heartbeat in its URL, as RabbitMQ's guide advises (5 to
20 s), and keeps publisher confirms, manual acknowledgements and its prefetch. A cut
drops packets silently both ways; nothing else is touched.

Scenarios, each from the middle of the cascade, all opt-in (marker `slow`, `make
faults-slow`): left out of `make test`, whose run they took past CI's 20 minutes when
the machine is in its slow state (docs/operations.md):
- a node cut off from the other two (the minority) for 30 s, then healed; the
  services connected to it stay connected to it;
- a service's link to its node cut for 30 s: it must wait or reconnect;
- a node's links to the other two cut and healed every 3 s for a minute (flapping);
- a node cut off for 100 s, past `net_ticktime`, so that `pause_minority` pauses it.
The end state must be the fault-free one (every effect once, outboxes drained, work
queues empty, nothing dead-lettered, no email twice); each prints its figures.
docs/operations.md, "Running on a cluster", reports them.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from tests.conftest import NAMESPACE
from tests.faults.cascade import (
    SUBSCRIPTIONS,
    Cascade,
    Figures,
    Progress,
    redone,
    scenario_settings,
    scenario_system,
)
from tests.faults.test_cluster import leaders
from tests.support.faulty_smtp import FaultySMTPServer
from tests.support.network import Network, network_available
from tests.support.nodes import (
    PrivatePostgres,
    PrivateRabbitMQ,
    PrivateRabbitMQCluster,
    private_nodes_available,
    remove,
    temporary_base,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

NODES = ("r0", "r1", "r2")
HOSTS = ("ctl", *NODES)
# booking and the gateway on r0, attendance on r1, notifications on r2: a cut between
# `ctl` and one node is then one service's link (r1, r2) or two (r0).
BROKER_OF = {"booking": "r0", "gateway": "r0", "attendance": "r1", "notifications": "r2"}
CLUSTER_CONFIG = "cluster_partition_handling = pause_minority\n"
HEARTBEAT_SECONDS = 10
PARTITION_SECONDS = 30.0
FLAP_SECONDS, FLAP_EVERY = 60.0, 3.0
# Beyond net_ticktime's 45-75 s: the nodes declare each other down.
LONG_PARTITION_SECONDS = 100.0
QUARTER = SUBSCRIPTIONS // 4
# A node's quorum queue members must elect, a paused node restart its app, a TCP
# connection's retransmissions back off to half a minute under a cut: within this.
CONVERGE_SECONDS = 240


@dataclass
class World:
    network: Network
    cluster: PrivateRabbitMQCluster
    postgres: PrivatePostgres

    def node(self, host: str) -> PrivateRabbitMQ:
        return self.cluster.nodes[NODES.index(host)]

    def url(self, host: str) -> str:
        return f"{self.node(host).url}?heartbeat={HEARTBEAT_SECONDS}"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    why_not = network_available() or private_nodes_available()
    if why_not:
        pytest.skip(f"the partition scenarios need their own network and nodes: {why_not}")
    network = Network(HOSTS)
    base = temporary_base("faults-partitions-")
    try:
        network.create()
        # This thread stays on `ctl` for the module: what the scenarios start (PostgreSQL,
        # the SMTP server's thread, the services) and the connections they open are there.
        with network.entered("ctl"):
            postgres = PrivatePostgres(base / "postgres")
            cluster = PrivateRabbitMQCluster(
                base / "rabbitmq",
                placed=[(network.namespace(n), network.addresses[n]) for n in NODES],
                config=CLUSTER_CONFIG,
            )
            try:
                postgres.start()
                cluster.start()
                assert len(cluster.running()) == 3
                yield World(network, cluster, postgres)
            finally:
                network.heal_all()
                cluster.stop()
                postgres.stop()
    finally:
        network.destroy()
        remove(base)


@pytest_asyncio.fixture(loop_scope="session")
async def partitioned(
    world: World, fault_smtp: FaultySMTPServer, request: pytest.FixtureRequest
) -> AsyncIterator[Cascade]:
    # The scenario's initials ("test_a_node_cut_off_..." -> "ncoftotmc"): a namespace each.
    scenario = "".join(word[0] for word in request.node.name.split("_")[2:])
    settings = scenario_settings(world.url("r0"), world.postgres.url, f"{NAMESPACE}fltp{scenario}")
    system = scenario_system(settings, fault_smtp)
    try:
        for service in (*system.services, "gateway"):
            system.start_service(service, RABBITMQ_URL=world.url(BROKER_OF[service]))
        await system.wait_ready()
        cascade = Cascade(settings, system, fault_smtp, world.cluster.first)
        await cascade.prepare()
        yield cascade
    finally:
        world.network.heal_all()
        system.stop()
        # Beside the services' logs: the nodes' directories go when the module ends.
        for host in NODES:
            node = world.node(host)
            log = node.dir / "log" / f"{node.node}.log"
            if log.exists():
                shutil.copyfile(log, system.logs / f"rabbitmq-{host}.log")


def _connected_to(node: str) -> str:
    return ", ".join(s for s, n in BROKER_OF.items() if n == node) or "no service"


def _view_of(node: PrivateRabbitMQ) -> str:
    """What a node cut off thinks of its cluster, asked of it alone (`cluster_status`
    asks the others, and waits on the cut): the nodes its Erlang distribution is still
    connected to, and whether its broker still runs (pause_minority stops it)."""
    try:
        done = node.ctl("eval", "{length(nodes()), rabbit:is_running()}.", timeout=15)
    except subprocess.TimeoutExpired:
        return "no answer within 15s"
    if done.returncode != 0:
        return f"no answer ({done.stderr.strip()[:80]})"
    peers, running = done.stdout.strip().strip("{}").split(",")
    return f"{peers} peers connected, broker {'running' if running == 'true' else 'paused'}"


async def _mid_cascade(
    cascade: Cascade, smtp: FaultySMTPServer, moment: Callable[[Progress], bool]
) -> Progress:
    """Tick, and return once the cascade has reached `moment`: the time to break things."""
    smtp.delay = 0.02
    await cascade.tick()
    return await cascade.reach(moment)


async def _settle(
    cascade: Cascade,
    world: World,
    report: list[Figures],
    scenario: str,
    *,
    at_fault: Progress,
    fault_seconds: float,
) -> None:
    """The end state without a fault, then the scenario's figures reported."""

    async def whole() -> bool:
        return len(await asyncio.to_thread(world.cluster.running)) == 3

    # A node that paused itself starts its broker again once it sees the majority.
    await cascade.wait_until(whole, within=120, what="all three nodes running", every=1.0)
    final = await cascade.converge(within=CONVERGE_SECONDS)
    dead = await cascade.dead_lettered()
    assert dead == {}
    duplicated = final.copies - final.accepted
    assert duplicated == 0, cascade.smtp.copies(cascade.addresses)
    redo = await redone(cascade)
    figures = cascade.figures(
        f"{scenario}; {redo.brief()}",
        final,
        dead,
        allowed=0,
        at_fault=at_fault,
        fault_seconds=fault_seconds,
    )
    report.append(figures)


@pytest.mark.slow
@pytest.mark.timeout(480)
async def test_a_node_cut_off_from_the_other_two_mid_cascade(
    partitioned: Cascade, world: World, fault_smtp: FaultySMTPServer, report: list[Figures]
) -> None:
    namespace = partitioned.settings.mentorship_namespace
    led = await asyncio.to_thread(leaders, world.cluster, namespace)
    # The node leading the most of the namespace's queues: they must elect elsewhere.
    victim = max(NODES, key=lambda n: led.get(world.node(n).node, 0))
    others = [n for n in NODES if n != victim]

    at_fault = await _mid_cascade(partitioned, fault_smtp, lambda p: p.warned >= QUARTER)
    began = time.monotonic()
    world.network.isolate(victim, others)
    # Asked a few seconds before the end (rabbitmqctl takes a moment), not to lengthen it.
    await asyncio.sleep(PARTITION_SECONDS - 5)
    view = asyncio.ensure_future(asyncio.to_thread(_view_of, world.node(victim)))
    await asyncio.sleep(5)
    world.network.heal_all()
    fault_seconds = time.monotonic() - began
    seen = await view

    await _settle(
        partitioned,
        world,
        report,
        f"{victim} (leading {led.get(world.node(victim).node, 0)} of"
        f" {sum(led.values())} quorum queues; {_connected_to(victim)} connected to it)"
        f" cut off from {' and '.join(others)} for {PARTITION_SECONDS:.0f}s;"
        f" at the end of the cut it saw {seen}",
        at_fault=at_fault,
        fault_seconds=fault_seconds,
    )


@pytest.mark.slow
@pytest.mark.timeout(480)
async def test_a_services_link_to_its_node_cut_mid_cascade(
    partitioned: Cascade, world: World, fault_smtp: FaultySMTPServer, report: list[Figures]
) -> None:
    # attendance decides the warnings and reprobations: cut as its work arrives.
    node = BROKER_OF["attendance"]
    at_fault = await _mid_cascade(partitioned, fault_smtp, lambda p: p.unattended > 0)
    began = time.monotonic()
    world.network.cut("ctl", node)
    await asyncio.sleep(PARTITION_SECONDS)
    world.network.heal("ctl", node)
    fault_seconds = time.monotonic() - began

    await _settle(
        partitioned,
        world,
        report,
        f"attendance's link to {node} cut for {PARTITION_SECONDS:.0f}s"
        f" (heartbeat {HEARTBEAT_SECONDS}s)",
        at_fault=at_fault,
        fault_seconds=fault_seconds,
    )


@pytest.mark.slow
@pytest.mark.timeout(480)
async def test_a_flapping_link_between_nodes_mid_cascade(
    partitioned: Cascade, world: World, fault_smtp: FaultySMTPServer, report: list[Figures]
) -> None:
    # attendance's node, cut from the other two and healed, again and again: its
    # queues' leaders elected elsewhere, then its members catching up, in turn.
    node = BROKER_OF["attendance"]
    others = [n for n in NODES if n != node]
    at_fault = await _mid_cascade(partitioned, fault_smtp, lambda p: p.warned >= QUARTER)
    began = time.monotonic()
    cuts = 0
    while time.monotonic() - began < FLAP_SECONDS:
        world.network.isolate(node, others)
        cuts += 1
        await asyncio.sleep(FLAP_EVERY)
        world.network.heal_all()
        await asyncio.sleep(FLAP_EVERY)
    fault_seconds = time.monotonic() - began

    await _settle(
        partitioned,
        world,
        report,
        f"{node} ({_connected_to(node)} connected to it) cut from"
        f" {' and '.join(others)} and healed every {FLAP_EVERY:.0f}s,"
        f" {cuts} times in {fault_seconds:.0f}s",
        at_fault=at_fault,
        fault_seconds=fault_seconds,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_a_node_cut_off_longer_than_net_ticktime_pauses_and_comes_back(
    partitioned: Cascade, world: World, report: list[Figures], fault_smtp: FaultySMTPServer
) -> None:
    """Past `net_ticktime` the nodes declare each other down, and `pause_minority`
    stops the broker of the node left alone: booking and the gateway on it lose their
    connections and are refused until it sees the majority again. Opt-in (`make
    faults-slow`): the cut alone takes LONG_PARTITION_SECONDS."""
    victim = BROKER_OF["booking"]
    others = [n for n in NODES if n != victim]
    at_fault = await _mid_cascade(partitioned, fault_smtp, lambda p: p.warned >= QUARTER)
    began = time.monotonic()
    world.network.isolate(victim, others)
    paused_after = None
    while (elapsed := time.monotonic() - began) < LONG_PARTITION_SECONDS:
        if paused_after is None and "paused" in await asyncio.to_thread(
            _view_of, world.node(victim)
        ):
            paused_after = elapsed
        await asyncio.sleep(2.0)
    world.network.heal_all()
    fault_seconds = time.monotonic() - began
    assert paused_after is not None, f"{victim} never paused in {fault_seconds:.0f}s"

    await _settle(
        partitioned,
        world,
        report,
        f"{victim} ({_connected_to(victim)} connected to it) cut off from"
        f" {' and '.join(others)} for {LONG_PARTITION_SECONDS:.0f}s, paused itself"
        f" {paused_after:.0f}s into the cut",
        at_fault=at_fault,
        fault_seconds=fault_seconds,
    )

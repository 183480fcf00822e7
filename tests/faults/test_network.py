"""The partition scenarios' network does what they rely on: a cut drops packets between
two hosts silently (a connection attempt times out, it is not refused), leaves every
other pair alone, and healing restores it; nothing of it outlives `destroy()`."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.network import Network, network_available

pytestmark = [pytest.mark.faults]

PORT = 7000


@pytest.fixture
def network() -> Iterator[Network]:
    why_not = network_available()
    if why_not:
        pytest.skip(why_not)
    network = Network(("a", "b", "c"))
    network.create()
    try:
        yield network
    finally:
        network.destroy()


def _listen(network: Network, host: str) -> socket.socket:
    with network.entered(host):
        server = socket.create_server((network.addresses[host], PORT))
    return server


def _connect(network: Network, source: str, target: str) -> str:
    with network.entered(source), socket.socket() as client:
        client.settimeout(1.5)
        try:
            client.connect((network.addresses[target], PORT))
        except TimeoutError:
            return "timed out"
        except OSError as error:
            return f"error {error.errno}"
        return "connected"


def test_a_cut_drops_one_pair_silently_and_healing_restores_it(network: Network) -> None:
    servers = [_listen(network, host) for host in ("b", "c")]
    try:
        assert _connect(network, "a", "b") == "connected"
        network.cut("a", "b")
        assert _connect(network, "a", "b") == "timed out"
        assert _connect(network, "b", "a") == "timed out"  # not refused: silent
        assert _connect(network, "a", "c") == "connected"
        assert _connect(network, "c", "b") == "connected"
        network.heal("a", "b")
        assert _connect(network, "a", "b") == "connected"
    finally:
        for server in servers:
            server.close()


def test_the_namespaces_are_gone_after_destroy() -> None:
    why_not = network_available()
    if why_not:
        pytest.skip(why_not)
    network = Network(("a",))
    network.create()
    # A process left running in a host (as epmd is) does not keep it alive.
    left = subprocess.Popen([*network.prefix("a"), "sleep", "600"], start_new_session=True)
    network.destroy()
    assert left.wait(timeout=5) != 0
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert network.tag not in listed

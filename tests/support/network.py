"""A network of the test's own: hosts in network namespaces on one bridge, and cuts.

Each host is a namespace (`ip netns add`) with a veth pair whose other end is a port
of a bridge in a hub namespace; the hosts' addresses (10.77.0.0/24) exist only inside
those namespaces, so nothing here touches the machine's own interfaces, addresses or
loopback. Processes join a host with `ip netns exec` (`prefix(host)`), and the
calling thread with `entered(host)`.

A cut drops every packet between two hosts, silently, as a failed switch or firewall
does: neither side gets an error, connections stall until their own timeouts. This
kernel has neither netfilter nor tc actions, so the cut is made in the neighbour
tables: each side's entry for the other is replaced by a permanent one pointing at a
MAC address nobody has, so frames leave, the bridge floods them, and no host takes
them. Healing deletes those entries; ARP finds the real ones again. Other pairs are
not affected, so a host can be cut from some peers and still reach the rest.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence

SUBNET = "10.77.0"
# Locally administered, unicast, and on no interface of this network.
NOWHERE = "02:00:00:00:00:01"
CLONE_NEWNET = 0x40000000  # <sched.h>; os.setns arrives with Python 3.12


def network_available() -> str | None:
    """Why this machine cannot build such a network, or None when it can."""
    if os.getuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no `ip` (iproute2)"
    probe = f"mpt-probe-{secrets.token_hex(3)}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"`ip netns add` failed: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Network:
    def __init__(self, hosts: Sequence[str]) -> None:
        self.tag = f"mpt{secrets.token_hex(3)}"
        self.hub = f"{self.tag}-hub"
        self.hosts = list(hosts)
        self.addresses = {host: f"{SUBNET}.{10 + i}" for i, host in enumerate(self.hosts)}
        self.cut_pairs: set[frozenset[str]] = set()

    def namespace(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def prefix(self, host: str) -> list[str]:
        """The command prefix that runs a program on `host`."""
        return ["ip", "netns", "exec", self.namespace(host)]

    def create(self) -> None:
        _ip("netns", "add", self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        for host in self.hosts:
            ns = self.namespace(host)
            _ip("netns", "add", ns)
            port = f"v-{host}"[:15]
            _ip(
                "-n",
                self.hub,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            _ip("-n", self.hub, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{self.addresses[host]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def cut(self, a: str, b: str) -> None:
        """Drop every packet between hosts `a` and `b`, both ways, from now on."""
        for here, there in ((a, b), (b, a)):
            _ip(
                "-n", self.namespace(here), "neigh", "replace", self.addresses[there],
                "lladdr", NOWHERE, "dev", "eth0", "nud", "permanent",
            )  # fmt: skip
        self.cut_pairs.add(frozenset((a, b)))

    def heal(self, a: str, b: str) -> None:
        for here, there in ((a, b), (b, a)):
            with contextlib.suppress(RuntimeError):  # no entry: nothing to heal
                _ip(
                    "-n", self.namespace(here), "neigh", "del", self.addresses[there], "dev", "eth0"
                )
        self.cut_pairs.discard(frozenset((a, b)))

    def isolate(self, host: str, from_hosts: Sequence[str]) -> None:
        for other in from_hosts:
            self.cut(host, other)

    def heal_all(self) -> None:
        for pair in list(self.cut_pairs):
            self.heal(*sorted(pair))

    @contextlib.contextmanager
    def entered(self, host: str) -> Iterator[None]:
        """The calling thread on `host`: the sockets it opens and the processes it starts
        from now on belong to that namespace (a thread's network namespace is its own;
        threads it starts inherit it). Back to where it was at the end."""
        libc = ctypes.CDLL(None, use_errno=True)
        with (
            open("/proc/thread-self/ns/net") as home,
            open(f"/run/netns/{self.namespace(host)}") as there,
        ):
            if libc.setns(there.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {self.namespace(host)}")
            try:
                yield
            finally:
                if libc.setns(home.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back home")

    def pids(self) -> list[int]:
        """Every process in the network's namespaces (all of them started by the test)."""
        found: list[int] = []
        for ns in (self.hub, *map(self.namespace, self.hosts)):
            done = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            found += [int(pid) for pid in done.stdout.split()]
        return found

    def destroy(self) -> None:
        """Kill what still runs in the namespaces (epmd daemons, a node left behind),
        then delete them."""
        deadline = time.monotonic() + 30
        while pids := [p for p in self.pids() if p != os.getpid()]:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise TimeoutError(f"processes left in {self.tag}: {pids}")
            time.sleep(0.1)
        for ns in (*map(self.namespace, self.hosts), self.hub):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

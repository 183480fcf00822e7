"""A local SMTP sink for the benchmarks: counts the emails it receives and keeps, per
subscription, how many reached it and when the last one did. Nothing else is kept,
so 100,000 subscriptions cost a few megabytes.

It runs in processes of its own, as a real mail server would: in the benchmark's
process it competed with the benchmark's own polling for one interpreter. With
`processes` above one, each listens on the same port (SO_REUSEPORT) and the kernel
spreads the senders' connections among them, as a relay spreads its clients over
its workers: one aiosmtpd process (one event loop, one core at most) was busy
three quarters of the time while the sweep's last emails went out, with a fifth
of the machine idle, so one process might have been what held them. (It was not
at 100,000: with two, the tail still left the machine a fifth idle.) The counts
live in shared memory, written by the sink processes only, under one lock.

Recipients are `mentee<i>@…` or `mentor<i>@…`, `i` being the subscription's index
in the run (as `bench/sweep.py` names them).
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.smtp import OffersPipelining

_CONTEXT = multiprocessing.get_context("spawn")


class _Shared:
    """What the sink writes and the benchmark reads."""

    def __init__(self, subscriptions: int) -> None:
        self.count: Synchronized[int] = _CONTEXT.Value("q", 0)
        self.unknown: Synchronized[int] = _CONTEXT.Value("q", 0)
        self.first: Synchronized[float] = _CONTEXT.Value("d", 0.0)
        self.last: Synchronized[float] = _CONTEXT.Value("d", 0.0)
        self.per_subscription: SynchronizedArray[int] = _CONTEXT.Array("H", subscriptions)
        self.last_of: SynchronizedArray[float] = _CONTEXT.Array("d", subscriptions)


class _Counting(OffersPipelining):  # as production relays do
    def __init__(self, shared: _Shared) -> None:
        self.shared = shared

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.time()
        s = self.shared
        index = _index(envelope.rcpt_tos[0]) if envelope.rcpt_tos else None
        with s.count.get_lock():  # the other sink processes write them too
            if index is None or index >= len(s.last_of):
                s.unknown.value += 1
            else:
                s.per_subscription[index] = min(s.per_subscription[index] + 1, 65535)
                s.last_of[index] = max(s.last_of[index], at)
            if s.first.value == 0.0 or at < s.first.value:
                s.first.value = at
            s.last.value = max(s.last.value, at)
            s.count.value += 1  # last: a reader that sees the count sees the rest
        return "250 OK"


def _serve(shared: _Shared, port: int, ready: Any, stop: Any) -> None:
    serve(_Counting(shared), port, ready, stop, shared_port=True)


class _SharingPort(Controller):
    """A controller whose listening socket shares its port with the other processes'
    (SO_REUSEPORT), through aiosmtpd's documented hook for binding."""

    def _create_server(self) -> Any:
        return self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, reuse_port=True
        )

    def _trigger_server(self) -> None:
        # `start` connects once to see this server answer, but the kernel hands each
        # connection to one of the port's listeners: knock until one reaches this one.
        for _ in range(200):
            super()._trigger_server()
            if self._factory_invoked.wait(0.05):
                return


def serve(handler: object, port: int, ready: Any, stop: Any, *, shared_port: bool = False) -> None:
    """Run an aiosmtpd server with `handler` on `port` until `stop` is set (in a process
    of its own: the benchmarks start it with multiprocessing's spawn)."""
    kind = _SharingPort if shared_port else Controller
    controller = kind(handler, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class CountingSink:
    def __init__(self, subscriptions: int, port: int, *, processes: int = 1) -> None:
        self.port = port
        self.processes = max(1, processes)
        self._shared = _Shared(subscriptions)
        self._stop = _CONTEXT.Event()
        self._processes: list[Any] = []

    @property
    def count(self) -> int:
        return int(self._shared.count.value)

    @property
    def unknown(self) -> int:
        return int(self._shared.unknown.value)

    @property
    def first(self) -> float:
        return float(self._shared.first.value)

    @property
    def last(self) -> float:
        return float(self._shared.last.value)

    @property
    def per_subscription(self) -> list[int]:
        return list(self._shared.per_subscription)

    @property
    def last_of(self) -> list[float]:
        return list(self._shared.last_of)

    def start(self) -> None:
        for _ in range(self.processes):
            ready = _CONTEXT.Event()
            process = _CONTEXT.Process(
                target=_serve, args=(self._shared, self.port, ready, self._stop), daemon=True
            )
            process.start()
            self._processes.append(process)
            if not ready.wait(timeout=30):
                raise RuntimeError("the SMTP sink did not start within 30 s")

    @property
    def pids(self) -> list[int]:
        return [int(p.pid) for p in self._processes]

    def stop(self) -> None:
        self._stop.set()
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        self._processes = []


def _index(address: str) -> int | None:
    local = address.split("@", 1)[0].lower()
    for prefix in ("mentee", "mentor"):
        if local.startswith(prefix) and local[len(prefix) :].isdigit():
            return int(local[len(prefix) :])
    return None

"""A local SMTP sink for the benchmarks: counts the emails it receives and keeps, per
subscription, how many reached it and when the last one did. Nothing else is kept,
so 100,000 subscriptions cost a few megabytes.

Recipients are `mentee<i>@…` or `mentor<i>@…`, `i` being the subscription's index
in the run (as `bench/sweep.py` names them).
"""

from __future__ import annotations

import threading
import time
from array import array
from typing import Any

from aiosmtpd.controller import Controller


class _Counting:
    def __init__(self, sink: CountingSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sink.received(time.time(), envelope.rcpt_tos)
        return "250 OK"


class CountingSink:
    def __init__(self, subscriptions: int, port: int) -> None:
        self.port = port
        self.count = 0
        self.unknown = 0  # emails to an address that is not one of the run's
        self.first = 0.0
        self.last = 0.0
        self.per_subscription = array("H", bytes(2 * subscriptions))
        self.last_of = array("d", bytes(8 * subscriptions))
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def received(self, at: float, recipients: list[str]) -> None:
        with self._lock:
            self.count += 1
            if self.first == 0.0:
                self.first = at
            self.last = at
            index = _index(recipients[0]) if recipients else None
            if index is None or index >= len(self.last_of):
                self.unknown += 1
                return
            self.per_subscription[index] = min(self.per_subscription[index] + 1, 65535)
            self.last_of[index] = at

    def start(self) -> None:
        self._controller = Controller(_Counting(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def _index(address: str) -> int | None:
    local = address.split("@", 1)[0].lower()
    for prefix in ("mentee", "mentor"):
        if local.startswith(prefix) and local[len(prefix) :].isdigit():
            return int(local[len(prefix) :])
    return None

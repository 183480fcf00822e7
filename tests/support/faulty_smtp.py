"""The recording SMTP server (tests/support/smtp.py), with faults to switch on:

- `fail_with = "451 ..."` (inherited): every DATA is answered with that reply;
- `refuse = {address: "550 ..."}`: DATA for an envelope with that recipient is
  refused with that reply, every other email is accepted;
- `delay`: seconds each accepted DATA takes, to stretch a cascade so that a fault
  lands in its middle.

Every accepted email is recorded with its Message-ID, so that a test can count
the copies of each.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.smtp import RecordingSMTPServer, _Recorder


class _FaultyRecorder(_Recorder):
    server: FaultySMTPServer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.attempts += 1
        for recipient in envelope.rcpt_tos:
            if recipient in self.server.refuse:
                self.server.refused.append(recipient)
                return self.server.refuse[recipient]
        if self.server.delay and not self.server.fail_with:
            await asyncio.sleep(self.server.delay)
        return await super().handle_DATA(server, session, envelope)


class FaultySMTPServer(RecordingSMTPServer):
    def __init__(self, port: int | None = None, *, pipelining: bool = True) -> None:
        super().__init__(port, pipelining=pipelining)
        self.refuse: dict[str, str] = {}
        self.refused: list[str] = []
        self.delay = 0.0
        self.attempts = 0

    def start(self) -> None:
        self._controller = Controller(_FaultyRecorder(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def copies(self, addresses: Iterable[str]) -> Counter[str]:
        """Message-ID → how many times it was accepted, among emails to `addresses`."""
        wanted = set(addresses)
        # The server's thread appends the message, then its envelope: read both up to
        # the shorter list, never a message without its envelope.
        count = min(len(self.messages), len(self.envelopes))
        return Counter(
            str(m["Message-ID"])
            for m, rcpts in zip(self.messages[:count], self.envelopes[:count], strict=True)
            if wanted.intersection(rcpts)
        )

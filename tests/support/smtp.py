"""A real SMTP server for tests (aiosmtpd) that keeps every message it receives.

It can be told to answer with an error (`fail_with = "550 ..."`), or stopped
and started again on the same port to play a server that was down. It offers
PIPELINING, as production relays do (aiosmtpd reads one command at a time from
its buffer, so it serves pipelined commands in order); `pipelining=False` plays a
server that does not, which the sender talks to through aiosmtplib.
"""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.system import free_port
from tests.support.waiting import eventually

# The subject of the schedule a new subscription's mentee is sent (scheduled.subject.txt).
SCHEDULE = "Your mentorship sessions with "


class OffersPipelining:
    """An aiosmtpd handler whose EHLO answer adds PIPELINING while `pipelining` is true."""

    pipelining = True

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does when no hook answers
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


class _Recorder(OffersPipelining):
    def __init__(self, server: RecordingSMTPServer) -> None:
        self.server = server

    @property
    def pipelining(self) -> bool:  # type: ignore[override]
        return self.server.pipelining

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.fail_with:
            return self.server.fail_with
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.server.messages.append(message)
        self.server.envelopes.append(list(envelope.rcpt_tos))
        return "250 OK"


class RecordingSMTPServer:
    def __init__(self, port: int | None = None, *, pipelining: bool = True) -> None:
        self.port = port or free_port()
        self.pipelining = pipelining
        self.messages: list[EmailMessage] = []
        self.envelopes: list[list[str]] = []
        self.fail_with: str | None = None
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_Recorder(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str, *, schedules: bool = True) -> list[EmailMessage]:
        """Messages that reached `address`, as To or Cc (without `schedules`, leaving out
        the schedule a mentee is sent when their subscription starts)."""
        return [
            m
            for m, rcpts in zip(self.messages, self.envelopes, strict=True)
            if address in rcpts and (schedules or not str(m["Subject"]).startswith(SCHEDULE))
        ]

    async def wait_for(
        self, address: str, count: int = 1, within: float = 15.0, *, schedules: bool = True
    ) -> list[EmailMessage]:
        """Wait until at least `count` messages reached `address`; return them all."""

        async def received() -> list[EmailMessage]:
            return self.to(address, schedules=schedules)

        return await eventually(received, lambda got: len(got) >= count, within=within)


def plain_text(message: EmailMessage) -> str:
    """The text part of `message`, its whitespace folded: what a reader sees."""
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    return " ".join(body.get_content().split())

"""The sender's SMTP connection against a real server (aiosmtpd): pipelined where the
server offers PIPELINING, through aiosmtplib where it does not, and every refusal
reported as aiosmtplib reports it, leaving the connection usable for the next email."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller

from services.kit.settings import Settings
from services.notifications.smtp import SmtpConnection
from tests.support.smtp import OffersPipelining
from tests.support.system import free_port

SENDER = "mentorship@localhost"


class Server(OffersPipelining):
    """Keeps each email's envelope and content; refuses what it is told to."""

    def __init__(self, pipelining: bool) -> None:
        self.pipelining = pipelining
        self.port = free_port()
        self.received: list[tuple[list[str], bytes]] = []
        self.refuse_mail: str | None = None
        self.refuse_rcpt: dict[str, str] = {}
        self.refuse_data: str | None = None
        self.connections = 0
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        return await super().handle_EHLO(server, session, envelope, hostname, responses)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.refuse_mail:
            return self.refuse_mail
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data:
            return self.refuse_data
        self.received.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture(params=[True, False], ids=["pipelined", "aiosmtplib"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    smtp = Server(pipelining=request.param)
    smtp._controller.start()
    try:
        yield smtp
    finally:
        smtp._controller.stop()


def connection_to(server: Server) -> SmtpConnection:
    return SmtpConnection(Settings(smtp_port=server.port))


MESSAGE = (
    b"From: mentorship@localhost\r\nTo: mentee@example.com\r\nSubject: hi\r\n\r\n"
    b"Hello,\r\n.a line that starts with a dot\r\n.\r\nand a lone dot above\r\n"
)


async def test_emails_arrive_whole_pipelined_where_offered_else_through_aiosmtplib(
    server: Server,
) -> None:
    smtp = connection_to(server)
    for n in range(3):
        await smtp.send(SENDER, [f"mentee{n}@example.com", "mentor@example.com"], MESSAGE)
    await smtp.hang_up()
    assert smtp.pipelining is server.pipelining
    assert [r for r, _ in server.received] == [
        [f"mentee{n}@example.com", "mentor@example.com"] for n in range(3)
    ]
    # Dots and line ends as written: the server undid the dot-stuffing.
    assert all(content == MESSAGE for _, content in server.received)
    assert server.connections == (1 if server.pipelining else 2)  # 2: asked, then aiosmtplib


async def test_a_refused_recipient_fails_that_email_alone(server: Server) -> None:
    server.refuse_rcpt = {"gone@example.com": "550 no such user"}
    smtp = connection_to(server)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await smtp.send(SENDER, ["gone@example.com"], MESSAGE)
    assert [(r.code, r.recipient) for r in refused.value.recipients] == [(550, "gone@example.com")]
    # One recipient of two refused: the other still gets it, as with aiosmtplib.
    await smtp.send(SENDER, ["gone@example.com", "mentor@example.com"], MESSAGE)
    await smtp.send(SENDER, ["mentee@example.com"], MESSAGE)
    await smtp.hang_up()
    assert [r for r, _ in server.received] == [["mentor@example.com"], ["mentee@example.com"]]


async def test_a_refused_sender_or_data_is_a_reply_with_its_code(server: Server) -> None:
    smtp = connection_to(server)
    server.refuse_mail = "553 sender not allowed"
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as sender_refused:
        await smtp.send(SENDER, ["mentee@example.com"], MESSAGE)
    assert sender_refused.value.code == 553
    server.refuse_mail = None
    server.refuse_data = "451 try again later"
    with pytest.raises(aiosmtplib.SMTPDataError) as data_refused:
        await smtp.send(SENDER, ["mentee@example.com"], MESSAGE)
    assert data_refused.value.code == 451
    server.refuse_data = None
    await smtp.send(SENDER, ["mentee@example.com"], MESSAGE)  # the same connection, clean
    await smtp.hang_up()
    assert len(server.received) == 1
    assert server.connections == (1 if server.pipelining else 2)


async def test_a_server_gone_is_a_disconnection_and_the_next_email_reconnects() -> None:
    server = Server(pipelining=True)
    server._controller.start()
    smtp = connection_to(server)
    await smtp.send(SENDER, ["mentee@example.com"], MESSAGE)
    server._controller.stop()
    await asyncio.sleep(0.1)
    with pytest.raises((aiosmtplib.SMTPServerDisconnected, ConnectionError)):
        await smtp.send(SENDER, ["mentee@example.com"], MESSAGE)
    with pytest.raises(aiosmtplib.SMTPConnectError):  # nobody listening
        await smtp.send(SENDER, ["mentee@example.com"], MESSAGE)
    restarted = Server(pipelining=True)
    restarted.port = server.port
    restarted._controller = Controller(restarted, hostname="127.0.0.1", port=server.port)
    restarted._controller.start()
    try:
        await smtp.send(SENDER, ["mentee@example.com"], MESSAGE)
        await smtp.hang_up()
    finally:
        restarted._controller.stop()
    assert len(restarted.received) == 1


async def test_an_address_that_could_inject_a_command_is_refused_before_sending() -> None:
    server = Server(pipelining=True)
    server._controller.start()
    try:
        smtp = connection_to(server)
        with pytest.raises(ValueError):
            await smtp.send(SENDER, ["a@example.com>\r\nRCPT TO:<b@example.com"], MESSAGE)
        await smtp.hang_up()
    finally:
        server._controller.stop()
    assert server.received == []

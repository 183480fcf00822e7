"""What one email costs on the wire: the sender's SMTP connection (`services/notifications/
smtp.py`) sending the same rendered emails to the same aiosmtpd server, once pipelined
(the server offers PIPELINING) and once through aiosmtplib (it does not).

The server runs in a process of its own and accepts every email without looking at it,
so both runs pay the same on its side. Prints, per run, the sender's CPU per email, the
server's, and the wall time per email, one connection, one email after another as a
sending worker does; last line `pipelined_cpu_ms=<value> aiosmtplib_cpu_ms=<value>`.

    python bench/smtp.py [--emails 4000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import processes
from bench.sink import serve
from services.kit.settings import Settings
from services.notifications.domain import Email
from services.notifications.sender import render_message
from services.notifications.smtp import SmtpConnection
from tests.support.smtp import OffersPipelining
from tests.support.system import free_port

_CONTEXT = multiprocessing.get_context("spawn")
SENDER = "mentorship@localhost"


class _Accepting(OffersPipelining):
    def __init__(self, pipelining: bool) -> None:
        self.pipelining = pipelining

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def _serve(port: int, pipelining: bool, ready: Any, stop: Any) -> None:
    serve(_Accepting(pipelining), port, ready, stop)


def _emails(count: int) -> list[Email]:
    """Emails of the size the cascade sends: a text and an HTML part."""
    text = "Hello Ada,\n\nYou missed your mentorship session on Monday 7 December at 18:00.\n" * 6
    html = "<p>Hello Ada,</p><p>You missed your mentorship session on Monday.</p>" * 6
    return [
        Email(
            message_id=f"<{uuid.uuid4()}@bench>",
            event_id=uuid.uuid4(),
            routing_key="mentee.warned",
            event_body={},
            recipient=f"mentee{n}@example.com",
            cc=f"mentor{n}@example.com",
            subject="You missed your mentorship session",
            text_body=text,
            html_body=html,
        )
        for n in range(count)
    ]


async def run(pipelining: bool, messages: list[tuple[Email, bytes]]) -> tuple[float, float, float]:
    """(sender CPU ms, server CPU ms, wall ms) per email."""
    port = free_port()
    ready, stop = _CONTEXT.Event(), _CONTEXT.Event()
    server = _CONTEXT.Process(target=_serve, args=(port, pipelining, ready, stop), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the SMTP server did not start")
        smtp = SmtpConnection(Settings(smtp_port=port))
        first, rest = messages[0], messages[1:]
        await smtp.send(SENDER, [first[0].recipient], first[1])  # connected, not counted
        assert smtp.pipelining is pipelining, "the server did not say what it was told to"
        before = processes.cpu_seconds({"server": [server.pid or 0]})
        cpu, wall = time.process_time(), time.perf_counter()
        for email, message in rest:
            await smtp.send(SENDER, [email.recipient, email.cc or ""], message)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        used = processes.cpu_used(before, processes.cpu_seconds({"server": [server.pid or 0]}))
        await smtp.hang_up()
    finally:
        stop.set()
        server.join(10)
    n = len(rest)
    return cpu / n * 1000, used["server"] / n * 1000, wall / n * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=4000)
    args = parser.parse_args()
    messages = [(e, render_message(e, SENDER)) for e in _emails(args.emails + 1)]
    print(f"{args.emails} emails of {len(messages[0][1])} bytes, one connection to aiosmtpd")
    figures = {}
    for label, pipelining in (("pipelined", True), ("aiosmtplib", False)):
        ours, server, wall = await run(pipelining, messages)
        figures[label] = ours
        print(
            f"  {label:<10} sender {ours:.3f} ms CPU/email, server {server:.3f} ms CPU/email, "
            f"{wall:.3f} ms/email ({1000 / wall:.0f} emails/s)"
        )
    print(
        f"pipelined_cpu_ms={figures['pipelined']:.3f} aiosmtplib_cpu_ms={figures['aiosmtplib']:.3f}"
    )


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())

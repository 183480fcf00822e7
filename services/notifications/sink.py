"""`python -m services.notifications.sink`: a local SMTP server that prints every email.

For `make run`: the system's emails show up in the terminal instead of
leaving the machine. Listens on SMTP_HOST:SMTP_PORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from services.kit.settings import Settings


class PrintingHandler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        lines = [
            "─" * 72,
            f"From:    {message['From']}",
            f"To:      {message['To']}",
            *([f"Cc:      {message['Cc']}"] if message["Cc"] else []),
            f"Subject: {message['Subject']}",
            "",
            text.rstrip(),
        ]
        print("\n".join(lines), flush=True)
        return "250 OK"


async def serve(settings: Settings) -> None:
    controller = Controller(PrintingHandler(), hostname=settings.smtp_host, port=settings.smtp_port)
    controller.start()
    print(f"SMTP sink listening on {settings.smtp_host}:{settings.smtp_port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(Settings()))

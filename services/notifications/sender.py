"""Sending queued emails over SMTP, with retries, and dead-lettering permanent failures.

Emails are sent outside the consuming transaction, by this loop, so a slow or
failing SMTP server never holds up the queue or the other emails: each email
is retried on its own schedule.
"""

from __future__ import annotations

import asyncio
import json
import random
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from services.kit import metrics
from services.kit.database import Database, Tx
from services.kit.logs import get_logger
from services.kit.messaging import Messaging
from services.kit.settings import Settings
from services.kit.wakeup import Wakeup
from services.notifications import domain, store
from services.notifications.domain import Email

log = get_logger(__name__)

BATCH = 20


def build_message(row: Email, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    if row.cc:
        message["Cc"] = row.cc
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = formatdate(localtime=False)
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    return message


class EmailSender:
    def __init__(self, settings: Settings, db: Database, messaging: Messaging) -> None:
        self.settings = settings
        self.db = db
        self.messaging = messaging
        self._wakeup = Wakeup()

    async def run(self) -> None:
        url = f"{self.settings.server_url()}/{self.db.name}"
        async with self._wakeup.listening(url, "emails") as wakeup:
            while True:
                wakeup.clear()
                sent = await self.send_due()
                if sent < BATCH:
                    await wakeup.wait(1.0)

    async def send_due(self) -> int:
        async with self.db.transaction() as tx:
            rows = await store.due_emails(tx, BATCH)
            results = await asyncio.gather(*(self._send(r) for r in rows), return_exceptions=True)
            for row, result in zip(rows, results, strict=True):
                await self._record(tx, row, result)
        return len(rows)

    async def _send(self, row: Email) -> None:
        s = self.settings
        await aiosmtplib.send(
            build_message(row, s.smtp_from),
            hostname=s.smtp_host,
            port=s.smtp_port,
            start_tls=s.smtp_starttls,
            username=s.smtp_username,
            password=s.smtp_password,
            timeout=30,
        )

    async def _record(self, tx: Tx, row: Email, result: BaseException | None) -> None:
        if result is None:
            await store.mark_sent(tx, row.message_id)
            metrics.EMAILS.labels("sent").inc()
            log.info(
                "email sent",
                kind=row.routing_key,
                event_id=str(row.event_id),
                attempt=row.attempts + 1,
            )
            return
        code = getattr(result, "code", None)
        error = f"{type(result).__name__}: {result}"
        attempts = row.attempts + 1
        if domain.is_permanent(code) or attempts >= domain.MAX_ATTEMPTS:
            await store.mark_failed(tx, row.message_id, error)
            metrics.EMAILS.labels("failed").inc()
            await self.messaging.dead_letter_body(
                "notifications",
                row.routing_key,
                json.dumps(row.event_body).encode(),
                f"email to a recipient failed permanently: {error}",
                message_id=str(row.event_id),
            )
            log.error("email failed", kind=row.routing_key, event_id=str(row.event_id), error=error)
            return
        # A timeout after DATA is ambiguous (the mail may have gone): retrying is
        # still right, and the deterministic Message-ID lets the receiver drop a copy.
        delay = domain.retry_delay_seconds(attempts, random.random())
        await store.mark_retry(tx, row.message_id, error, delay)
        metrics.EMAILS.labels("retried").inc()
        log.warning(
            "email will be retried",
            kind=row.routing_key,
            event_id=str(row.event_id),
            attempt=attempts,
            retry_in_seconds=round(delay, 1),
            error=error,
        )

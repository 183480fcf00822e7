"""Sending queued emails over SMTP, with retries, and dead-lettering permanent failures.

Emails are sent outside the consuming transaction, by this loop, so a slow or
failing SMTP server never holds up the queue or the other emails: each email
is retried on its own schedule.
"""

from __future__ import annotations

import contextlib
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


class UnsendableEmail(Exception):
    """An email that can never be built (no retry can fix it): dead-lettered at once."""


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
        """Send the due emails of one batch; returns how many were taken."""
        async with self.db.engine.connect() as holder:
            taken = await store.claim_due_emails(holder, BATCH)
            try:
                await self._deliver(taken)
            finally:
                await store.release_claims(holder)
        return len(taken)

    async def _deliver(self, taken: list[Email]) -> None:
        """One after another over one SMTP connection, each recorded as soon as the
        server answers: a crash re-sends at most the email in flight."""
        smtp: aiosmtplib.SMTP | None = None
        try:
            for email in taken:
                result: BaseException | None = None
                try:
                    message = build_message(email, self.settings.smtp_from)
                except ValueError as error:  # e.g. a header that can never be written
                    result = UnsendableEmail(str(error))
                else:
                    try:
                        smtp = smtp if smtp is not None and smtp.is_connected else None
                        smtp = smtp or await self._connect()
                        await smtp.send_message(message)
                    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
                        result = error
                        if not isinstance(error, aiosmtplib.SMTPResponseException):
                            smtp = None  # the connection is in doubt: open a new one
                async with self.db.transaction() as tx:
                    await self._record(tx, email, result)
        except BaseException:
            if smtp is not None:
                smtp.close()  # no goodbye: the sender is stopping, or the batch failed
            raise
        if smtp is not None and smtp.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, start_tls=s.smtp_starttls, timeout=30
        )
        await smtp.connect()
        if s.smtp_username and s.smtp_password:
            await smtp.login(s.smtp_username, s.smtp_password)
        return smtp

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
        code = _smtp_code(result)
        error = f"{type(result).__name__}: {result}"
        attempts = row.attempts + 1
        unsendable = isinstance(result, UnsendableEmail)
        if unsendable or domain.is_permanent(code) or attempts >= domain.MAX_ATTEMPTS:
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


def _smtp_code(error: BaseException) -> int | None:
    """The SMTP reply code of a failure; for a refused recipient, the refusal's."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        return error.recipients[0].code
    code = getattr(error, "code", None)
    return code if isinstance(code, int) else None

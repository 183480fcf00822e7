"""Sending queued emails over SMTP, with retries, and dead-lettering permanent failures.

Emails are sent outside the consuming transaction, by this loop, so a slow or
failing SMTP server never holds up the queue or the other emails: each email
is retried on its own schedule.

`EMAIL_SENDERS` workers send at once, each over its own SMTP connection (kept
open while there is work, pipelined where the server allows: `smtp.py`). One
task claims for them all, with one listener and one connection holding the
process's claims (`claims.py`), so that more workers cost no more database
connections, and a commit that queues emails costs one claim, not one per
worker. Each worker takes a claimed email, sends it, waits until it is
recorded, then takes the next; the emails the workers had accepted meanwhile
are recorded together, in one statement (group commit). So a crash re-sends at
most the emails in flight: one per worker. While the database is away, an
accepted email is recorded once it is back rather than sent again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from email import quoprimime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import formatdate

import aiosmtplib

from services.kit import metrics
from services.kit.backoff import backoff
from services.kit.batching import Batcher
from services.kit.database import Database, OwnConnection, Tx
from services.kit.logs import debug_enabled, get_logger
from services.kit.messaging import Messaging
from services.kit.settings import Settings
from services.kit.wakeup import Wakeup
from services.notifications import calendar, domain, store
from services.notifications.claims import Claims
from services.notifications.domain import Email
from services.notifications.smtp import SmtpConnection

log = get_logger(__name__)

BATCH = 50  # emails claimed at once, for the workers to take one by one
POLL_SECONDS = 1.0  # the longest a due email waits when a notification is missed
IDLE_SECONDS = 1.0  # a worker's SMTP connection is closed after this long without work
INVITATION_FILE = "invite.ics"


def build_message(row: Email, sender: str) -> EmailMessage:
    message = EmailMessage()
    for name, value in _headers(row, sender, formatdate(localtime=False)):
        message[name] = value
    message.set_content(row.text_body, cte=_transfer_encoding(row.text_body))
    message.add_alternative(row.html_body, subtype="html", cte=_transfer_encoding(row.html_body))
    if row.calendar is not None:
        # iMIP (RFC 6047): a text/calendar part naming its method; mail clients offer
        # to add (or remove) the event, and calendars match it by UID.
        message.add_attachment(
            row.calendar,
            subtype="calendar",
            filename=INVITATION_FILE,
            params={"method": calendar.method_of(row.calendar)},
        )
    return message


def render_message(row: Email, sender: str) -> bytes:
    """The bytes on the wire of `build_message`'s email. Raises ValueError for an email
    that can never be written (a line break in a header)."""
    written = _usual_wire(row, sender, _boundary(), formatdate(localtime=False))
    if written is not None:
        return written
    # Internationalized addresses go as they are (SMTPUTF8), any other header encoded.
    addresses = row.recipient + (row.cc or "") + sender
    return build_message(row, sender).as_bytes(policy=SMTP if addresses.isascii() else SMTPUTF8)


_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_ADDRESS = rf"{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
# Header values the stdlib writes as they are (it parses and refolds every header).
_AS_IS = {
    "From": re.compile(rf"(?:[A-Za-z0-9]+(?: [A-Za-z0-9]+)* <{_ADDRESS}>|{_ADDRESS})\Z"),
    "Message-ID": re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>\Z"),
    "Subject": re.compile(r"(?:(?!=\?)[ -~])+\Z"),  # no encoded word: it would be decoded
}
_AS_IS |= {"To": _AS_IS["From"], "Cc": _AS_IS["From"], "Date": _AS_IS["Subject"]}
_MAX_LINE = 78  # the email policies'


def _usual_wire(row: Email, sender: str, boundary: str, date: str) -> bytes | None:
    """What `build_message(...).as_bytes(policy=SMTP)` writes, with this boundary and
    date, written directly for the usual email (headers that fit on a line as they are,
    no calendar part, each part 7bit or quoted-printable as `build_message` sets it); None
    for any other. The stdlib costs many times as much (docs/benchmarks.md, "One
    email renderer"); a unit test holds the two byte for byte."""
    if row.calendar is not None:
        return None
    head = []
    for name, value in _headers(row, sender, date):
        if len(name) + 2 + len(value) > _MAX_LINE or not _AS_IS[name].match(value):
            return None
        head.append(f"{name}: {value}\r\n")
    parts = []
    for subtype, text in (("plain", row.text_body), ("html", row.html_body)):
        lines = text.encode("utf-8").splitlines()
        body = b"\n".join(lines) + b"\n"
        if _transfer_encoding(text) is None:
            encoding, payload = "7bit", body.decode("ascii")
        else:
            encoding = "quoted-printable"
            payload = quoprimime.body_encode(body.decode("latin-1"), _MAX_LINE)
        payload = payload.replace("\n", "\r\n")
        # `add_alternative` gives the part it adds its own MIME-Version.
        version = "MIME-Version: 1.0\r\n" if subtype == "html" else ""
        parts.append(
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n{version}\r\n{payload}\r\n"
        )
    head.append("MIME-Version: 1.0\r\n")
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n')
    return f"{''.join(head)}{''.join(parts)}--{boundary}--\r\n".encode("ascii")


def _transfer_encoding(text: str) -> str | None:
    """None (the stdlib's 7bit) for ASCII text whose lines fit, else quoted-printable:
    every part is 7-bit clean, so that no relay without 8BITMIME mangles it, and
    readable, which base64 is not."""
    lines = text.encode("utf-8").splitlines()  # as `email.contentmanager` splits them
    fits = text.isascii() and max(map(len, lines), default=0) <= _MAX_LINE
    return None if fits else "quoted-printable"


def _headers(row: Email, sender: str, date: str) -> list[tuple[str, str]]:
    """`build_message`'s headers, in its order."""
    cc = [("Cc", row.cc)] if row.cc else []
    rest = [("Subject", row.subject), ("Message-ID", row.message_id), ("Date", date)]
    return [("From", sender), ("To", row.recipient), *cc, *rest]


def _boundary() -> str:
    """A boundary no part can contain but by a 1 in 2**96 chance: the generator's own
    (when none is set) is checked against every part with a regular expression
    compiled per message."""
    return f"=_{secrets.token_hex(12)}"


class UnsendableEmail(Exception):
    """An email that can never be built (no retry can fix it): dead-lettered at once."""


class ClaimsLost(Exception):
    """The claims of a batch died with their database session: the batch stops."""


class EmailSender:
    def __init__(self, settings: Settings, db: Database, messaging: Messaging) -> None:
        self.settings = settings
        self.db = db
        self.messaging = messaging
        # The acceptances that arrive while one is being recorded are recorded together.
        self._accepted = Batcher(self._record_sent, max_size=256)
        self._recording = OwnConnection(db)
        # Accepted by the server, not recorded yet: never claimed again meanwhile.
        self._unrecorded: set[str] = set()

    async def run(self) -> None:
        """One task claims, on a notification (or a poll) and whenever the emails
        claimed run short; `EMAIL_SENDERS` workers send them. Each worker restarts on
        its own, so that one failing never interrupts the others in mid-send."""
        url = self.settings.postgres_dsn(self.db.name)
        claims = Claims(self.db, batch=BATCH)
        workers = max(1, self.settings.email_senders)
        ready = _Ready(low=workers)
        listening = Wakeup().listening(url, "emails")
        try:
            async with listening as wakeup, asyncio.TaskGroup() as tasks:
                tasks.create_task(self._claim(claims, wakeup, ready), name="email claims")
                for n in range(workers):
                    tasks.create_task(self._work(n, claims, ready), name=f"email sender {n}")
        finally:
            await claims.close()
            await self._recording.close()

    async def _claim(self, claims: Claims, wakeup: Wakeup, ready: _Ready) -> None:
        while True:
            _stop_if_cancelled()
            await ready.hungry()
            seen = wakeup.notified
            try:
                claimed = await claims.claim(self._unrecorded)
            except Exception as error:  # e.g. the database restarted: claim anew
                log.warning("claiming emails failed, retrying", error=repr(error))
                await asyncio.sleep(1.0)
                continue
            ready.put(claims.session, claimed)
            if len(claimed) < BATCH:  # nothing more due: until a commit queues some
                await wakeup.wait_after(seen, POLL_SECONDS)

    async def _work(self, worker: int, claims: Claims, ready: _Ready) -> None:
        smtp = SmtpConnection(self.settings)
        try:
            while True:
                session, email = await ready.take(on_idle=smtp.hang_up)
                try:
                    if session == claims.session:  # else its claim died: not to be sent
                        await self._deliver(email, smtp)
                except Exception:  # e.g. the database restarted: claim anew
                    log.exception("email sender crashed, restarting", worker=worker)
                    claims.lose()
                    await asyncio.sleep(1.0)
                finally:
                    claims.finished(email)
        finally:
            smtp.drop()

    async def send_due(self, smtp: SmtpConnection | None = None) -> int:
        """Claim a batch of due emails and send them, one worker's way, with claims of
        its own; returns how many were taken. Without a connection, one is opened for
        the batch and closed after it."""
        connection = smtp if smtp is not None else SmtpConnection(self.settings)
        claims = Claims(self.db, batch=BATCH)
        try:
            taken = await claims.claim(self._unrecorded)
            for email in taken:
                try:
                    await self._deliver(email, connection)
                finally:
                    claims.finished(email)
        finally:
            await claims.close()
            await self._recording.close()
        if smtp is None:
            await connection.hang_up()
        return len(taken)

    async def _deliver(self, email: Email, smtp: SmtpConnection) -> None:
        """Send one email and record its outcome; an accepted one is recorded before
        the worker sends the next, so a crash re-sends at most the email in flight."""
        try:
            result = await self._send(email, smtp)
            if result is None:
                await self._record_accepted(email)
            else:
                async with self.db.transaction() as tx:
                    await self._record(tx, email, result)
        except BaseException:
            smtp.drop()
            raise

    async def _send(self, email: Email, smtp: SmtpConnection) -> BaseException | None:
        """Send one email; None once the server accepted it, else what went wrong."""
        sender = self.settings.smtp_from
        try:
            message = render_message(email, sender)
        except ValueError as error:  # e.g. a header that can never be written
            return UnsendableEmail(str(error))
        recipients = [email.recipient, *([email.cc] if email.cc else [])]
        try:
            await smtp.send(sender, recipients, message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return error
        except ValueError as error:  # an address no SMTP command can carry
            return UnsendableEmail(str(error))
        return None

    async def _record_accepted(self, email: Email) -> None:
        """Record an email the server accepted; while the database is away, try again
        rather than send it twice. Its claim is gone then (it was the session's), so
        the batch stops once it is recorded, and the worker claims anew."""
        self._unrecorded.add(email.message_id)
        for attempt in itertools.count():
            try:
                await self._accepted.submit(email)
            except Exception as error:
                log.warning("recording a sent email failed, retrying", error=repr(error))
                await asyncio.sleep(backoff(attempt, base=0.2, cap=5.0))
                continue
            self._unrecorded.discard(email.message_id)
            if attempt:
                raise ClaimsLost("the database was away mid-batch: claiming anew")
            return

    async def _record_sent(self, accepted: Sequence[Email]) -> None:
        # One statement, atomic on its own: no BEGIN and COMMIT round trips around it,
        # on a connection of the sender's own (no pool checkout per statement).
        await store.mark_all_sent(self._recording, [e.message_id for e in accepted])
        metrics.EMAILS.labels("sent").inc(len(accepted))
        log.info("emails sent", sent=len(accepted))
        if not debug_enabled(__name__):
            return
        for row in accepted:
            log.debug(
                "email sent",
                kind=row.routing_key,
                event_id=str(row.event_id),
                attempt=row.attempts + 1,
            )

    async def _record(self, tx: Tx, row: Email, result: BaseException) -> str:
        """Record a failed attempt: retried later, or failed for good and dead-lettered."""
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
            return "failed"
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
        return "retried"


class _Ready:
    """Claimed emails waiting for a worker, by the session that claimed them; more are
    claimed once fewer than `low` wait, so that no worker waits on a claim."""

    def __init__(self, *, low: int) -> None:
        self._queue: asyncio.Queue[tuple[int, Email]] = asyncio.Queue()
        self._low = low
        self._hungry = asyncio.Event()
        self._hungry.set()

    def put(self, session: int, emails: Sequence[Email]) -> None:
        for email in emails:
            self._queue.put_nowait((session, email))
        if self._queue.qsize() >= self._low:
            self._hungry.clear()

    async def hungry(self) -> None:
        await self._hungry.wait()

    async def take(self, *, on_idle: Callable[[], Awaitable[None]]) -> tuple[int, Email]:
        if self._queue.empty():
            try:
                item = await asyncio.wait_for(self._queue.get(), IDLE_SECONDS)
            except TimeoutError:
                await on_idle()
                item = await self._queue.get()
        else:
            item = self._queue.get_nowait()
        if self._queue.qsize() < self._low:
            self._hungry.set()
        return item


def _stop_if_cancelled() -> None:
    """Stop a loop whose cancellation an awaited call swallowed (Python 3.11's
    `asyncio.wait_for` may return its result instead of raising when both happen at
    once), so that stopping the sender never waits on a worker that goes on."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _smtp_code(error: BaseException) -> int | None:
    """The SMTP reply code of a failure; for a refused recipient, the refusal's."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        return error.recipients[0].code
    code = getattr(error, "code", None)
    return code if isinstance(code, int) else None

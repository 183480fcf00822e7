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
import io
import itertools
import json
import random
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from email import quoprimime
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.policy import SMTPUTF8, Compat32
from email.utils import formatdate
from typing import cast

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
    message["From"] = sender
    message["To"] = row.recipient
    if row.cc:
        message["Cc"] = row.cc
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = formatdate(localtime=False)
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
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


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # bodies as set_content writes non-ASCII text: readable


def render_message(row: Email, sender: str) -> bytes:
    """The bytes on the wire of `build_message`'s email (same headers, same parts).
    Raises ValueError for an email that can never be written (a line break in a
    header). Rendering was most of what the sender spent per email: the usual email
    (ASCII headers, no calendar part) is written directly, as the stdlib would write it
    (`_ascii_wire`), any other with the stdlib's legacy MIME classes (`_mime_wire`),
    both several times cheaper than the modern API."""
    if not (row.recipient + (row.cc or "") + sender).isascii():
        # Internationalized addresses: the modern API knows how to write them.
        return build_message(row, sender).as_bytes(policy=SMTPUTF8)
    boundary, date = _boundary(), formatdate(localtime=False)
    return _ascii_wire(row, sender, boundary, date) or _mime_wire(row, sender, boundary, date)


def _headers(row: Email, sender: str, date: str) -> dict[str, str | None]:
    return {
        "From": sender,
        "To": row.recipient,
        "Cc": row.cc,
        "Subject": row.subject,
        "Message-ID": row.message_id,
        "Date": date,
    }


def _mime_wire(row: Email, sender: str, boundary: str, date: str) -> bytes:
    body = MIMEMultipart("alternative", boundary=boundary)
    body.attach(_text_part(row.text_body, "plain"))
    body.attach(_text_part(row.html_body, "html"))
    message = body if row.calendar is None else MIMEMultipart("mixed", boundary=_boundary())
    if row.calendar is not None:
        message.attach(body)
        message.attach(_calendar_part(row.calendar))
    for name, value in _headers(row, sender, date).items():
        if value is None:
            continue
        if "\n" in value or "\r" in value:
            raise ValueError(f"the {name} header has a line break")
        # The legacy API takes a Header (encoded words) where its stubs say str.
        message[name] = value if value.isascii() else cast(str, Header(value, _UTF8_QP))
    out = io.BytesIO()
    BytesGenerator(out, policy=_WIRE).flatten(message)
    return out.getvalue()


_FROM_LINE = re.compile(r"^From ", re.MULTILINE)


def _ascii_wire(row: Email, sender: str, boundary: str, date: str) -> bytes | None:
    """`_mime_wire`'s bytes, written directly, for an email whose headers each fit on
    one ASCII line, without a calendar part; None for any other. (A unit test holds
    the two byte for byte.)"""
    if row.calendar is not None:
        return None
    lines = []
    for name, value in _headers(row, sender, date).items():
        if value is None:
            continue
        if not _Wire.fits_one_line(name, value):
            return None
        lines.append(f"{name}: {value}\r\n")
    parts = []
    for subtype, text in (("plain", row.text_body), ("html", row.html_body)):
        text = text if text.endswith("\n") else text + "\n"
        if "\r" in text:
            return None
        if _is_7bit(text):
            charset, encoding = "us-ascii", "7bit"
        else:  # as `_text_part` writes it: UTF-8, quoted-printable
            charset, encoding = "utf-8", "quoted-printable"
            text = quoprimime.body_encode(text.encode("utf-8").decode("latin-1"))
        # compat32 writes ">From " for a line that starts with "From " (mbox safety).
        text = _FROM_LINE.sub(">From ", text).replace("\n", "\r\n")
        parts.append(
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="{charset}"\r\n'
            f"MIME-Version: 1.0\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n{text}\r\n"
        )
    head = (
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
        f"MIME-Version: 1.0\r\n{''.join(lines)}\r\n"
    )
    return f"{head}{''.join(parts)}--{boundary}--\r\n".encode("ascii")


def _is_7bit(text: str) -> bool:
    return text.isascii() and max(map(len, text.splitlines()), default=0) <= 998


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    text = text if text.endswith("\n") else text + "\n"  # as set_content ends a part
    if _is_7bit(text):
        return MIMEText(text, subtype, "us-ascii")  # 7bit
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, _UTF8_QP)
    return part


def _calendar_part(ics: str) -> MIMENonMultipart:
    part = _text_part(ics, "calendar")
    part.set_param("method", calendar.method_of(ics))
    part.add_header("Content-Disposition", "attachment", filename=INVITATION_FILE)
    return part


def _boundary() -> str:
    """A boundary no part can contain but by a 1 in 2**96 chance: the generator's own
    (when none is set) is checked against every part with a regular expression
    compiled per message, a sixth of the CPU of rendering one."""
    return f"=_{secrets.token_hex(12)}"


_MAX_LINE = 78  # compat32's


class _Wire(Compat32):
    """compat32 on the wire, with a header that fits on one ASCII line written as it
    is: the stdlib makes a `Header` to fold each one, two fifths of rendering."""

    @staticmethod
    def fits_one_line(name: str, value: str) -> bool:
        return (
            value.isascii()
            and len(name) + 2 + len(value) <= _MAX_LINE
            and "\n" not in value
            and "\r" not in value
        )

    def fold_binary(self, name: str, value: str) -> bytes:
        if isinstance(value, str) and self.fits_one_line(name, value):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_WIRE = _Wire(linesep="\r\n", max_line_length=_MAX_LINE)


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
        url = f"{self.settings.server_url()}/{self.db.name}"
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

"""The email sender against the real database, broker and an SMTP server: each email is
recorded as soon as the server accepts it, replicas (and the workers of one) never send
one email twice, and an email that can never be built is dead-lettered at once."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import aio_pika
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text

from services.kit.database import Database, drop_database
from services.kit.messaging import REASON_HEADER, Messaging
from services.kit.settings import Settings
from services.notifications import store
from services.notifications.claims import Claims
from services.notifications.domain import Email
from services.notifications.sender import ClaimsLost, EmailSender
from tests.conftest import derived
from tests.support.smtp import OffersPipelining
from tests.support.system import free_port

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "notifications" / "migrations"


class Server(OffersPipelining):
    """An SMTP server that keeps the Message-ID of every email it receives, and can
    leave one email's DATA unanswered to play a sender that crashes mid-send."""

    def __init__(self, *, pipelining: bool = True) -> None:
        self.port = free_port()
        self.pipelining = pipelining
        self.accepted: list[str] = []
        self.peers: set[object] = set()  # the connections emails came over
        self.hold_at: int | None = None  # hold the DATA of the n-th email (1-based)
        self.holding = threading.Event()
        self.release = threading.Event()
        self._seen = 0
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._seen += 1
        self.peers.add(session.peer)
        text = envelope.content.decode(errors="replace")
        self.accepted.append(next(h for h in text.splitlines() if h.startswith("Message-ID")))
        if self._seen == self.hold_at:
            # Kept, but the sender never hears so: the window a crash re-sends.
            self.holding.set()
            await asyncio.to_thread(self.release.wait, 30)
        return "250 OK"

    def __enter__(self) -> Server:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self._controller.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def parts(settings: Settings) -> AsyncIterator[tuple[Settings, Database, Messaging]]:
    isolated = derived(settings, f"snd{uuid.uuid4().hex[:4]}")
    db = Database(isolated, "notifications")
    await db.prepare(MIGRATIONS)
    messaging = Messaging(isolated, "notifications")
    messaging.keep_dead_letters_for("mentee.warned")
    await messaging.declare()
    try:
        yield isolated, db, messaging
    finally:
        await messaging.broker.stop()
        await db.dispose()
        await drop_database(isolated, db.name)


def _emails(count: int, subject: str = "You missed your mentorship session") -> list[Email]:
    event_id = uuid.uuid4()
    return [
        Email(
            message_id=f"<{uuid.uuid4()}@test>",
            event_id=event_id,
            routing_key="mentee.warned",
            event_body={"event_id": str(event_id)},
            recipient=f"mentee{n}@example.com",
            cc=None,
            subject=subject,
            text_body="Hello",
            html_body="<p>Hello</p>",
        )
        for n in range(count)
    ]


async def _queue(db: Database, emails: list[Email]) -> None:
    async with db.transaction() as tx:
        await store.queue_emails(tx, emails)


async def _statuses(db: Database, emails: list[Email]) -> list[str]:
    async with db.transaction() as tx:
        rows = await tx.execute(
            select(store.emails.c.message_id, store.emails.c.status).where(
                store.emails.c.message_id.in_([e.message_id for e in emails])
            )
        )
        by_id = {r.message_id: r.status for r in rows}
    return [by_id[e.message_id] for e in emails]


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "aiosmtplib"])
async def test_a_crash_mid_batch_resends_only_the_email_in_flight(
    parts: tuple[Settings, Database, Messaging], pipelining: bool
) -> None:
    settings, db, messaging = parts
    emails = _emails(6)
    await _queue(db, emails)
    with Server(pipelining=pipelining) as smtp:
        smtp.hold_at = 3
        sender = EmailSender(settings.model_copy(update={"smtp_port": smtp.port}), db, messaging)
        sending = asyncio.create_task(sender.send_due())
        await asyncio.to_thread(smtp.holding.wait, 15)
        # The two accepted before are recorded already, before the batch ends.
        assert await _statuses(db, emails) == ["sent", "sent", *["queued"] * 4]
        sending.cancel()  # the sender dies before it hears that the third was kept
        await asyncio.gather(sending, return_exceptions=True)
        smtp.release.set()
        await sender.send_due()  # restarted: its claims died with it
        assert await _statuses(db, emails) == ["sent"] * 6
    duplicated = len(smtp.accepted) - len(set(smtp.accepted))
    assert (len(set(smtp.accepted)), duplicated) == (6, 1)


async def test_two_senders_never_send_the_same_email(
    parts: tuple[Settings, Database, Messaging],
) -> None:
    settings, db, messaging = parts
    emails = _emails(50)
    await _queue(db, emails)
    with Server() as smtp:
        configured = settings.model_copy(update={"smtp_port": smtp.port})
        senders = [EmailSender(configured, db, messaging) for _ in range(2)]

        async def drain(sender: EmailSender) -> int:
            taken = 0
            while n := await sender.send_due():
                taken += n
            return taken

        taken = await asyncio.gather(*(drain(s) for s in senders))
    assert sum(taken) == 50
    assert sorted(smtp.accepted) == sorted(set(smtp.accepted)) and len(smtp.accepted) == 50
    assert await _statuses(db, emails) == ["sent"] * 50


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "aiosmtplib"])
async def test_the_workers_of_one_sender_share_the_work_and_send_each_email_once(
    parts: tuple[Settings, Database, Messaging], pipelining: bool
) -> None:
    settings, db, messaging = parts
    emails = _emails(300)
    await _queue(db, emails)
    connections: list[int] = []
    with Server(pipelining=pipelining) as smtp:
        configured = settings.model_copy(update={"smtp_port": smtp.port, "email_senders": 16})
        running = asyncio.create_task(EmailSender(configured, db, messaging).run())
        try:
            for _ in range(300):
                connections.append(await _connections_to(db))
                if await _statuses(db, emails) == ["sent"] * 300:
                    break
                await asyncio.sleep(0.1)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert await _statuses(db, emails) == ["sent"] * 300
    assert sorted(smtp.accepted) == sorted(set(smtp.accepted)) and len(smtp.accepted) == 300
    assert len(smtp.peers) > 1  # over several connections at once
    # 16 workers, yet one listener, one connection holding the claims, and the
    # recording and this test's own: not two per worker.
    assert 3 <= max(connections) <= 6, connections


async def _connections_to(db: Database) -> int:
    async with db.reading() as conn:
        result = await conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        )
        return int(result.scalar_one())


async def test_an_email_accepted_while_the_database_is_away_is_recorded_not_resent(
    parts: tuple[Settings, Database, Messaging], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, db, messaging = parts
    emails = _emails(3)
    await _queue(db, emails)
    recording = EmailSender._record_sent
    away = [ConnectionError("the database is away")] * 2

    async def flaky(self: EmailSender, accepted: Sequence[Email]) -> None:
        if away:
            raise away.pop()
        await recording(self, accepted)

    monkeypatch.setattr(EmailSender, "_record_sent", flaky)
    with Server() as smtp:
        sender = EmailSender(settings.model_copy(update={"smtp_port": smtp.port}), db, messaging)
        with pytest.raises(ClaimsLost):  # its claims died with the session: it stops
            await sender.send_due()
        assert await _statuses(db, emails) == ["sent", "queued", "queued"]
        while await sender.send_due():
            pass
    assert await _statuses(db, emails) == ["sent"] * 3
    assert sorted(smtp.accepted) == sorted(set(smtp.accepted)) and len(smtp.accepted) == 3


async def test_an_email_that_can_never_be_built_is_dead_lettered_at_once(
    parts: tuple[Settings, Database, Messaging],
) -> None:
    settings, db, messaging = parts
    [broken] = _emails(1, subject="Eve missed a session\nBcc: everyone@example.com")
    await _queue(db, [broken])
    with Server() as smtp:
        sender = EmailSender(settings.model_copy(update={"smtp_port": smtp.port}), db, messaging)
        await sender.send_due()
    assert smtp.accepted == []
    async with db.transaction() as tx:
        row = (
            await tx.execute(
                select(store.emails).where(store.emails.c.message_id == broken.message_id)
            )
        ).one()
    assert (row.status, row.attempts) == ("failed", 1)
    dlq = settings.naming.dead_letter_queue("notifications", "mentee.warned")
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(dlq)
        message = await queue.get(timeout=5)
        assert message is not None
        await message.ack()
    assert "UnsendableEmail" in str((message.headers or {})[REASON_HEADER])


async def test_a_claim_holds_until_its_outcome_is_recorded_and_dies_with_its_connection(
    parts: tuple[Settings, Database, Messaging],
) -> None:
    """Two processes' claims: what one holds the other cannot take; an email one has
    finished with is released by its next claim; claims lost are free at once."""
    _, db, _ = parts
    emails = _emails(3)
    await _queue(db, emails)
    ours, theirs = Claims(db, batch=2), Claims(db, batch=50)
    try:
        first, second = await ours.claim()
        assert {first.message_id, second.message_id} <= {e.message_id for e in emails}
        [third] = await theirs.claim()  # the one left
        assert third.message_id not in (first.message_id, second.message_id)
        assert await ours.claim() == []  # its own are held, not taken twice

        ours.finished(first)  # e.g. retried later: still queued, free once released
        assert await theirs.claim() == []  # not released until our next claim
        assert await ours.claim() == [first]  # released and taken again by the next
        ours.lose()  # the server lets go once it sees the connection gone
        taken: set[str] = set()
        for _ in range(50):
            taken |= {e.message_id for e in await theirs.claim()}
            if len(taken) == 2:
                break
            await asyncio.sleep(0.1)
        assert taken == {first.message_id, second.message_id}
    finally:
        await ours.close()
        await theirs.close()


async def test_an_email_behind_the_floor_is_claimed_once_a_walk_comes_back_short(
    parts: tuple[Settings, Database, Messaging],
) -> None:
    """An email due before where full batches were found (queued by a transaction that
    committed late, or released by a replica that died) is not lost: the claim after a
    short one walks from the oldest again."""
    _, db, _ = parts
    await _queue(db, _emails(4))
    claims = Claims(db, batch=2)
    try:
        taken = [e.message_id for e in await claims.claim()]
        assert len(taken) == 2  # a full batch: the next walk starts near it
        behind = _emails(1, subject="queued long ago")[0]
        await _queue(db, [behind])
        async with db.transaction() as tx:
            await tx.execute(
                store.emails.update()
                .where(store.emails.c.message_id == behind.message_id)
                .values(next_attempt_at=func.now() - timedelta(hours=1))
            )
        for _ in range(3):
            taken += [e.message_id for e in await claims.claim()]
        assert len(taken) == len(set(taken)) == 5  # each once
        assert taken[-1] == behind.message_id  # found by the walk after the short one
    finally:
        await claims.close()


async def test_an_email_finished_while_a_claim_is_on_its_way_is_released_by_the_next(
    parts: tuple[Settings, Database, Messaging], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker may report an outcome while the claim statements are in flight; that
    email's claim is released by the next claim, not held for the connection's life
    (one lock more in PostgreSQL's shared lock table each time: at 100,000
    subscriptions the table filled up and every transaction failed)."""
    _, db, _ = parts
    emails = _emails(3)
    await _queue(db, emails)
    claims = Claims(db, batch=1)
    try:
        [first] = await claims.claim()
        async with db.transaction() as tx:  # recorded sent, as a worker does first
            await tx.execute(
                store.emails.update()
                .where(store.emails.c.message_id == first.message_id)
                .values(status="sent")
            )
        claim_due = store.claim_due_emails

        async def finished_meanwhile(*args: Any, **kwargs: Any) -> store.ClaimedEmails:
            claimed = await claim_due(*args, **kwargs)
            claims.finished(first)  # the worker, while the claim was on its way
            return claimed

        monkeypatch.setattr(store, "claim_due_emails", finished_meanwhile)
        await claims.claim()
        monkeypatch.setattr(store, "claim_due_emails", claim_due)
        assert await _claimed_elsewhere(db, first)  # still held: nothing released it yet
        await claims.claim()
        assert not await _claimed_elsewhere(db, first)
    finally:
        await claims.close()


async def _claimed_elsewhere(db: Database, email: Email) -> bool:
    """Whether another session holds the email's claim (its advisory lock)."""
    async with db.transaction() as tx:
        free = await tx.scalar(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": store.CLAIM_KEY_PREFIX + email.message_id},
        )
    return not free

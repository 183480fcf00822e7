"""Transactional outbox: messages are written with the change that causes them
and published after commit by a relay, with publisher confirms.

The relay is woken by a PostgreSQL NOTIFY sent in the writing transaction (so
it fires on commit), and polls as a fallback. Rows are locked while being
published, so two replicas never publish the same row at once; a crash
between publish and marking leaves the row unsent, and it is published again
(consumers deduplicate on event_id).

A trickle of rows written while a consumer applies a batch or a request is
answered (`collecting`: a few rows, the relay without a backlog) takes a shorter
way: the process that committed them publishes them at once from memory
(`OutboxRelay.hand_over`), with no NOTIFY, no wake-up and no transaction to read
and lock them again, and marks them sent together a moment later. They are written
leased (`next_attempt_at` a few seconds ahead), so the relay leaves them alone
meanwhile; should the process die, or a publish fail, before they are marked sent,
the relay of any replica publishes them once the lease has passed, as any other
unsent row. For a join, this took the relay's transaction and a wake-up off the
way to `attendance.marked`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import MetaData, func, select, update

from contracts import Event
from services.kit import metrics
from services.kit.backoff import backoff
from services.kit.database import Database, OwnConnection, Tx, driver
from services.kit.logs import get_logger
from services.kit.tables import outbox_table
from services.kit.wakeup import Wakeup

OUTBOX = outbox_table(MetaData())
NOTIFY_CHANNEL = "outbox"

log = get_logger(__name__)

Publish = Callable[[str, bytes, UUID], Awaitable[None]]

# How long the relay leaves alone a row its writer publishes from memory: the longest
# a row waits when its writer dies before publishing it.
LEASE_SECONDS = 5.0
# The shorter way is for a trickle (joins, a mentor's mark): at most this many rows
# per transaction, and this many waiting in memory, and none while the relay has a
# backlog. A sweep's cascade goes through the relay, which publishes a backlog in
# larger batches (rows handed over meanwhile would queue behind it past their
# lease), and no process holds a whole sweep's bodies in memory.
HAND_OVER_PER_TRANSACTION = 64
HAND_OVER_AT_MOST = 500
# How long rows published from memory wait to be marked sent together.
MARK_EVERY_SECONDS = 0.1


@dataclass(frozen=True)
class Committed:
    """An outbox row its writer publishes itself, once its transaction has committed."""

    id: int
    event_id: UUID
    routing_key: str
    body: bytes


@dataclass
class _Collecting:
    rows: list[Committed]
    room: int


_collected: ContextVar[_Collecting | None] = ContextVar("outbox_collected", default=None)


@contextlib.contextmanager
def collecting(room: int) -> Iterator[list[Committed]]:
    """The rows `add` writes inside the block, leased, for `OutboxRelay.hand_over` once
    their transaction has committed (discarded if it has not): up to `room` of them
    (`OutboxRelay.room`); the rows past that are written for the relay."""
    collecting = _Collecting([], room)
    token = _collected.set(collecting)
    try:
        yield collecting.rows
    finally:
        _collected.reset(token)


# Arrays rather than one VALUES row per event: one cached, prepared statement
# whatever the number of events; WITH ORDINALITY keeps their order in the ids.
# The relay's wake-up rides in the same statement (a round trip less per batch).
_ADD = f"""
    WITH added AS (
        INSERT INTO outbox (event_id, routing_key, body)
        SELECT event_id, routing_key, body::jsonb
        FROM unnest($1::uuid[], $2::text[], $3::text[])
             WITH ORDINALITY AS e(event_id, routing_key, body, n)
        ORDER BY n
        ON CONFLICT (event_id) DO NOTHING
        RETURNING id
    )
    SELECT count(*) AS written, pg_notify('{NOTIFY_CHANNEL}', '') FROM added
"""


_ADD_LEASED = """
    INSERT INTO outbox (event_id, routing_key, body, next_attempt_at)
    SELECT event_id, routing_key, body::jsonb, clock_timestamp() + make_interval(secs => $4)
    FROM unnest($1::uuid[], $2::text[], $3::text[])
         WITH ORDINALITY AS e(event_id, routing_key, body, n)
    ORDER BY n
    ON CONFLICT (event_id) DO NOTHING
    RETURNING id, event_id
"""


async def add(tx: Tx, events: Iterable[Event]) -> int:
    """Write events to the outbox in `tx`, in order; returns how many were new.

    An event whose event_id is already there is skipped, so replaying a
    deterministic cascade writes nothing twice. Inside `collecting`, the new rows
    are leased and collected for their writer to publish.
    """
    events = list(events)
    if not events:
        return 0
    bodies = [e.model_dump_json() for e in events]
    ids = [e.event_id for e in events]
    keys = [e.routing_key for e in events]
    collecting = _collected.get()
    if collecting is None or len(collecting.rows) + len(events) > collecting.room:
        return int(await (await driver(tx)).fetchval(_ADD, ids, keys, bodies))
    inserted = await (await driver(tx)).fetch(_ADD_LEASED, ids, keys, bodies, LEASE_SECONDS)
    by_event = {e.event_id: (e.routing_key, body) for e, body in zip(events, bodies, strict=True)}
    for row in sorted(inserted, key=lambda r: r["id"]):
        routing_key, body = by_event[row["event_id"]]
        collecting.rows.append(Committed(row["id"], row["event_id"], routing_key, body.encode()))
    return len(inserted)


# For the relay's transaction, in one round trip. Marking rows sent need not wait for
# the disk: lost in a database crash, the marks only make the rows go out again, and
# consumers deduplicate.
_RELAY_SETTINGS = """
    SELECT set_config('synchronous_commit', 'off', true)
"""
# Unsent rows in id order, locked; the body as stored (no decoding into dicts to
# encode them again).
_TAKE = """
    SELECT id, event_id, routing_key, body::text AS body, attempts
    FROM outbox
    WHERE sent_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
"""
_MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"
# A row published again after a lost mark is dropped by its consumers' inbox: marks
# need not wait for the disk.
_NO_WAIT_FOR_DISK = {"synchronous_commit": "off"}


class OutboxRelay:
    """Publishes unsent outbox rows in id order and marks them sent."""

    def __init__(
        self,
        db: Database,
        publish: Publish,
        *,
        name: str = "",
        batch_size: int = 500,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.publish = publish
        self.name = name
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self._wakeup = Wakeup()
        self.published = 0
        self._handed: list[tuple[float, Committed]] = []  # (when handed over, row)
        self._handed_over = asyncio.Event()
        self._marking = OwnConnection(db, **_NO_WAIT_FOR_DISK)
        self._unmarked: list[int] = []  # published from memory, not yet marked sent
        self._backlogged = False  # the relay found rows on its last look
        self._to_mark = asyncio.Event()

    def room(self) -> int:
        """How many rows a transaction may hand over now (`collecting`)."""
        if self._backlogged:
            return 0
        return max(0, min(HAND_OVER_PER_TRANSACTION, HAND_OVER_AT_MOST - len(self._handed)))

    def hand_over(self, rows: Sequence[Committed]) -> None:
        """Publish rows whose transaction has committed, at once, in their order (`run`
        does, beside the relay)."""
        if rows:
            now = time.monotonic()
            self._handed.extend((now, row) for row in rows)
            self._handed_over.set()

    async def run(self) -> None:
        """Publish until cancelled: what is handed over, and what the relay finds."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._publish_handed_over())
                tasks.create_task(self._mark_published())
                tasks.create_task(self._relay())
        finally:
            with contextlib.suppress(Exception):  # else the relay publishes them again
                async with asyncio.timeout(2.0):
                    await self._mark_unmarked()
            await self._marking.close()

    async def _publish_handed_over(self) -> None:
        while True:
            if not self._handed:
                self._handed_over.clear()
                await self._handed_over.wait()
            taken = self._handed[: self.batch_size]
            del self._handed[: self.batch_size]
            # A row whose lease is half gone is the relay's soon: not published twice.
            fresh_after = time.monotonic() - LEASE_SECONDS / 2
            rows = [row for handed_at, row in taken if handed_at > fresh_after]
            if len(rows) < len(taken):
                log.warning("outbox rows left to the relay", rows=len(taken) - len(rows))
            if rows:
                await self._publish_committed(rows)

    async def _publish_committed(self, rows: Sequence[Committed]) -> None:
        """Publish rows written leased; those confirmed are marked sent shortly after
        (`_mark_published`), one that fails is left to the relay once its lease has
        passed."""
        try:
            async with asyncio.timeout(LEASE_SECONDS):
                results = await asyncio.gather(
                    *(self.publish(r.routing_key, r.body, r.event_id) for r in rows),
                    return_exceptions=True,
                )
        except TimeoutError:
            log.warning("outbox publish timed out, left to the relay", rows=len(rows))
            return
        sent = [r.id for r, result in zip(rows, results, strict=True) if result is None]
        if len(sent) < len(rows):
            failed = next(res for res in results if res is not None)
            log.warning(
                "outbox publish failed, left to the relay",
                failed=len(rows) - len(sent),
                error=repr(failed),
            )
        self.published += len(sent)
        metrics.OUTBOX_PUBLISHED.labels(self.name).inc(len(sent))
        if sent:
            self._unmarked.extend(sent)
            self._to_mark.set()

    async def _mark_published(self) -> None:
        """Mark sent what was published from memory, every `MARK_EVERY_SECONDS` at most:
        under a trickle of joins, one statement for many batches rather than one each.
        A mark lost to a crash only lets the relay publish the row again after its
        lease, and consumers' inboxes drop the copy."""
        while True:
            await self._to_mark.wait()
            await asyncio.sleep(MARK_EVERY_SECONDS)
            self._to_mark.clear()
            try:
                await self._mark_unmarked()
            except Exception as error:
                log.warning("marking published outbox rows failed", error=repr(error))

    async def _mark_unmarked(self) -> None:
        ids, self._unmarked = self._unmarked, []
        if ids:
            await self._marking.execute(_MARK_SENT, ids)

    async def _relay(self) -> None:
        url = self.db.settings.postgres_dsn(self.db.name)
        async with self._wakeup.listening(url, NOTIFY_CHANNEL) as wakeup:
            failures = 0
            while True:
                seen = wakeup.notified
                try:
                    sent, taken = await self.publish_batch()
                except Exception as error:  # database down: back off, retry
                    sent, taken = 0, 1
                    log.warning("outbox relay failed", error=repr(error))
                self._backlogged = taken > 0
                # Nothing at all went out: the broker is likely down. Rows that
                # fail alone (unroutable) wait on their own next_attempt_at.
                failures = failures + 1 if taken and not sent else 0
                if failures:
                    await asyncio.sleep(backoff(failures, base=0.2, cap=30.0))
                elif taken < self.batch_size:
                    await wakeup.wait_after(seen, self.poll_seconds)

    async def publish_batch(self) -> tuple[int, int]:
        """Publish one batch; returns (sent, taken)."""
        async with self.db.transaction() as tx:
            raw = await driver(tx)
            await raw.execute(_RELAY_SETTINGS)
            rows = await raw.fetch(_TAKE, self.batch_size)
            if not rows:
                return 0, 0
            # Publishing concurrently pipelines the confirms on one channel;
            # frames still leave in id order.
            results = await asyncio.gather(
                *(self.publish(r["routing_key"], r["body"].encode(), r["event_id"]) for r in rows),
                return_exceptions=True,
            )
            sent_ids = [r["id"] for r, res in zip(rows, results, strict=True) if res is None]
            failed = [(r, res) for r, res in zip(rows, results, strict=True) if res is not None]
            if sent_ids:
                await raw.execute(_MARK_SENT, sent_ids)
            for row, error in failed:
                await tx.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == row["id"])
                    .values(
                        attempts=OUTBOX.c.attempts + 1,
                        last_error=repr(error)[:2000],
                        next_attempt_at=func.now() + _retry_delay(row["attempts"]),
                    )
                )
                log.warning(
                    "outbox publish failed",
                    routing_key=row["routing_key"],
                    event_id=str(row["event_id"]),
                    error=repr(error),
                )
        self.published += len(sent_ids)
        metrics.OUTBOX_PUBLISHED.labels(self.name).inc(len(sent_ids))
        return len(sent_ids), len(rows)


def _retry_delay(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s … capped at 5 minutes, from the row's attempts before this one."""
    return timedelta(seconds=backoff(attempts, base=1.0, cap=300.0))


async def backlog(db: Database) -> tuple[int, datetime | None]:
    """How many rows wait to be published, and when the oldest was written."""
    async with db.transaction() as tx:
        row = (
            await tx.execute(
                select(func.count(), func.min(OUTBOX.c.created_at)).where(
                    OUTBOX.c.sent_at.is_(None)
                )
            )
        ).one()
    return int(row[0]), row[1]

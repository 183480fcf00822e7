"""Transactional outbox: messages are written with the change that causes them
and published after commit by a relay, with publisher confirms.

The relay is woken by a PostgreSQL NOTIFY sent in the writing transaction (so
it fires on commit), and polls as a fallback. Rows are locked while being
published, so two replicas never publish the same row at once; a crash
between publish and marking leaves the row unsent, and it is published again
(consumers deduplicate on event_id).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import ColumnElement, MetaData, func, select, update
from sqlalchemy.dialects.postgresql import INTERVAL

from contracts import Event
from services.kit import metrics
from services.kit.database import Database, Tx, driver
from services.kit.logs import get_logger
from services.kit.tables import outbox_table
from services.kit.wakeup import Wakeup

OUTBOX = outbox_table(MetaData())
NOTIFY_CHANNEL = "outbox"

log = get_logger(__name__)

Publish = Callable[[str, bytes, UUID], Awaitable[None]]


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


async def add(tx: Tx, events: Iterable[Event]) -> int:
    """Write events to the outbox in `tx`, in order; returns how many were new.

    An event whose event_id is already there is skipped, so replaying a
    deterministic cascade writes nothing twice.
    """
    events = list(events)
    if not events:
        return 0
    written = await (await driver(tx)).fetchval(
        _ADD,
        [e.event_id for e in events],
        [e.routing_key for e in events],
        [e.model_dump_json() for e in events],
    )
    return int(written)


# Unsent rows in id order, locked; the body as stored (no decoding into dicts to
# encode them again).
_TAKE = """
    SELECT id, event_id, routing_key, body::text AS body
    FROM outbox
    WHERE sent_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
"""
_MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"


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

    async def run(self) -> None:
        """Publish until cancelled."""
        url = f"{self.db.settings.server_url()}/{self.db.name}"
        async with self._wakeup.listening(url, NOTIFY_CHANNEL) as wakeup:
            failures = 0
            while True:
                seen = wakeup.notified
                try:
                    sent, taken = await self.publish_batch()
                except Exception as error:  # database down: back off, retry
                    sent, taken = 0, 1
                    log.warning("outbox relay failed", error=repr(error))
                # Nothing at all went out: the broker is likely down. Rows that
                # fail alone (unroutable) wait on their own next_attempt_at.
                failures = failures + 1 if taken and not sent else 0
                if failures:
                    await asyncio.sleep(min(30.0, 0.2 * 2**failures))
                elif taken < self.batch_size:
                    await wakeup.wait_after(seen, self.poll_seconds)

    async def publish_batch(self) -> tuple[int, int]:
        """Publish one batch; returns (sent, taken)."""
        async with self.db.transaction() as tx:
            raw = await driver(tx)
            rows = await raw.fetch(_TAKE, self.batch_size)
            if not rows:
                return 0, 0
            # Marking rows sent need not wait for the disk: lost in a database crash,
            # the marks only make the rows go out again, and consumers deduplicate.
            await raw.execute("SET LOCAL synchronous_commit = off")
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
                        next_attempt_at=func.now() + _retry_delay(OUTBOX.c.attempts),
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


def _retry_delay(attempts: ColumnElement[int]) -> ColumnElement[timedelta]:
    """1 s, 2 s, 4 s … capped at 5 minutes, computed in SQL from the row's attempts."""
    seconds = func.least(300, func.power(2, func.least(attempts, 9)))
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds, type_=INTERVAL)


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

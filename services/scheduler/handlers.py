"""The scheduler's loop: become leader, then tick every interval through the outbox."""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from contracts import SweepTick
from services.kit import outbox
from services.kit.database import Database
from services.kit.logs import get_logger
from services.scheduler import domain, store

log = get_logger(__name__)
_TICKS = uuid.UUID("c3a1e5d2-7b4f-4e0a-8d6c-2f9b0a1e3d57")


def wall_clock() -> datetime:
    """The scheduler is an edge: it reads the clock and hands the time on as `tick_at`."""
    return datetime.now(UTC)


async def tick_if_due(db: Database, interval: timedelta, now: datetime) -> datetime:
    """Send a tick if one is due (re-checked under the row lock); returns the next due time."""
    async with db.transaction() as tx:
        last = await store.lock_last_tick(tx)
        if not domain.tick_due(now, last, interval):
            return domain.next_tick_at(now, last, interval)
        tick = SweepTick(event_id=uuid.uuid5(_TICKS, now.isoformat()), occurred_at=now, tick_at=now)
        await outbox.add(tx, [tick])
        await store.save_last_tick(tx, now)
    log.info("sweep tick sent", tick_at=now.isoformat(), event_id=str(tick.event_id))
    return now + interval


class Leadership:
    """Ticks only while holding the advisory lock; others wait to take over."""

    def __init__(
        self,
        db: Database,
        interval: timedelta,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self.db = db
        self.interval = interval
        self.clock = clock
        self.lock_key = zlib.crc32(f"scheduler:{db.name}".encode())

    async def run(self) -> None:
        url = self.db.settings.postgres_dsn(self.db.name)
        # Followers retry at least every few seconds, so a dead leader is
        # replaced well within one interval.
        retry = min(self.interval.total_seconds(), 5.0)
        conn = await asyncpg.connect(url)
        try:
            # Polling is the point: the lock frees only when the leader's connection closes.
            while not await conn.fetchval(  # noqa: ASYNC110
                "SELECT pg_try_advisory_lock($1)", self.lock_key
            ):
                await asyncio.sleep(retry)
            log.info("scheduler leads", interval_seconds=self.interval.total_seconds())
            while True:
                due = await tick_if_due(self.db, self.interval, self.clock())
                # The lock lives on this connection: check it is still alive.
                await conn.fetchval("SELECT 1")
                await asyncio.sleep(max(0.0, (due - self.clock()).total_seconds()))
        finally:
            await conn.close()

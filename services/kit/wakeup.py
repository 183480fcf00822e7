"""Wake a loop the moment a writing transaction commits, with polling as the fallback.

A writer sends `NOTIFY <channel>` inside its transaction, so the notification
is delivered on commit; the loop waits on it, and at most `timeout` seconds
when the listener is unavailable or a notification is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from services.kit.logs import get_logger

log = get_logger(__name__)


class Wakeup:
    def __init__(self) -> None:
        # A loop notes `notified` before it looks for work, so that a commit during
        # the look ends its next wait at once; loops sharing one listener each keep
        # their own count, and none swallows another's wakeup.
        self.notified = 0
        self._next = asyncio.Event()

    def notify(self) -> None:
        """Wake every waiter, as a notification from the database does."""
        self.notified += 1
        self._next.set()
        self._next = asyncio.Event()

    async def wait_after(self, seen: int, at_most_seconds: float) -> None:
        """Wait for a notification later than the `notified` count `seen`, read before
        looking for work: at once if one came during the look."""
        if self.notified != seen:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._next.wait(), timeout=at_most_seconds)

    @asynccontextmanager
    async def listening(self, database_url: str, channel: str) -> AsyncIterator[Wakeup]:
        """LISTEN on `channel` while the block runs; polling only if that fails."""
        try:
            conn: asyncpg.Connection | None = await asyncpg.connect(database_url)
            assert conn is not None
            await conn.add_listener(channel, lambda *_: self.notify())
        except Exception as error:
            log.warning("listener unavailable, polling only", channel=channel, error=repr(error))
            conn = None
        try:
            yield self
        finally:
            if conn is not None:
                await conn.close()

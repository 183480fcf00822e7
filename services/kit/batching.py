"""Group commit for consumers: the messages that arrive while one batch is being
applied are applied together next, in one transaction.

A consumer's deliveries run concurrently (up to the channel's prefetch), and
each one waits here until the transaction holding it has committed, so that it
is acknowledged only then. Nothing waits for a timer: an idle consumer applies
a lone message at once (a join is marked in one transaction's time), and a
busy one applies in batches as large as what queued up meanwhile, up to
`max_size`.

When a batch fails, each of its messages is applied again on its own, in its
own transaction: the one at fault fails alone (it is retried or dead-lettered
by the broker middleware), and its batch-mates are applied once each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from services.kit.logs import get_logger

T = TypeVar("T")
log = get_logger(__name__)

Apply = Callable[[Sequence[T]], Awaitable[None]]


class Batcher(Generic[T]):
    def __init__(self, apply: Apply[T], *, max_size: int) -> None:
        self._apply = apply
        self._max_size = max(1, max_size)
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._draining: asyncio.Task[None] | None = None
        self.batches = 0

    async def submit(self, item: T) -> None:
        """Return once `item` is applied and committed; raise what applying it alone raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_size]
                del self._waiting[: self._max_size]
                await self._apply_batch(batch)
        finally:
            self._draining = None

    async def _apply_batch(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        self.batches += 1
        try:
            await self._apply([item for item, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error)
                return
            log.warning(
                "batch failed, applying its messages one by one",
                messages=len(batch),
                error=f"{type(error).__name__}: {error}"[:500],
            )
            for item, done in batch:  # split: each alone, the faulty one fails alone
                try:
                    await self._apply([item])
                except Exception as alone:
                    _settle(done, alone)
                else:
                    _settle(done, None)
        except BaseException as error:  # cancelled (shutdown): nothing committed is lost
            for _, done in batch:
                if not done.done():
                    done.cancel()
            raise error
        else:
            for _, done in batch:
                _settle(done, None)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():  # its delivery was cancelled meanwhile; redelivery finds it in the inbox
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)

"""Group commit: the items that arrive while one batch is being applied are
applied together next, in one transaction.

`Batcher` serves callers that each wait for their own item (the email sender's
workers, each waiting until its email is recorded sent): nothing waits for a
timer; an idle batcher applies a lone item at once, and a busy one applies in
batches as large as what queued up meanwhile, up to `max_size`.

`apply_or_split` is the failure rule every batch follows (the event consumers'
too, `services.kit.consuming`): when a batch fails, each of its items is applied
again on its own, in its own transaction, so that the one at fault fails alone
and its batch-mates are applied once each.
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
            errors = await apply_or_split([item for item, _ in batch], self._apply)
        except BaseException:  # cancelled (shutdown): nothing committed is lost
            for _, done in batch:
                if not done.done():
                    done.cancel()
            raise
        for (_, done), error in zip(batch, errors, strict=True):
            _settle(done, error)


async def apply_or_split(items: Sequence[T], apply: Apply[T]) -> list[Exception | None]:
    """Apply `items` together; if that fails, apply each alone, so that the one at
    fault fails alone and its batch-mates are applied once each. Returns what
    applying each item raised (None: applied)."""
    try:
        await apply(items)
    except Exception as error:
        if len(items) == 1:
            return [error]
        log.warning(
            "batch failed, applying its messages one by one",
            messages=len(items),
            error=f"{type(error).__name__}: {error}"[:500],
        )
        errors: list[Exception | None] = []
        for item in items:
            try:
                await apply([item])
            except Exception as alone:
                errors.append(alone)
            else:
                errors.append(None)
        return errors
    return [None] * len(items)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():  # its delivery was cancelled meanwhile; redelivery finds it in the inbox
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)

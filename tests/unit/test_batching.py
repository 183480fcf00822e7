"""The kit's group commit: what queues up while a batch is applied goes next, together;
a failing batch is split so that only the faulty message fails."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.kit.batching import Batcher


class Poison(Exception):
    pass


class Recorder:
    """Applies batches slowly enough for deliveries to queue up; fails any batch
    that holds a poison item, as a transaction would roll back."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.committed: list[int] = []

    async def apply(self, items: Sequence[int]) -> None:
        self.batches.append(list(items))
        await asyncio.sleep(0.01)
        if any(i < 0 for i in items):
            raise Poison(f"poison in {list(items)}")
        self.committed += items


@pytest.mark.asyncio
async def test_a_lone_message_is_applied_at_once_without_waiting_for_company() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.apply, max_size=100)
    await asyncio.wait_for(batcher.submit(1), timeout=1)
    assert recorder.batches == [[1]]


@pytest.mark.asyncio
async def test_what_arrives_during_a_batch_is_applied_next_in_one_batch_in_order() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.apply, max_size=100)
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.001)  # its batch is being applied
    await asyncio.gather(first, *(batcher.submit(i) for i in range(2, 51)))
    # The first delivery went alone; the 49 that arrived meanwhile go together.
    assert recorder.batches == [[1], list(range(2, 51))]
    assert recorder.committed == list(range(1, 51))


@pytest.mark.asyncio
async def test_batches_are_no_larger_than_the_maximum() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.apply, max_size=8)
    await asyncio.gather(*(batcher.submit(i) for i in range(1, 30)))
    assert max(len(b) for b in recorder.batches) == 8
    assert recorder.committed == list(range(1, 30))


@pytest.mark.asyncio
async def test_a_poison_message_fails_alone_and_its_batch_mates_are_applied_once() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.apply, max_size=100)
    items = [1, 2, 3, -4, 5, 6]
    results = await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)
    # Delivered together: one batch, which fails whole and is then applied item by item.
    assert [type(r).__name__ for r in results] == ["NoneType"] * 3 + ["Poison"] + ["NoneType"] * 2
    assert str(results[3]) == "poison in [-4]"  # its own error, found when applied alone
    assert sorted(recorder.committed) == [1, 2, 3, 5, 6]
    assert recorder.batches == [items, [1], [2], [3], [-4], [5], [6]]


@pytest.mark.asyncio
async def test_a_delivery_cancelled_while_waiting_does_not_break_its_batch() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.apply, max_size=100)
    first = asyncio.create_task(batcher.submit(1))
    second = asyncio.create_task(batcher.submit(2))
    third = asyncio.create_task(batcher.submit(3))
    await asyncio.sleep(0)
    second.cancel()
    await asyncio.gather(first, third)
    # Applied all the same (its redelivery would find it in the inbox).
    assert recorder.committed == [1, 2, 3]

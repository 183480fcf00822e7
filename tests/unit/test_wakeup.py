"""Waking loops that share one listener: a notification during one loop's look for
work is not swallowed by another loop's, and every waiter wakes."""

from __future__ import annotations

import asyncio

import pytest

from services.kit.wakeup import Wakeup


@pytest.mark.asyncio
async def test_a_notification_during_the_look_ends_the_next_wait_at_once() -> None:
    wakeup = Wakeup()
    seen = wakeup.notified
    wakeup.notify()  # a commit while the loop was looking for work
    await asyncio.wait_for(wakeup.wait_after(seen, 10.0), timeout=1)


@pytest.mark.asyncio
async def test_one_notification_wakes_every_loop_waiting() -> None:
    wakeup = Wakeup()
    seen = wakeup.notified
    waiting = [asyncio.create_task(wakeup.wait_after(seen, 10.0)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiting)
    wakeup.notify()
    await asyncio.wait_for(asyncio.gather(*waiting), timeout=1)


@pytest.mark.asyncio
async def test_without_a_notification_the_wait_ends_at_its_timeout() -> None:
    wakeup = Wakeup()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await wakeup.wait_after(wakeup.notified, 0.05)
    assert loop.time() - started >= 0.04

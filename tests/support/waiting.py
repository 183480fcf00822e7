"""Waiting for asynchronous consequences without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    within: float = 10.0,
    every: float = 0.1,
) -> T:
    """Call `probe` until `until(value)` holds or `within` seconds pass; return the last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if until(value) or loop.time() >= deadline:
            return value
        await asyncio.sleep(every)

"""What a running service is waiting on, on request: `kill -USR1 <pid>` logs the
await chain of every asyncio task (a service stuck starting says which await holds
it; a task's own stack shows only its outermost coroutine)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from services.kit.logs import get_logger

log = get_logger(__name__)


def awaiting(task: asyncio.Task[Any]) -> list[str]:
    """`file:line function` of each coroutine from the task's down to the innermost."""
    chain: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            chain.append(repr(awaited)[:200])  # a future, or a finished coroutine
            break
        chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return chain


def log_tasks() -> None:
    for task in asyncio.all_tasks():
        log.warning("task waiting", task=task.get_name(), awaiting=awaiting(task))


async def log_tasks_on_sigusr1() -> None:
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, log_tasks)

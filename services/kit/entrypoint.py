"""`python -m services.<name>`: build the service from the environment and run it."""

from __future__ import annotations

from collections.abc import Callable

import uvloop
from faststream import FastStream

from services.kit import diagnostics, heap
from services.kit.settings import Settings


def run_service(create_app: Callable[[Settings], FastStream]) -> None:
    """Run until SIGINT/SIGTERM, then stop consumers and loops gracefully.

    On uvloop, as the gateway (uvicorn) runs: its socket writes cost a fraction of
    asyncio's, and services are mostly writes to the broker and the database. Once
    started, what startup loaded is frozen out of the collector's way (`heap`): in
    the process, not in `create_app`, since tests run many apps in one process.
    SIGUSR1 logs what each task awaits (`diagnostics`)."""
    app = create_app(Settings())
    app.on_startup(diagnostics.log_tasks_on_sigusr1)
    app.after_startup(heap.freeze_startup_heap)
    uvloop.run(app.run())

"""`python -m services.<name>`: build the service from the environment and run it."""

from __future__ import annotations

from collections.abc import Callable

import uvloop
from faststream import FastStream

from services.kit.settings import Settings


def run_service(create_app: Callable[[Settings], FastStream]) -> None:
    """Run until SIGINT/SIGTERM, then stop consumers and loops gracefully.

    On uvloop, as the gateway (uvicorn) runs: its socket writes cost a fraction of
    asyncio's, and services are mostly writes to the broker and the database."""
    uvloop.run(create_app(Settings()).run())

"""`python -m services.<name>`: build the service from the environment and run it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from faststream import FastStream

from services.kit.settings import Settings


def run_service(create_app: Callable[[Settings], FastStream]) -> None:
    """Run until SIGINT/SIGTERM, then stop consumers and loops gracefully."""
    asyncio.run(create_app(Settings()).run())

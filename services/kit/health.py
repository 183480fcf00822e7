"""Liveness, readiness and metrics over HTTP on METRICS_PORT.

`/livez` answers while the process runs; `/readyz` is 200 only when the broker
and the database are reachable and the migrations are applied; `/metrics` is
Prometheus' text format.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Check = Callable[[], Awaitable[bool]]


def health_app(service: str, checks: dict[str, Check]) -> Starlette:
    async def livez(_: Request) -> JSONResponse:
        return JSONResponse({"service": service, "status": "alive"})

    async def readyz(_: Request) -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(checks[n]() for n in names), return_exceptions=True)
        status = {n: r is True for n, r in zip(names, results, strict=True)}
        ready = all(status.values())
        return JSONResponse(
            {"service": service, "ready": ready, "checks": status},
            status_code=200 if ready else 503,
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/livez", livez),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ]
    )


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the service it runs in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    app: Any, host: str, port: int, *, lifespan: Literal["auto", "on", "off"] = "auto"
) -> None:
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan=lifespan
    )
    await _Server(config).serve()


def age_seconds(oldest: datetime | None, now: datetime | None = None) -> float:
    if oldest is None:
        return 0.0
    return max(0.0, ((now or datetime.now(UTC)) - oldest).total_seconds())

"""Is the gateway usable: 200 when the broker is reachable."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="Liveness and broker reachability",
    responses={503: {"description": "the broker is unreachable"}},
)
async def healthz(request: Request) -> JSONResponse:
    broker_ok = await request.app.state.messaging.ping()
    return JSONResponse(
        {"status": "ok" if broker_ok else "unavailable", "broker": broker_ok},
        status_code=200 if broker_ok else 503,
    )

"""Is the gateway usable: 200 when the broker is reachable."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


# For the orchestrator's health check (docker-compose.yml), not the API's clients: no
# request to it can be at fault, so it has no 4xx to document, and it stays out of the
# OpenAPI document, whose recommended lint wants one for every operation.
@router.get(
    "/healthz",
    include_in_schema=False,
    summary="Liveness and broker reachability",
    responses={503: {"description": "the broker is unreachable"}},
)
async def healthz(request: Request) -> JSONResponse:
    broker_ok = await request.app.state.messaging.ping()
    return JSONResponse(
        {"status": "ok" if broker_ok else "unavailable", "broker": broker_ok},
        status_code=200 if broker_ok else 503,
    )

"""What endpoints receive: the owners' client and the clock (both replaceable in tests).

They are `async def` although they never await: FastAPI runs a plain `def`
dependency in its thread pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from services.gateway.owners import Owners
from services.kit.settings import Settings


async def get_owners(request: Request) -> Owners:
    owners: Owners = request.app.state.owners
    return owners


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_now() -> datetime:
    """The gateway is an edge: it may read the clock, and hands the time on as data."""
    return datetime.now(UTC)


OwnersDep = Annotated[Owners, Depends(get_owners)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Now = Annotated[datetime, Depends(get_now)]

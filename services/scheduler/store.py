"""The scheduler's one piece of state: when the last tick was sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, select
from sqlalchemy.dialects.postgresql import insert

from services.kit.database import Tx

metadata = MetaData()

last_tick = Table(
    "last_tick",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tick_at", DateTime(timezone=True), nullable=False),
)

_ROW = 1


async def lock_last_tick(tx: Tx) -> datetime | None:
    """The last tick's time, with its row locked until the transaction ends."""
    row = (
        await tx.execute(
            select(last_tick.c.tick_at).where(last_tick.c.id == _ROW).with_for_update()
        )
    ).first()
    return row.tick_at if row else None


async def save_last_tick(tx: Tx, tick_at: datetime) -> None:
    await tx.execute(
        insert(last_tick)
        .values(id=_ROW, tick_at=tick_at)
        .on_conflict_do_update(index_elements=[last_tick.c.id], set_={"tick_at": tick_at})
    )

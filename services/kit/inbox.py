"""Idempotent consumers: each handled event_id is recorded with its effect."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import MetaData
from sqlalchemy.dialects.postgresql import insert

from services.kit.database import Tx, driver
from services.kit.tables import inbox_table

INBOX = inbox_table(MetaData())


async def claim(tx: Tx, consumer: str, event_id: UUID) -> bool:
    """Record that `consumer` handles `event_id`; False when it already did.

    A concurrent transaction claiming the same event waits on the primary key
    until the first one ends, then sees the conflict: so exactly one applies it.
    """
    result = await tx.execute(
        insert(INBOX)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(INBOX.c.event_id)
    )
    return result.first() is not None


_CLAIM_MANY = """
    INSERT INTO inbox (consumer, event_id)
    SELECT $1, unnest($2::uuid[])
    ON CONFLICT DO NOTHING
    RETURNING event_id
"""


async def claim_many(tx: Tx, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
    """Record that `consumer` handles each of `event_ids`, in one statement; returns
    those it had not handled before (an id twice in the list is claimed once)."""
    if not event_ids:
        return set()
    rows = await (await driver(tx)).fetch(_CLAIM_MANY, consumer, list(dict.fromkeys(event_ids)))
    return {row[0] for row in rows}

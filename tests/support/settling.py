"""Asserting that something did not happen: after a sentinel was seen, never after a sleep.

A sleep proves nothing on a slow machine: the effect that must not be may simply not
have come yet. What does prove it, in three steps:

- the messages whose effect must not be were applied: a consumer takes its queue in
  order, one batch after the other, so once a message published after them on the same
  queue has been applied (its effect seen), they have been too; with replicas on the
  queue there is no such order, and their event ids in the service's inbox prove it
  instead (`applied`), written by the transaction that applied them;
- whatever those transactions wrote to the outbox has been published, confirmed by the
  broker, so is in its queues already (`outbox_drained`);
- a listener has taken everything its queue held (`Listener.caught_up`).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import func, select

from contracts import Event
from services.kit import outbox
from services.kit.database import Database
from services.kit.inbox import INBOX
from services.kit.settings import Settings
from tests.support.listening import Listener
from tests.support.waiting import eventually


async def applied(db: Database, events: Sequence[Event], *, within: float = 10.0) -> None:
    """Wait until the service owning `db` has applied (or dropped as duplicates) each event."""
    wanted = {e.event_id for e in events}

    async def claimed() -> set[UUID]:
        async with db.transaction() as tx:
            rows = await tx.execute(select(INBOX.c.event_id).where(INBOX.c.event_id.in_(wanted)))
        return set(rows.scalars())

    missing = wanted - await eventually(claimed, lambda ids: ids == wanted, within=within)
    assert not missing, f"not applied within {within} s: {missing}"


async def outbox_drained(db: Database, *of: type[Event], within: float = 30.0) -> None:
    """Wait until no outbox row of `db` (of the event types `of`, if given) waits to be
    published. Only rows someone is bound for can go: others wait, retried, for ever."""
    keys = [event_type.routing_key for event_type in of]

    async def unsent() -> int:
        query = select(func.count()).where(outbox.OUTBOX.c.sent_at.is_(None))
        if keys:
            query = query.where(outbox.OUTBOX.c.routing_key.in_(keys))
        async with db.transaction() as tx:
            return int(await tx.scalar(query) or 0)

    left = await eventually(unsent, lambda n: n == 0, within=within)
    assert left == 0, f"{left} outbox rows still unsent after {within} s"


async def settled(listener: Listener, db: Database, *of: type[Event]) -> None:
    """Everything of the types `of` (any, if none given) that the service of `db`
    committed so far has reached `listener`."""
    await outbox_drained(db, *of)
    await listener.caught_up()


async def service_settled(
    settings: Settings, service: str, listener: Listener, after: Sequence[Event] = ()
) -> None:
    """Once `service` (a process of the system under test) has applied the events
    `after`, everything it committed has reached `listener`: what must not have come
    by then never will, from those events."""
    db = Database(settings, service)
    try:
        if after:
            await applied(db, after)
        await settled(listener, db)
    finally:
        await db.dispose()

"""The kit's database: statements sent straight to the driver run in the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from services.kit.database import Database, create_database_if_missing, driver
from services.kit.settings import Settings


@pytest_asyncio.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings, "kitdb")
    await create_database_if_missing(settings, database.name)
    async with database.engine.begin() as conn:
        raw = await driver(conn)
        await raw.execute("CREATE TABLE IF NOT EXISTS rows (id int PRIMARY KEY)")
        await raw.execute("TRUNCATE rows")
        await raw.execute("INSERT INTO rows VALUES (1)")
    try:
        yield database
    finally:
        await database.dispose()


async def test_a_lock_taken_through_the_driver_first_holds_until_the_transaction_ends(
    settings: Settings, db: Database
) -> None:
    other = await asyncpg.connect(f"{settings.server_url()}/{db.name}")
    try:
        async with db.transaction() as tx:
            # The first statement of the transaction: SQLAlchemy has sent no BEGIN yet.
            await (await driver(tx)).fetch("SELECT id FROM rows WHERE id = 1 FOR UPDATE")
            with pytest.raises(asyncpg.LockNotAvailableError):
                await other.fetch("SELECT id FROM rows WHERE id = 1 FOR UPDATE NOWAIT")
        assert await other.fetch("SELECT id FROM rows WHERE id = 1 FOR UPDATE NOWAIT")
    finally:
        await other.close()


async def test_a_write_through_the_driver_is_rolled_back_with_the_transaction(
    db: Database,
) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await (await driver(tx)).execute("INSERT INTO rows VALUES (2)")
            raise RuntimeError("the handler failed")
    async with db.transaction() as tx:
        assert await (await driver(tx)).fetchval("SELECT count(*) FROM rows") == 1

"""The kit's database: statements sent straight to the driver run in the transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text

from services.kit.database import Database, create_database_if_missing, driver
from services.kit.settings import Settings
from tests.support.system import free_port


@pytest_asyncio.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings, "kitdb")
    await create_database_if_missing(settings, database.name)
    async with database.transaction() as conn:
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
    other = await asyncpg.connect(settings.postgres_dsn(db.name))
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


async def test_statements_through_sqlalchemy_and_the_driver_share_the_transaction(
    db: Database,
) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute(text("INSERT INTO rows VALUES (3)"))
            raw = await driver(tx)
            assert await raw.fetchval("SELECT count(*) FROM rows WHERE id = 3") == 1
            await raw.execute("INSERT INTO rows VALUES (4)")
            raise RuntimeError("the handler failed")
    async with db.transaction() as tx:
        await tx.execute(text("INSERT INTO rows VALUES (5)"))
        await (await driver(tx)).execute("INSERT INTO rows VALUES (6)")
    async with db.reading() as conn:
        ids = await (await driver(conn)).fetch("SELECT id FROM rows ORDER BY id")
    assert [r["id"] for r in ids] == [1, 5, 6]


async def test_after_failed_transactions_every_pooled_connection_begins_afresh(
    db: Database,
) -> None:
    # More than the pool holds: a connection pooled inside a transaction would be reused.
    rounds = 2 * db.engine.pool.size() + 2  # type: ignore[attr-defined]
    for _ in range(rounds):
        with pytest.raises(asyncpg.UniqueViolationError):
            async with db.transaction() as tx:
                await (await driver(tx)).execute("INSERT INTO rows VALUES (1)")
    for n in range(rounds):
        async with db.transaction() as tx:
            await (await driver(tx)).execute("INSERT INTO rows VALUES ($1)", 100 + n)
    async with db.reading() as conn:
        count = await (await driver(conn)).fetchval("SELECT count(*) FROM rows WHERE id >= 100")
    assert count == rounds


async def test_the_driver_refuses_a_transaction_sqlalchemy_has_not_begun(db: Database) -> None:
    async with db.engine.begin() as conn:
        with pytest.raises(RuntimeError, match=r"Database\.transaction"):
            await driver(conn)


async def test_a_task_cancelled_in_its_begin_leaves_no_connection_half_begun(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled once BEGIN has run but before the task took its reply (a service's
    loops stopped at shutdown): the transactions after it on the pool's connections
    commit for real, where asyncpg would nest them in the one left open, lost with it."""
    real_execute = asyncpg.Connection.execute
    begun = asyncio.Event()

    async def execute(self: asyncpg.Connection, query: str, *args: object) -> str:
        result = await real_execute(self, query, *args)
        if query.startswith("BEGIN") and not begun.is_set():
            begun.set()
            await asyncio.sleep(3600)  # cancelled here
        return str(result)

    async def insert(n: int) -> None:
        async with db.transaction() as tx:
            await (await driver(tx)).execute("INSERT INTO rows VALUES ($1)", n)

    monkeypatch.setattr(asyncpg.Connection, "execute", execute)
    task = asyncio.create_task(insert(1000))
    await asyncio.wait_for(begun.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    rounds = 2 * db.engine.pool.size() + 2  # type: ignore[attr-defined]
    for n in range(rounds):
        await insert(2000 + n)
    async with db.reading() as conn:
        count = await (await driver(conn)).fetchval("SELECT count(*) FROM rows WHERE id >= 2000")
    assert count == rounds


async def test_pooled_connections_the_server_closed_are_replaced_without_a_failed_transaction(
    settings: Settings, db: Database
) -> None:
    """As after a PostgreSQL restart: every connection in the pool is gone."""

    async def backend() -> int:
        async with db.transaction() as tx:
            return int(await (await driver(tx)).fetchval("SELECT pg_backend_pid()"))

    async def hold_two() -> list[int]:
        return list(await asyncio.gather(backend(), backend()))

    pooled = await hold_two()
    admin = await asyncpg.connect(settings.postgres_dsn("postgres"))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1)",
            pooled,
        )
    finally:
        await admin.close()
    await asyncio.sleep(1.0)  # for the clients to read the server's goodbye
    again = await hold_two()
    assert not set(again) & set(pooled)


async def test_the_driver_of_each_transaction_is_its_own_even_nested_in_one_task(
    db: Database,
) -> None:
    """`driver` remembers the transaction the task is in: an inner transaction's
    statements must not run in the outer one, nor the outer's, once the inner ended,
    in the inner's."""
    async with db.transaction() as outer:
        outer_pid = await (await driver(outer)).fetchval("SELECT pg_backend_pid()")
        async with db.transaction() as inner:
            inner_pid = await (await driver(inner)).fetchval("SELECT pg_backend_pid()")
            assert await (await driver(outer)).fetchval("SELECT pg_backend_pid()") == outer_pid
        assert inner_pid != outer_pid
        assert await (await driver(outer)).fetchval("SELECT pg_backend_pid()") == outer_pid
    async with db.transaction() as later:
        assert (await driver(later)).is_in_transaction()


async def test_several_hosts_reach_the_one_that_answers(settings: Settings) -> None:
    """POSTGRES_URL may list a primary and its standbys: a host that refuses is passed
    over, by the pool's connections and by the ones the services open themselves."""
    hosts = settings.postgres_url.split("://", 1)[1].split("/", 1)[0]
    user, _, host = hosts.rpartition("@")
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens there
    several = settings.model_copy(update={"postgres_url": f"postgresql://{user}@{nobody},{host}"})
    database = Database(several, "kitdb")
    try:
        await create_database_if_missing(several, database.name)
        async with database.transaction() as tx:
            assert await (await driver(tx)).fetchval("SELECT NOT pg_is_in_recovery()")
        assert await database.ping()
    finally:
        await database.dispose()

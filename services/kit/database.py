"""Each service's own PostgreSQL database: created if missing, migrated on start.

Handlers work on SQLAlchemy Core connections (`Tx`): one transaction holds a
message's inbox record, its effect and the outbox rows it causes. The hottest
statements go to the asyncpg connection underneath (`driver`), in the same
transaction: asyncpg's own, on a connection SQLAlchemy leaves in autocommit.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import cast

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from services.kit.logs import get_logger
from services.kit.settings import Settings

Tx = AsyncConnection

log = get_logger(__name__)


class Database:
    def __init__(self, settings: Settings, service: str, *, pool_size: int = 10) -> None:
        self.settings = settings
        self.service = service
        self.name = settings.naming.database(service)
        dsn = settings.postgres_dsn(self.name)
        server_settings = settings.postgres_server_settings()

        async def connect() -> asyncpg.Connection:
            return await asyncpg.connect(dsn, server_settings=server_settings)

        self.engine: AsyncEngine = create_async_engine(
            # asyncpg reads POSTGRES_URL itself, as every other connection of the
            # services does: several hosts and `target_session_attrs` included
            # (SQLAlchemy's URL takes neither in libpq's form).
            "postgresql+asyncpg://",
            async_creator=connect,
            pool_size=pool_size,
            max_overflow=pool_size,
            # No ping per checkout (a round trip per transaction): a connection the
            # server dropped fails its transaction, which is retried like any failure,
            # and the pool replaces it.
            pool_pre_ping=False,
        )
        # The same pool; SQLAlchemy begins nothing on these, `transaction` does.
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A transaction that commits when the block ends and rolls back on error.

        asyncpg's, so that a first statement sent to `driver(tx)` runs in it (and its row
        locks hold) as a SQLAlchemy one does: one BEGIN, as before, sent at the start."""
        async with self._autocommit.connect() as conn:
            connection = await _asyncpg(conn)
            # Closed by the server (a restart), or left in a transaction by other code
            # (never nest): a fresh one instead.
            if connection.is_closed() or connection.is_in_transaction():
                await conn.invalidate()
                connection = await _asyncpg(conn)
            ended = False
            held = _held.set((conn, connection))
            try:
                transaction = connection.transaction()
                await transaction.start()
                try:
                    yield conn
                except BaseException:
                    await transaction.rollback()
                    ended = True
                    raise
                await transaction.commit()
                ended = True
            finally:
                _held.reset(held)
                if not ended:
                    # Not begun, or committed or rolled back in doubt (cancelled,
                    # connection lost): never back to the pool, where it would fail or
                    # nest the next.
                    await conn.invalidate()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Tx]:
        """A connection for a read of one statement sent to the driver: no BEGIN and
        COMMIT around it (less than half the CPU; docs/benchmarks.md).
        A SQLAlchemy statement still begins a transaction, rolled back at the end."""
        async with self.engine.connect() as conn:
            yield conn

    async def prepare(self, migrations: Path) -> None:
        """Create the database if missing, then apply every migration."""
        await create_database_if_missing(self.settings, self.name)
        await self.migrate(migrations)

    async def migrate(self, migrations: Path) -> None:
        # An advisory lock lets two replicas start at once: one migrates, the
        # other waits and then finds nothing to do.
        lock_key = zlib.crc32(f"migrate:{self.name}".encode())
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
            await conn.run_sync(_upgrade_to_head, migrations)
        log.info("database migrated", database=self.name)

    async def migrations_applied(self, migrations: Path) -> bool:
        """True when the database is at the newest revision (readiness)."""
        async with self.engine.connect() as conn:
            return bool(await conn.run_sync(_is_at_head, migrations))

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


# The transaction this task is in and its asyncpg connection: `driver` is asked for it
# by every statement, and SQLAlchemy's answer takes a greenlet switch each time.
_held: ContextVar[tuple[AsyncConnection, asyncpg.Connection] | None] = ContextVar(
    "database_held", default=None
)


async def driver(tx: Tx) -> asyncpg.Connection:
    """The asyncpg connection under `tx`: a statement sent to it directly skips
    SQLAlchemy's compiling and result wrapping (docs/benchmarks.md) and runs in
    the same transaction. asyncpg prepares and caches it by its text."""
    held = _held.get()
    if held is not None and held[0] is tx:
        return held[1]
    connection = await _asyncpg(tx)
    if tx.in_transaction() and not connection.is_in_transaction():
        # SQLAlchemy's `begin()` sends BEGIN only before its own first statement: a
        # statement sent here would run (and its row locks end) on its own.
        raise RuntimeError("driver(tx) needs a transaction from Database.transaction()")
    return connection


async def _asyncpg(conn: AsyncConnection) -> asyncpg.Connection:
    raw = await conn.get_raw_connection()
    return cast(asyncpg.Connection, raw.driver_connection)


class OwnConnection:
    """One asyncpg connection outside the pool, for a loop whose statements each commit
    on their own: opened on first use, dropped after any failure (the next statement
    opens another). It skips the pool's checkout and return and SQLAlchemy's wrapping,
    most of the CPU of a small UPDATE (docs/benchmarks.md)."""

    def __init__(self, db: Database, **server_settings: str) -> None:
        self._url = db.settings.postgres_dsn(db.name)
        self._server_settings = db.settings.postgres_server_settings() | server_settings
        self._connection: asyncpg.Connection | None = None

    async def execute(self, sql: str, *args: object) -> str:
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(
                self._url, server_settings=self._server_settings
            )
        try:
            return str(await self._connection.execute(sql, *args))
        except BaseException:
            self.drop()  # in doubt, or gone with a database restart
            raise

    def drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close(timeout=5)
            except Exception:
                connection.terminate()


def _alembic_config(connection: Connection, migrations: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection, migrations: Path) -> None:
    command.upgrade(_alembic_config(connection, migrations), "head")


def _is_at_head(connection: Connection, migrations: Path) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(connection, migrations))
    current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == set(script.get_heads())


async def create_database_if_missing(settings: Settings, name: str) -> None:
    conn = await asyncpg.connect(settings.postgres_dsn("postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                log.info("database created", database=name)
            except asyncpg.DuplicateDatabaseError:
                pass  # another replica created it first
    finally:
        await conn.close()


async def drop_database(settings: Settings, name: str) -> None:
    """Drop a database (tests clean up their namespace with this)."""
    conn = await asyncpg.connect(settings.postgres_dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()

"""The hot reads keep plans that read what they return, on a server as deployed.

A deployment's PostgreSQL runs autovacuum, whose ANALYZE keeps statistics current, and
a deployment's planner settings (docs/operations.md, "PostgreSQL as deployed"). Each test
fills a table well past a batch, analyzes it as autovacuum would, and reads the plan of
the statement the service runs, on a connection set up as the service's with those
planner settings: an index walk where one is meant, never a scan or a sort of the whole
backlog. (A server without autovacuum, like this machine's, plans without statistics;
`POSTGRES_PLAN_CACHE_MODE=force_custom_plan` is for it.)"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest_asyncio

from services.attendance import store as attendance_store
from services.booking import store as booking_store
from services.kit import outbox
from services.kit.database import Database, drop_database
from services.kit.settings import Settings
from services.notifications import store as notifications_store
from tests.conftest import derived
from tests.support.nodes import PRODUCTION_SETTINGS

SERVICES = Path(__file__).resolve().parents[2] / "services"


@pytest_asyncio.fixture(loop_scope="session")
async def databases(settings: Settings) -> AsyncIterator[dict[str, Database]]:
    isolated = derived(settings, f"plan{uuid.uuid4().hex[:4]}")
    dbs = {name: Database(isolated, name) for name in ("notifications", "attendance", "booking")}
    for name, db in dbs.items():
        await db.prepare(SERVICES / name / "migrations")
    try:
        yield dbs
    finally:
        for db in dbs.values():
            await db.dispose()
            await drop_database(isolated, db.name)


# The deployment's planner settings a session can set (the rest need a restart).
PLANNER = {
    name: PRODUCTION_SETTINGS[name]
    for name in ("random_page_cost", "effective_io_concurrency", "effective_cache_size", "work_mem")
}


async def _connect(db: Database) -> asyncpg.Connection:
    return await asyncpg.connect(
        db.settings.postgres_dsn(db.name),
        server_settings=db.settings.postgres_server_settings() | PLANNER,
    )


async def _book_four_each(
    connection: asyncpg.Connection, subscriptions: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Four weekly sessions for each subscription in attendance's schedule copy."""
    rows = await connection.fetch(
        """
        INSERT INTO bookings (booking_id, subscription_id, mentee_id, starts_at, ends_at)
        SELECT gen_random_uuid(), s, s, now() + n * interval '7 days',
               now() + n * interval '7 days' + interval '1 hour'
        FROM unnest($1::uuid[]) AS s, generate_series(1, 4) AS n
        RETURNING booking_id
        """,
        subscriptions,
    )
    return [row[0] for row in rows]


async def _plan(connection: asyncpg.Connection, sql: str, *args: object) -> str:
    return "\n".join(row[0] for row in await connection.fetch(f"EXPLAIN {sql}", *args))


async def test_claimed_emails_are_taken_by_primary_key(databases: dict[str, Database]) -> None:
    connection = await _connect(databases["notifications"])
    try:
        await connection.execute(
            """
            INSERT INTO emails (message_id, event_id, routing_key, event_body, recipient,
                                subject, text_body, html_body)
            SELECT '<' || n || '@plan>', gen_random_uuid(), 'mentee.warned', '{}', 'm@example.com',
                   'Subject', 'Hello', '<p>Hello</p>'
            FROM generate_series(1, 20000) AS n
            """
        )
        await connection.execute("ANALYZE emails")
        claimed = [f"<{n}@plan>" for n in range(1, 51)]
        plan = await _plan(connection, notifications_store._TAKE, claimed)
    finally:
        await connection.close()
    assert "emails_pkey" in plan, plan
    assert "emails_queued" not in plan, plan


async def test_a_claim_walks_from_the_floor_not_through_every_sent_email(
    databases: dict[str, Database],
) -> None:
    """`emails_queued` keeps the entries of sent emails until a vacuum: from the
    oldest, a claim walks them all; from the floor `Claims` keeps, only the live part."""
    connection = await _connect(databases["notifications"])
    try:
        await connection.execute(
            """
            INSERT INTO emails (message_id, event_id, routing_key, event_body, recipient,
                                subject, text_body, html_body, next_attempt_at)
            SELECT '<' || n || '@walk>', gen_random_uuid(), 'mentee.warned', '{}',
                   'm@example.com', 'Subject', 'Hello', '<p>Hello</p>',
                   now() - interval '1 hour' + n * interval '1 ms'
            FROM generate_series(1, 30100) AS n
            """
        )
        sent = [f"<{n}@walk>" for n in range(1, 30001)]
        await connection.execute(notifications_store._MARK_SENT, sent)
        floor = await connection.fetchval(
            "SELECT next_attempt_at FROM emails WHERE message_id = '<30001@walk>'"
        )
        from_oldest = await _claim_buffers(connection, notifications_store.EARLIEST)
        from_floor = await _claim_buffers(connection, floor)
    finally:
        await connection.close()
    assert from_oldest > 60, from_oldest
    assert from_floor * 5 < from_oldest, (from_floor, from_oldest)


async def _claim_buffers(connection: asyncpg.Connection, due_from: datetime) -> int:
    """The buffers one claim touches, after a first walk has marked the sent emails'
    entries dead (as the sender's claims do); its advisory locks released after."""
    explain = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {notifications_store._CLAIM}"
    args = (50, 400, [], due_from)
    await connection.fetchval(explain, *args)
    plan = json.loads(await connection.fetchval(explain, *args))[0]["Plan"]
    await connection.execute("SELECT pg_advisory_unlock_all()")
    return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])


async def test_the_relay_walks_unsent_rows_in_order_up_to_its_batch(
    databases: dict[str, Database],
) -> None:
    connection = await _connect(databases["notifications"])
    try:
        await connection.execute(
            """
            INSERT INTO outbox (event_id, routing_key, body)
            SELECT gen_random_uuid(), 'mentee.warned', '{}' FROM generate_series(1, 20000)
            """
        )
        await connection.execute("ANALYZE outbox")
        async with connection.transaction():
            await connection.execute(outbox._RELAY_SETTINGS)
            plan = await _plan(connection, outbox._TAKE, 500)
    finally:
        await connection.close()
    assert "Index Scan using outbox_unsent" in plan, plan
    assert "Sort" not in plan and "Bitmap" not in plan, plan


async def test_sessions_are_read_by_subscription_not_by_scanning_bookings(
    databases: dict[str, Database],
) -> None:
    connection = await _connect(databases["attendance"])
    try:
        subscriptions = [uuid.uuid4() for _ in range(10000)]
        await _book_four_each(connection, subscriptions)
        await connection.execute("ANALYZE bookings")
        plan = await _plan(connection, attendance_store._SESSIONS_OF_RECORDS, subscriptions[:100])
    finally:
        await connection.close()
    assert "attendance_bookings_by_subscription" in plan, plan
    assert "Seq Scan on bookings" not in plan, plan


async def test_joins_lock_and_decisions_write_by_primary_key(
    databases: dict[str, Database],
) -> None:
    connection = await _connect(databases["attendance"])
    try:
        subscriptions = [uuid.uuid4() for _ in range(10000)]
        await connection.execute(
            """
            INSERT INTO subscriptions (subscription_id, mentee_id, mentee_name, mentee_email,
                                       mentor_id, slot_timezone, cycle_starts_at,
                                       cycle_ends_at)
            SELECT s, s, 'Mentee', 'm@example.com', s, 'UTC', now(), now() + interval '28 days'
            FROM unnest($1::uuid[]) AS s
            """,
            subscriptions,
        )
        joined = (await _book_four_each(connection, subscriptions))[:128]
        await connection.execute("ANALYZE subscriptions, bookings")
        lock = await _plan(connection, attendance_store._LOCK_RECORDS_OF_BOOKINGS, joined)
        now = datetime.now(UTC)
        states = [subscriptions[:64], *([[None] * 64] * 10)]
        marks = [joined, [False] * 128, ["attended"] * 128, ["system"] * 128, [now] * 128]
        marks += [[None] * 128, [1] * 128, [None] * 128]
        history = [[subscriptions[0]], ["mark"], [now], ["system"], *([[None]] * 5)]
        save = await _plan(connection, attendance_store._SAVE_CHANGES, *states, *marks, *history)
    finally:
        await connection.close()
    assert "subscriptions_pkey" in lock and "Seq Scan" not in lock, lock
    assert "bookings_pkey" in save and "subscriptions_pkey" in save, save
    assert "Seq Scan" not in save, save


async def test_reprobations_cancel_by_subscription_without_a_scan(
    databases: dict[str, Database],
) -> None:
    connection = await _connect(databases["booking"])
    try:
        subscriptions = [uuid.uuid4() for _ in range(10000)]
        await connection.execute(
            """
            INSERT INTO subscriptions (subscription_id, mentee_id, mentor_id, slot,
                                       cycle_starts_at, cycle_ends_at, status)
            SELECT s, s, s, '{}', now(), now() + interval '28 days', 'active'
            FROM unnest($1::uuid[]) AS s
            """,
            subscriptions,
        )
        await connection.execute(
            """
            INSERT INTO bookings (booking_id, subscription_id, starts_at, ends_at)
            SELECT gen_random_uuid(), s, now() + n * interval '7 days',
                   now() + n * interval '7 days' + interval '1 hour'
            FROM unnest($1::uuid[]) AS s, generate_series(-1, 2) AS n
            """,
            subscriptions,
        )
        await connection.execute("ANALYZE subscriptions, bookings")
        sql = _positional(str(booking_store._CANCEL_BOOKINGS), "subscription_id", "after", "reason")
        reprobated = subscriptions[:50]
        plan = await _plan(connection, sql, reprobated, [datetime.now(UTC)] * 50, ["x"] * 50)
    finally:
        await connection.close()
    assert "bookings_scheduled_by_subscription" in plan, plan
    assert "bookings_upcoming" not in plan and "Seq Scan" not in plan, plan


def _positional(sql: str, *names: str) -> str:
    """A text() statement with its named parameters as asyncpg's positional ones."""
    for n, name in enumerate(names, start=1):
        sql = sql.replace(f":{name}", f"${n}")
    return sql

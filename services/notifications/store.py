"""Notifications' tables: contacts, every email with its delivery state, and events
waiting for their subscription's contacts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    false,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PGUUID

from contracts import Slot, SubscriptionActivated, message_type_for
from services.kit.database import OwnConnection, Tx, driver
from services.kit.tables import mentor_zone_columns, subscription_table
from services.notifications.domain import (
    LIFECYCLE_EVENTS,
    Contacts,
    Email,
    FeedSession,
    LifecycleEvent,
    Session,
)

metadata = MetaData()

contacts = subscription_table(
    "contacts",
    metadata,
    Column("mentee_name", String(255), nullable=False),
    Column("mentee_email", String(320), nullable=False),
    Column("mentor_name", String(255), nullable=False),
    Column("mentor_email", String(320), nullable=False),
    Column("slot", JSONB, nullable=False),
    Column("cycle_ends_at", DateTime(timezone=True), nullable=False),
    # Whose feeds its sessions are in (null for contacts saved before feeds).
    Column("mentee_id", PGUUID(as_uuid=True), index=False),
    Column("mentor_id", PGUUID(as_uuid=True), index=False),
    Index("contacts_of_mentee", "mentee_id"),
    Index("contacts_of_mentor", "mentor_id"),
    *mentor_zone_columns("contacts"),
)

# Every booked session, for the calendar feeds: booked from bookings.scheduled,
# cancelled by bookings.cancelled and booking.cancelled, in whichever order they come
# (a cancellation heard of first leaves a row without times, filled in by the booking).
sessions = Table(
    "sessions",
    metadata,
    Column("booking_id", PGUUID(as_uuid=True), primary_key=True),
    Column("subscription_id", PGUUID(as_uuid=True), nullable=False),
    Column("starts_at", DateTime(timezone=True)),
    Column("ends_at", DateTime(timezone=True)),
    Column("cancelled", Boolean, nullable=False, server_default=false()),
    Index("sessions_of_subscription", "subscription_id", "ends_at"),
)

# A person's private feed: the random token in its URL opens it, without a cookie.
calendar_feeds = Table(
    "calendar_feeds",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("person_id", PGUUID(as_uuid=True), nullable=False),
    Column("role", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("person_id", "role", name="calendar_feeds_one_per_person"),
)

emails = Table(
    "emails",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("event_id", PGUUID(as_uuid=True), nullable=False),
    Column("routing_key", String(100), nullable=False),
    Column("event_body", JSONB, nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("cc", String(320)),
    Column("subject", Text, nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=False),
    # The iCalendar part attached (booking emails only).
    Column("calendar", Text),
    # queued | sent | failed
    Column("status", String(10), nullable=False, server_default="queued"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    # When the sender may try it (next): its creation at first, later its retry's time.
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    Index("emails_queued", "next_attempt_at", postgresql_where=text("status = 'queued'")),
)

# The sessions an email invited to a calendar, and those cancelled: a cancellation
# withdraws what was invited, and keeps a reminder that arrives after it from inviting.
invitations = Table(
    "invitations",
    metadata,
    Column("booking_id", PGUUID(as_uuid=True), primary_key=True),
    Column("subscription_id", PGUUID(as_uuid=True), nullable=False),
    # invited | cancelled
    Column("status", String(10), nullable=False),
    Column("starts_at", DateTime(timezone=True)),
    Column("ends_at", DateTime(timezone=True)),
)

waiting_events = Table(
    "waiting_events",
    metadata,
    Column("event_id", PGUUID(as_uuid=True), primary_key=True),
    Column("subscription_id", PGUUID(as_uuid=True), nullable=False, index=True),
    Column("routing_key", String(100), nullable=False),
    Column("body", JSONB, nullable=False),
)


async def lock_subscription(tx: Tx, subscription_id: UUID) -> None:
    """Serialize what happens to one subscription's contacts and waiting events.

    An advisory lock, because the contacts row may not exist yet: without it a
    warning handled while the activation commits could wait forever.
    """
    await tx.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"notifications:{subscription_id}"},
    )


_LOCK_MANY = """
    SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) FROM unnest($1::text[]) AS key
"""


async def lock_subscriptions(tx: Tx, subscription_ids: Iterable[UUID]) -> None:
    """`lock_subscription` for many, in one statement, in the order the kit sorts a
    batch's messages (ids as strings), so that batches lock in one order."""
    keys = [f"notifications:{s}" for s in sorted({str(s) for s in subscription_ids})]
    if keys:
        await (await driver(tx)).execute(_LOCK_MANY, keys)


async def save_contacts(tx: Tx, msg: SubscriptionActivated) -> Contacts:
    """Store the activation's contacts (kept as they are when already known)."""
    await tx.execute(
        insert(contacts)
        .values(
            subscription_id=msg.subscription_id,
            mentee_name=msg.mentee.name,
            mentee_email=str(msg.mentee.email),
            mentor_name=msg.mentor.name,
            mentor_email=str(msg.mentor.email),
            slot=msg.slot.model_dump(mode="json"),
            cycle_ends_at=msg.cycle_ends_at,
            mentee_id=msg.mentee.id,
            mentor_id=msg.mentor.id,
            mentor_timezone=msg.mentor.timezone,
            activated_at=msg.occurred_at,
        )
        .on_conflict_do_nothing()
    )
    saved = await contacts_of(tx, msg.subscription_id)
    assert saved is not None
    return saved


_SAVE_CONTACTS = text(
    """
    INSERT INTO contacts (subscription_id, mentee_name, mentee_email, mentor_name,
                          mentor_email, slot, cycle_ends_at, mentee_id, mentor_id,
                          mentor_timezone, activated_at)
    SELECT subscription_id, mentee_name, mentee_email, mentor_name, mentor_email,
           slot::jsonb, cycle_ends_at, mentee_id, mentor_id, mentor_timezone, activated_at
    FROM unnest(CAST(:subscription_id AS uuid[]), CAST(:mentee_name AS text[]),
                CAST(:mentee_email AS text[]), CAST(:mentor_name AS text[]),
                CAST(:mentor_email AS text[]), CAST(:slot AS text[]),
                CAST(:cycle_ends_at AS timestamptz[]), CAST(:mentee_id AS uuid[]),
                CAST(:mentor_id AS uuid[]), CAST(:mentor_timezone AS text[]),
                CAST(:activated_at AS timestamptz[]))
        AS c(subscription_id, mentee_name, mentee_email, mentor_name, mentor_email, slot,
             cycle_ends_at, mentee_id, mentor_id, mentor_timezone, activated_at)
    ON CONFLICT DO NOTHING
    """
)


async def save_contacts_many(tx: Tx, msgs: Sequence[SubscriptionActivated]) -> None:
    """`save_contacts` for many activations, in one statement (the first of an id wins,
    as one by one)."""
    if msgs:
        await tx.execute(
            _SAVE_CONTACTS,
            {
                "subscription_id": [m.subscription_id for m in msgs],
                "mentee_name": [m.mentee.name for m in msgs],
                "mentee_email": [str(m.mentee.email) for m in msgs],
                "mentor_name": [m.mentor.name for m in msgs],
                "mentor_email": [str(m.mentor.email) for m in msgs],
                "slot": [m.slot.model_dump_json() for m in msgs],
                "cycle_ends_at": [m.cycle_ends_at for m in msgs],
                "mentee_id": [m.mentee.id for m in msgs],
                "mentor_id": [m.mentor.id for m in msgs],
                "mentor_timezone": [m.mentor.timezone for m in msgs],
                "activated_at": [m.occurred_at for m in msgs],
            },
        )


async def extend_cycle(tx: Tx, subscription_id: UUID, cycle_ends_at: datetime) -> bool:
    result = await tx.execute(
        update(contacts)
        .where(
            contacts.c.subscription_id == subscription_id, contacts.c.cycle_ends_at < cycle_ends_at
        )
        .values(cycle_ends_at=cycle_ends_at)
        .returning(contacts.c.subscription_id)
    )
    return result.first() is not None


async def contacts_of(tx: Tx, subscription_id: UUID) -> Contacts | None:
    return (await contacts_of_many(tx, [subscription_id])).get(subscription_id)


# The mentor's zone is that of their latest activation that gave one, as attendance
# shows it on their pages: an index lookup (contacts_mentor_zone).
_CONTACTS_OF = """
    SELECT subscription_id, mentee_name, mentee_email, mentor_name, mentor_email,
           slot::text AS slot, cycle_ends_at,
           (SELECT latest.mentor_timezone FROM contacts AS latest
            WHERE latest.mentor_id = contacts.mentor_id AND latest.mentor_timezone IS NOT NULL
            ORDER BY latest.activated_at DESC NULLS LAST, latest.subscription_id
            LIMIT 1) AS mentor_timezone
    FROM contacts WHERE subscription_id = ANY($1::uuid[])
    ORDER BY subscription_id
    FOR UPDATE OF contacts
"""


async def contacts_of_many(tx: Tx, subscription_ids: Iterable[UUID]) -> dict[UUID, Contacts]:
    """The known contacts of these subscriptions, row-locked (as `extend_cycle` writes
    them), in one statement."""
    ids = sorted(set(subscription_ids))
    if not ids:
        return {}
    rows = await (await driver(tx)).fetch(_CONTACTS_OF, ids)
    return {
        row["subscription_id"]: Contacts(
            mentee_name=row["mentee_name"],
            mentee_email=row["mentee_email"],
            mentor_name=row["mentor_name"],
            mentor_email=row["mentor_email"],
            slot=Slot.model_validate_json(row["slot"]),
            cycle_ends_at=row["cycle_ends_at"],
            mentor_timezone=row["mentor_timezone"],
        )
        for row in rows
    }


# One array per column (one statement asyncpg prepares once); JSONB travels as text,
# cast per row. The sender's wake-up rides in the same statement.
_EMAIL_COLUMNS = (
    "message_id",
    "event_id",
    "routing_key",
    "event_body",
    "recipient",
    "cc",
    "subject",
    "text_body",
    "html_body",
    "calendar",
)
_INSERT_EMAILS = """
    WITH added AS (
        INSERT INTO emails (message_id, event_id, routing_key, event_body, recipient, cc,
                            subject, text_body, html_body, calendar)
        SELECT message_id, event_id, routing_key, event_body::jsonb, recipient, cc,
               subject, text_body, html_body, calendar
        FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                    $7::text[], $8::text[], $9::text[], $10::text[])
            AS e(message_id, event_id, routing_key, event_body, recipient, cc, subject,
                 text_body, html_body, calendar)
        ON CONFLICT DO NOTHING
        RETURNING message_id
    )
    SELECT array(SELECT message_id FROM added) AS queued, pg_notify('emails', '')
"""


async def queue_emails(tx: Tx, queued: Sequence[Email]) -> int:
    """Queue emails; one already recorded for the same (event, recipient) is skipped."""
    return len(await insert_emails(tx, queued))


async def insert_emails(tx: Tx, queued: Sequence[Email]) -> set[str]:
    """Queue emails in one statement (one wake-up for the sender); one already recorded
    for the same (event, recipient) is skipped. Returns the Message-IDs queued now."""
    if not queued:
        return set()
    columns = [
        [json.dumps(e.event_body) for e in queued]
        if name == "event_body"
        else [getattr(e, name) for e in queued]
        for name in _EMAIL_COLUMNS
    ]
    return set(await (await driver(tx)).fetchval(_INSERT_EMAILS, *columns))


async def wait_for_contacts(tx: Tx, event: LifecycleEvent) -> None:
    """Keep an event whose subscription's contacts have not arrived yet."""
    await wait_for_contacts_many(tx, [event])


_INSERT_WAITING = text(
    """
    INSERT INTO waiting_events (event_id, subscription_id, routing_key, body)
    SELECT event_id, subscription_id, routing_key, CAST(body AS jsonb)
    FROM unnest(CAST(:event_id AS uuid[]), CAST(:subscription_id AS uuid[]),
                CAST(:routing_key AS text[]), CAST(:body AS text[]))
        AS w(event_id, subscription_id, routing_key, body)
    ON CONFLICT DO NOTHING
    """
)


async def wait_for_contacts_many(tx: Tx, events: Sequence[LifecycleEvent]) -> None:
    """Keep events whose subscriptions' contacts have not arrived yet, in one statement."""
    if events:
        await tx.execute(
            _INSERT_WAITING,
            {
                "event_id": [e.event_id for e in events],
                "subscription_id": [e.subscription_id for e in events],
                "routing_key": [e.routing_key for e in events],
                "body": [e.model_dump_json() for e in events],
            },
        )


async def take_waiting(tx: Tx, subscription_id: UUID) -> list[LifecycleEvent]:
    """The events that waited for this subscription's contacts, removed from the wait."""
    result = await tx.execute(
        delete(waiting_events)
        .where(waiting_events.c.subscription_id == subscription_id)
        .returning(waiting_events.c.routing_key, waiting_events.c.body)
    )
    events = [message_type_for(row.routing_key).model_validate(row.body) for row in result]
    return [e for e in events if isinstance(e, LIFECYCLE_EVENTS)]


async def take_waiting_many(
    tx: Tx, subscription_ids: Iterable[UUID]
) -> dict[UUID, list[LifecycleEvent]]:
    """`take_waiting` for many subscriptions, in one statement."""
    result = await tx.execute(
        delete(waiting_events)
        .where(waiting_events.c.subscription_id.in_(set(subscription_ids)))
        .returning(
            waiting_events.c.subscription_id, waiting_events.c.routing_key, waiting_events.c.body
        )
    )
    taken: dict[UUID, list[LifecycleEvent]] = {}
    for row in result:
        event = message_type_for(row.routing_key).model_validate(row.body)
        if isinstance(event, LIFECYCLE_EVENTS):
            taken.setdefault(row.subscription_id, []).append(event)
    return taken


# --- calendar invitations ------------------------------------------------------------


async def cancelled_invitations(tx: Tx, booking_ids: Iterable[UUID]) -> set[UUID]:
    """Which of these bookings are known to be cancelled (no invitation for them)."""
    ids = list(set(booking_ids))
    if not ids:
        return set()
    rows = await (await driver(tx)).fetch(
        "SELECT booking_id FROM invitations WHERE booking_id = ANY($1::uuid[])"
        " AND status = 'cancelled'",
        ids,
    )
    return {row["booking_id"] for row in rows}


async def record_invited(tx: Tx, invited: Sequence[tuple[UUID, Session]]) -> None:
    """The sessions (of these subscriptions) an email invites to a calendar, in one
    statement; a cancelled one stays cancelled."""
    if invited:
        await (await driver(tx)).execute(
            """
            INSERT INTO invitations (booking_id, subscription_id, status, starts_at, ends_at)
            SELECT b, s, 'invited', st, en
            FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[])
                AS i(b, s, st, en)
            ON CONFLICT (booking_id) DO NOTHING
            """,
            [session.booking_id for _, session in invited],
            [subscription_id for subscription_id, _ in invited],
            [session.starts_at for _, session in invited],
            [session.ends_at for _, session in invited],
        )


async def withdraw_invitations(
    tx: Tx, cancelled: Sequence[tuple[UUID, UUID]]
) -> dict[UUID, Session]:
    """Record these (subscription, booking) as cancelled, in two statements; returns, by
    booking id, the sessions that had been invited: their calendar entries are to be
    withdrawn."""
    if not cancelled:
        return {}
    db = await driver(tx)
    rows = await db.fetch(
        """
        UPDATE invitations SET status = 'cancelled'
        WHERE booking_id = ANY($1::uuid[]) AND status = 'invited'
        RETURNING booking_id, starts_at, ends_at
        """,
        [booking_id for _, booking_id in cancelled],
    )
    await db.execute(
        """
        INSERT INTO invitations (booking_id, subscription_id, status)
        SELECT b, s, 'cancelled' FROM unnest($1::uuid[], $2::uuid[]) AS c(s, b)
        ON CONFLICT (booking_id) DO NOTHING
        """,
        [subscription_id for subscription_id, _ in cancelled],
        [booking_id for _, booking_id in cancelled],
    )
    return {r["booking_id"]: Session(r["booking_id"], r["starts_at"], r["ends_at"]) for r in rows}


# The lock is taken outside the ordered window (a subquery with LIMIT is not
# flattened), so that only the emails returned are claimed, not every due one.
# From `$4` on: the index keeps the entries of sent emails until a vacuum, and a walk
# from its oldest entry went through all of them (1,069 pages, 2.5 ms per claim, with
# 390,000 sent; quadratic over a burst). `Claims` says where the live part starts.
# An email's claim is a session advisory lock on this prefix and its message id.
CLAIM_KEY_PREFIX = "notifications-email:"
_CLAIM = f"""
    SELECT message_id, next_attempt_at FROM (
        SELECT message_id, next_attempt_at FROM emails
        WHERE status = 'queued' AND next_attempt_at <= now() AND next_attempt_at >= $4
          AND NOT message_id = ANY($3::text[])
        ORDER BY next_attempt_at
        LIMIT $2
    ) AS due
    WHERE pg_try_advisory_lock(hashtextextended('{CLAIM_KEY_PREFIX}' || message_id, 0))
    LIMIT $1
"""
# By primary key, then filtered, in the claim's order (the caller sorts): asked for
# the due ones in order, PostgreSQL walked the whole backlog of queued emails in
# `emails_queued` to find the 50 claimed (10,000 rows read per take in the sweep,
# 7.6 ms each).
_TAKE = """
    WITH claimed AS MATERIALIZED (
        SELECT message_id, event_id, routing_key, event_body::text AS event_body, recipient,
               cc, subject, text_body, html_body, calendar, attempts, status, next_attempt_at
        FROM emails WHERE message_id = ANY($1::text[])
    )
    SELECT message_id, event_id, routing_key, event_body, recipient, cc, subject, text_body,
           html_body, calendar, attempts
    FROM claimed WHERE status = 'queued' AND next_attempt_at <= now()
"""
_RELEASE = f"""
    SELECT pg_advisory_unlock(hashtextextended('{CLAIM_KEY_PREFIX}' || id, 0))
    FROM unnest($1::text[]) AS id
"""


# `due_from` for a walk from the oldest queued email.
EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ClaimedEmails:
    emails: list[Email]
    oldest_due: datetime | None  # the earliest next attempt among them


async def claim_due_emails(
    holder: asyncpg.Connection,
    limit: int,
    *,
    held: Sequence[str] = (),
    releasing: Sequence[str] = (),
    due_from: datetime | None = None,
) -> ClaimedEmails:
    """Queued emails whose time has come, each claimed by a session advisory lock on
    `holder`, so that replicas (and the sending workers of one) share the work. Each
    email's outcome is then recorded as soon as it is known, while the claim holds; a
    crash drops the connection and with it the claims, so the emails are due again at
    once.

    `holder` is a connection of the claims' own, outside the pool: its statements
    commit one by one. `held` are the emails it holds and has not finished with (a
    session lock is taken again by its own session, so they are skipped);
    `releasing`, those whose outcome is recorded: their claims are released first;
    `due_from`, where the walk starts (None: from the oldest queued email)."""
    if releasing:
        await holder.execute(_RELEASE, list(releasing))
    start = due_from if due_from is not None else EARLIEST
    locked = await holder.fetch(_CLAIM, limit, limit * 8, list(held), start)
    if not locked:
        return ClaimedEmails([], None)
    # Read again after locking: another replica may have sent one between the claim's
    # snapshot and its lock.
    claimed = [r["message_id"] for r in locked]
    taken = {row["message_id"]: row for row in await holder.fetch(_TAKE, claimed)}
    in_claim_order = [taken[message_id] for message_id in claimed if message_id in taken]
    emails = [
        Email(
            **{f.name: row[f.name] for f in fields(Email)}
            | {"event_body": json.loads(row["event_body"])}
        )
        for row in in_claim_order
    ]
    return ClaimedEmails(emails, min(r["next_attempt_at"] for r in locked))


async def release_claims(holder: asyncpg.Connection) -> None:
    await holder.execute("SELECT pg_advisory_unlock_all()")


_MARK_SENT = """
    UPDATE emails
    SET status = 'sent', sent_at = now(), attempts = attempts + 1, last_error = NULL
    WHERE message_id = ANY($1::text[])
"""


async def mark_all_sent(connection: OwnConnection, message_ids: Sequence[str]) -> None:
    """Record emails the server accepted, in one statement that commits on its own."""
    if message_ids:
        await connection.execute(_MARK_SENT, list(message_ids))


async def mark_retry(tx: Tx, message_id: str, error: str, delay_seconds: float) -> None:
    await tx.execute(
        update(emails)
        .where(emails.c.message_id == message_id)
        .values(
            attempts=emails.c.attempts + 1,
            last_error=error[:2000],
            next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, delay_seconds),
        )
    )


async def mark_failed(tx: Tx, message_id: str, error: str) -> None:
    await tx.execute(
        update(emails)
        .where(emails.c.message_id == message_id)
        .values(status="failed", attempts=emails.c.attempts + 1, last_error=error[:2000])
    )


# --- calendar feeds ----------------------------------------------------------------

_BOOK_SESSIONS = """
    INSERT INTO sessions (booking_id, subscription_id, starts_at, ends_at)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[])
    ON CONFLICT (booking_id) DO UPDATE
    SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at
    WHERE sessions.starts_at IS NULL
"""


async def book_sessions(tx: Tx, booked: Sequence[tuple[UUID, Session]]) -> None:
    """Keep booked sessions (each with its subscription); a repeat changes nothing, and a
    session cancelled before it was heard of as booked stays cancelled."""
    # In booking id order, as `cancel_sessions` writes: two batches never wait on each
    # other's rows in opposite orders.
    booked = sorted(booked, key=lambda pair: pair[1].booking_id)
    if booked:
        await (await driver(tx)).execute(
            _BOOK_SESSIONS,
            [s.booking_id for _, s in booked],
            [subscription_id for subscription_id, _ in booked],
            [s.starts_at for _, s in booked],
            [s.ends_at for _, s in booked],
        )


async def booked_sessions(tx: Tx, booking_ids: Iterable[UUID]) -> dict[UUID, Session]:
    """The sessions among these bookings heard of as booked (with their times), cancelled
    or not, by booking id."""
    ids = sorted(set(booking_ids))
    if not ids:
        return {}
    rows = await (await driver(tx)).fetch(
        "SELECT booking_id, starts_at, ends_at FROM sessions"
        " WHERE booking_id = ANY($1::uuid[]) AND starts_at IS NOT NULL",
        ids,
    )
    return {r["booking_id"]: Session(r["booking_id"], r["starts_at"], r["ends_at"]) for r in rows}


_CANCEL_SESSIONS = """
    INSERT INTO sessions (booking_id, subscription_id, cancelled)
    SELECT booking_id, subscription_id, true
    FROM unnest($1::uuid[], $2::uuid[]) AS c(booking_id, subscription_id)
    ON CONFLICT (booking_id) DO UPDATE SET cancelled = true WHERE NOT sessions.cancelled
"""


async def cancel_sessions(tx: Tx, cancelled: Iterable[tuple[UUID, UUID]]) -> None:
    """The sessions (subscription id, booking id) leave every feed, for good; one not
    heard of as booked yet is kept as cancelled, for its booking to find."""
    pairs = sorted(set(cancelled), key=lambda pair: pair[1])
    if pairs:
        await (await driver(tx)).execute(
            _CANCEL_SESSIONS, [b for _, b in pairs], [s for s, _ in pairs]
        )


_OPEN_FEEDS = """
    INSERT INTO calendar_feeds (token, person_id, role)
    SELECT token, person_id, $3 FROM unnest($1::text[], $2::uuid[]) AS f(token, person_id)
    ON CONFLICT DO NOTHING
"""
_FEED_TOKENS = """
    SELECT person_id, token FROM calendar_feeds WHERE role = $2 AND person_id = ANY($1::uuid[])
"""


async def feed_tokens(
    tx: Tx, person_ids: Iterable[UUID], role: str, new_token: Callable[[], str]
) -> dict[UUID, str]:
    """Each person's feed token, a `new_token()` for those who had none, in two statements
    whatever their number."""
    people = sorted(set(person_ids))
    if not people:
        return {}
    db = await driver(tx)
    await db.execute(_OPEN_FEEDS, [new_token() for _ in people], people, role)
    return {r["person_id"]: r["token"] for r in await db.fetch(_FEED_TOKENS, people, role)}


async def replace_feed_token(tx: Tx, person_id: UUID, role: str, new_token: str) -> str:
    """Give the person's feed `new_token`: the old one opens nothing any more."""
    await tx.execute(
        delete(calendar_feeds).where(
            calendar_feeds.c.person_id == person_id, calendar_feeds.c.role == role
        )
    )
    await tx.execute(insert(calendar_feeds).values(token=new_token, person_id=person_id, role=role))
    return new_token


@dataclass(frozen=True)
class FeedReader:
    person_id: UUID
    role: str


async def feed_holder(tx: Tx, token: str) -> FeedReader | None:
    row = (
        await tx.execute(
            select(calendar_feeds.c.person_id, calendar_feeds.c.role).where(
                calendar_feeds.c.token == token
            )
        )
    ).first()
    return None if row is None else FeedReader(row.person_id, row.role)


async def upcoming_sessions(tx: Tx, holder: FeedReader, now: datetime) -> list[FeedSession]:
    """The holder's sessions not yet over and not cancelled, by start."""
    whose = contacts.c.mentee_id if holder.role == "mentee" else contacts.c.mentor_id
    rows = await tx.execute(
        select(
            sessions.c.booking_id,
            sessions.c.starts_at,
            sessions.c.ends_at,
            *(contacts.c[f.name] for f in fields(Contacts)),
        )
        .join(contacts, contacts.c.subscription_id == sessions.c.subscription_id)
        .where(
            whose == holder.person_id,
            sessions.c.ends_at > now,  # no times yet (NULL): not booked, not shown
            sessions.c.cancelled.is_(False),
        )
        .order_by(sessions.c.starts_at, sessions.c.booking_id)
    )
    return [
        FeedSession(
            Session(r.booking_id, r.starts_at, r.ends_at),
            Contacts(
                **{
                    **{f.name: getattr(r, f.name) for f in fields(Contacts)},
                    "slot": Slot.model_validate(r.slot),
                }
            ),
        )
        for r in rows
    ]

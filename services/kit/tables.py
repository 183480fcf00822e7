"""The outbox and inbox tables that every service's database has, the table every service
keeps of the subscriptions it has heard of, and the mentor's zone that attendance and
notifications both keep with each subscription."""

from __future__ import annotations

from datetime import datetime

from alembic import op
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.schema import SchemaItem


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("routing_key", String(200), nullable=False),
        Column("body", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
        # A row that failed to publish (e.g. unroutable: its consumer never
        # started) waits until then, so it does not hold up the rows behind it.
        Column("next_attempt_at", DateTime(timezone=True)),
        Index("outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(300), nullable=False),
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )


def subscription_table(name: str, metadata: MetaData, *columns: SchemaItem) -> Table:
    """A service's own record of each subscription it has heard of (attendance's and
    booking's subscriptions, notifications' contacts): one row per subscription, keyed by
    the subscription's id."""
    return Table(
        name,
        metadata,
        Column("subscription_id", UUID(as_uuid=True), primary_key=True),
        *columns,
    )


def mentor_zone_columns(table: str) -> tuple[Column[str], Column[datetime], Index]:
    """The mentor's own IANA zone as an activation gave it (null: not given), and when it was
    activated: the mentor reads times in the zone of their latest that has one, an index
    lookup."""
    return (
        Column("mentor_timezone", String(64)),
        Column("activated_at", DateTime(timezone=True)),
        Index(
            f"{table}_mentor_zone",
            "mentor_id",
            text("activated_at DESC NULLS LAST"),
            postgresql_where=text("mentor_timezone IS NOT NULL"),
        ),
    )


def create_outbox_and_inbox() -> None:
    """For a service's first migration."""
    metadata = MetaData()
    for table in (outbox_table(metadata), inbox_table(metadata)):
        table.create(op.get_bind())


def drop_outbox_and_inbox() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
